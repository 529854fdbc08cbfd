"""Training loop for both GAN architectures (``python -m playground train gan``).

One file a reader can hold in their head: build nets, loop, log, save, resume.

* ``su2017`` reproduces the write-up exactly: WGAN critic with a one-sided gradient
  penalty (weight 10), 5 critic steps per generator step, Adam(1e-4, beta1 0.5), batch 100,
  the write-up's sign convention (the critic scores real images low).
* ``dcgan`` uses the non-saturating logistic loss with an R1 penalty on real images and
  one critic step per generator step, plus an EMA of the generator weights (see its model card).

State (nets, optimisers, EMA, data position, RNG, step, elapsed time) is saved atomically
to ``<out>/state.pt`` every ``--save-minutes``; running the same command again resumes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torchvision.utils import save_image
from tqdm.auto import tqdm

from ..data import as_tensor, load_fashion_mnist
from ..device import manager
from ..training import BatchStream, LossLog, atomic_torch_save, autocast, check_resumable, load_state
from .card import write_card
from .models import ARCHITECTURES


@dataclass
class TrainConfig:
    arch: str = "dcgan"
    steps: int = 20_000  # generator steps
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    critic_steps: int = 1  # critic steps per generator step
    penalty: float = 1.0  # gradient-penalty weight (su2017: one-sided GP; dcgan: R1 gamma)
    ema_decay: float = 0.999  # 0 disables the EMA generator
    bf16: bool = True  # bfloat16 autocast for the forward passes (CPU and CUDA)
    seed: int = 0
    model_kwargs: dict = field(default_factory=dict)

    @classmethod
    def for_arch(cls, arch: str, **overrides) -> "TrainConfig":
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown GAN architecture {arch!r}; choose from {sorted(ARCHITECTURES)}")
        base = {
            "su2017": dict(arch="su2017", steps=60_000, batch_size=100, lr=1e-4, beta1=0.5, beta2=0.999,
                           critic_steps=5, penalty=10.0, ema_decay=0.0, bf16=False),
            "dcgan": dict(arch="dcgan"),
        }[arch]
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)


def critic_loss_su2017(critic, real, fake, penalty):
    """The write-up's critic loss: mean D(real) - mean D(fake) + w * mean relu(|grad| - 1)."""
    eps = torch.rand(real.size(0), 1, 1, 1, device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    gp = F.relu(grad.flatten(1).norm(dim=1) - 1).mean()
    wass = critic(real).mean() - critic(fake).mean()
    return wass + penalty * gp, {"d_loss": wass.item(), "penalty": gp.item()}


def generator_loss_su2017(critic, fake):
    return critic(fake).mean()


def critic_loss_r1(critic, real, fake, gamma, amp):
    """Non-saturating logistic loss for the critic, plus R1 = gamma/2 E|grad D(real)|^2."""
    real = real.detach().requires_grad_(True)
    with amp:
        d_real, d_fake = critic(real), critic(fake)
    loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    (grad,) = torch.autograd.grad(d_real.float().sum(), real, create_graph=True)
    r1 = grad.flatten(1).pow(2).sum(dim=1).mean()
    return loss + 0.5 * gamma * r1, {"d_loss": loss.item(), "penalty": r1.item()}


def generator_loss_ns(critic, fake, amp):
    with amp:
        return F.softplus(-critic(fake)).mean()


def train(
    config: TrainConfig,
    out_dir: str | os.PathLike,
    export_dir: str | os.PathLike | None = None,
    data_dir: str | None = None,
    max_minutes: float | None = None,
    save_minutes: float = 3.0,
    sample_every: int = 1000,
    log_every: int = 50,
    progress: bool = True,
    command: str | None = None,
) -> dict:
    """Train (or resume) a GAN; return a summary. Exports the generator when ``steps`` is reached."""
    out = Path(out_dir)
    (out / "samples").mkdir(parents=True, exist_ok=True)
    device = manager.device
    torch.manual_seed(config.seed)

    gen_cls, critic_cls = ARCHITECTURES[config.arch]
    G = gen_cls(**config.model_kwargs).to(device)
    D = critic_cls().to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    ema = None
    if config.ema_decay > 0:
        ema = AveragedModel(G, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)

    images, _ = load_fashion_mnist("train", root=data_dir)
    stream = BatchStream(as_tensor(images), config.batch_size, config.seed)
    fixed_z = G.sample_latent(36, torch.Generator().manual_seed(1234)).to(device)
    amp = autocast(config.bf16, device)

    step, elapsed, cpu_elapsed = 0, 0.0, 0.0
    state_path = out / "state.pt"
    state = load_state(state_path, device)
    if state is not None:
        check_resumable(state, asdict(config), state_path)
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        stream.load_state_dict(state["stream"])
        torch.set_rng_state(state["rng"].cpu())
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        step, elapsed, cpu_elapsed = state["step"], state["elapsed"], state["cpu_elapsed"]
        print(f"resumed {config.arch} from step {step} ({elapsed / 60:.1f} min trained)", file=sys.stderr)
    (out / "config.json").write_text(json.dumps(asdict(config), indent=2))

    def save_state():
        atomic_torch_save(
            {
                "config": asdict(config), "step": step, "elapsed": elapsed, "cpu_elapsed": cpu_elapsed,
                "G": G.state_dict(), "D": D.state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                "ema": ema.state_dict() if ema is not None else None,
                "stream": stream.state_dict(), "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
            },
            state_path,
        )

    def sample_net():
        return ema.module if ema is not None else G

    def save_samples():
        net = sample_net()
        net.eval()
        with torch.inference_mode():
            save_image(net(fixed_z).float(), out / "samples" / f"step_{step:07d}.png", nrow=6, padding=2, pad_value=1.0)
        G.train()

    log = LossLog(out / "loss.csv", ["step", "d_loss", "g_loss", "penalty", "minutes"], step)

    t0, c0, last_save = time.time(), time.process_time(), time.time()
    start_elapsed, start_cpu = elapsed, cpu_elapsed
    bar = tqdm(total=config.steps, initial=step, desc=f"gan/{config.arch}", disable=not progress, dynamic_ncols=True)
    G.train()
    D.train()
    stopped_early = False
    try:
        while step < config.steps:
            # --- critic ---
            for _ in range(config.critic_steps):
                real = stream.next().to(device)
                with torch.no_grad(), amp:
                    fake = G(G.sample_latent(real.size(0)).to(device)).float()
                if config.arch == "su2017":
                    d_total, info = critic_loss_su2017(D, real, fake, config.penalty)
                else:
                    d_total, info = critic_loss_r1(D, real, fake, config.penalty, amp)
                opt_d.zero_grad(set_to_none=True)
                d_total.backward()
                opt_d.step()
            # --- generator ---
            for p in D.parameters():
                p.requires_grad_(False)
            with amp:
                fake = G(G.sample_latent(config.batch_size).to(device))
            if config.arch == "su2017":
                g_loss = generator_loss_su2017(D, fake.float())
            else:
                g_loss = generator_loss_ns(D, fake, amp)
            opt_g.zero_grad(set_to_none=True)
            g_loss.float().backward()
            opt_g.step()
            for p in D.parameters():
                p.requires_grad_(True)
            if ema is not None:
                ema.update_parameters(G)
            step += 1
            bar.update(1)
            elapsed = start_elapsed + time.time() - t0
            cpu_elapsed = start_cpu + time.process_time() - c0

            if step % log_every == 0:
                log.write([step, f"{info['d_loss']:.5f}", f"{g_loss.item():.5f}", f"{info['penalty']:.5f}", f"{elapsed / 60:.2f}"])
                bar.set_postfix(d=f"{info['d_loss']:.3f}", g=f"{g_loss.item():.3f}")
            if step % sample_every == 0 or step == config.steps:
                save_samples()
            if time.time() - last_save > save_minutes * 60:
                save_state()
                last_save = time.time()
            if max_minutes is not None and time.time() - t0 > max_minutes * 60 and step < config.steps:
                stopped_early = True
                break
    except KeyboardInterrupt:  # Ctrl-C: keep the work done since the last save
        stopped_early = True
        print(f"\ninterrupted at step {step}; state saved, run the same command to continue", file=sys.stderr)
    bar.close()
    log.close()
    save_state()

    summary = {
        "arch": config.arch, "step": step, "steps": config.steps, "finished": step >= config.steps,
        "wall_minutes": round(elapsed / 60, 2), "cpu_minutes": round(cpu_elapsed / 60, 2),
        "threads": torch.get_num_threads(), "device": str(device), "config": asdict(config),
        "command": command,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    if stopped_early:
        print(f"stopped after --max-minutes at step {step}; run the same command to continue", file=sys.stderr)
    if summary["finished"] and export_dir is not None:
        export(sample_net(), out, Path(export_dir), summary)
    return summary


def export(net, run_dir: Path, export_dir: Path, summary: dict) -> None:
    """Write the generator as a PyTorchModelHubMixin folder with its training record."""
    export_dir.mkdir(parents=True, exist_ok=True)
    net = net.cpu().eval()
    net.save_pretrained(export_dir)
    shutil.copy(run_dir / "loss.csv", export_dir / "loss.csv")
    (export_dir / "training.json").write_text(json.dumps(summary, indent=2))
    last = sorted((run_dir / "samples").glob("step_*.png"))
    if last:
        shutil.copy(last[-1], export_dir / "samples.png")
    write_card(summary["arch"], export_dir)  # replaces the mixin's generic card; `eval gan --write-card` adds metrics
    print(f"exported generator to {export_dir}", file=sys.stderr)
