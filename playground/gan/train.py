"""Training loop for both GAN architectures (``python -m playground train gan``).

One file a reader can hold in their head: build nets, loop, log, save, resume.

* ``su2017`` reproduces the write-up exactly: WGAN critic with a one-sided gradient
  penalty (weight 10), 5 critic steps per generator step, Adam(1e-4, beta1 0.5), batch 100,
  the write-up's sign convention (the critic scores real images low).
* ``dcgan`` uses the non-saturating logistic loss with an R1 penalty on real images and
  one critic step per generator step, plus an EMA of the generator weights (see its model card).

Runs through Hugging Face Accelerate, like the other trainers: the same script runs
data-parallel, unchanged, under ``torchrun --nproc_per_node N -m playground train gan ...``
(gloo on CPUs) or ``accelerate launch``; every process draws its own slice of each global
batch (``--batch-size`` per process) and the gradients of both networks are averaged. The
critic is called once per critic step, on real, fake (and, for su2017, interpolated) images
together: one forward per backward, the pattern DDP is built for, and the gradient penalties'
double backward (``create_graph``) runs through that one graph (a test checks the DDP gradients
against the mean of the processes' own). The generator step scores its fakes with the
unwrapped critic, whose weights are frozen there. BatchNorm statistics are per process
(rank 0's running averages are broadcast).
State (nets, optimisers, EMA, data position, every process's RNG, step, elapsed time) is saved
atomically to ``<out>/state.pt`` every ``--save-minutes`` (and every ``--save-every`` steps) by
the main process; running the same command again resumes, with any number of processes.
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
from ..training import (BatchStream, LossLog, SaveClock, atomic_torch_save, check_resumable, load_state,
                        make_accelerator)
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
    """The write-up's critic loss: mean D(real) - mean D(fake) + w * mean relu(|grad| - 1).

    One critic call scores real, fake and interpolated images: one forward per backward for a
    DDP-wrapped critic (it has no batch statistics, so this equals three separate calls)."""
    n = real.size(0)
    eps = torch.rand(n, 1, 1, 1, device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    scores = critic(torch.cat([real, fake, x_hat]))
    d_real, d_fake, d_hat = scores[:n], scores[n : 2 * n], scores[2 * n :]
    (grad,) = torch.autograd.grad(d_hat.sum(), x_hat, create_graph=True)
    gp = F.relu(grad.flatten(1).norm(dim=1) - 1).mean()
    wass = d_real.mean() - d_fake.mean()
    return wass + penalty * gp, {"d_loss": wass.item(), "penalty": gp.item()}


def generator_loss_su2017(critic, fake):
    return critic(fake).mean()


def critic_loss_r1(critic, real, fake, gamma, amp):
    """Non-saturating logistic loss for the critic, plus R1 = gamma/2 E|grad D(real)|^2
    (one critic call on real and fake images together, as for ``critic_loss_su2017``)."""
    n = real.size(0)
    real = real.detach().requires_grad_(True)
    with amp:
        scores = critic(torch.cat([real, fake]))
    d_real, d_fake = scores[:n], scores[n:]
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
    save_every: int | None = None,
    sample_every: int = 1000,
    log_every: int = 50,
    progress: bool = True,
    command: str | None = None,
) -> dict:
    """Train (or resume) a GAN; return a summary. Exports the generator when ``steps`` is reached."""
    acc = make_accelerator(config.bf16)
    device, main = acc.device, acc.is_main_process
    out = Path(out_dir)
    if main:
        (out / "samples").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed + acc.process_index)  # rank 0's initial weights are broadcast to all

    gen_cls, critic_cls = ARCHITECTURES[config.arch]
    g_net = gen_cls(**config.model_kwargs).to(device)
    d_net = critic_cls().to(device)
    opt_g = torch.optim.Adam(g_net.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    opt_d = torch.optim.Adam(d_net.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    ema = None
    if config.ema_decay > 0:  # its first update copies the (synchronised) generator
        ema = AveragedModel(g_net, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)

    images, _ = load_fashion_mnist("train", root=data_dir)
    stream = BatchStream(as_tensor(images), config.batch_size, config.seed, acc.process_index, acc.num_processes)
    fixed_z = g_net.sample_latent(36, torch.Generator().manual_seed(1234)).to(device)

    step, elapsed, cpu_elapsed, images_seen = 0, 0.0, 0.0, 0
    state_path = out / "state.pt"
    state = load_state(state_path, "cpu")
    if state is not None:
        check_resumable(state, asdict(config), state_path)
        g_net.load_state_dict(state["G"])
        d_net.load_state_dict(state["D"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        stream.load_state_dict(state["stream"])
        rng = state["rng"]  # one state per process (older saves: a single one)
        rng = [rng] if isinstance(rng, torch.Tensor) else rng
        torch.set_rng_state(rng[acc.process_index % len(rng)].cpu().clone())
        if device.type == "cuda" and state.get("cuda_rng"):
            cuda_rng = state["cuda_rng"]
            torch.cuda.set_rng_state(cuda_rng[acc.process_index % len(cuda_rng)].cpu().clone(), device)
        step, elapsed, cpu_elapsed = state["step"], state["elapsed"], state["cpu_elapsed"]
        if main:
            print(f"resumed {config.arch} from step {step} ({elapsed / 60:.1f} min trained)", file=sys.stderr)
    G, D, opt_g, opt_d = acc.prepare(g_net, d_net, opt_g, opt_d)  # G, D: DDP-wrapped under data parallelism
    if main:
        (out / "config.json").write_text(json.dumps(asdict(config), indent=2))

    def save_state():
        rng = acc.gather(torch.get_rng_state()[None].to(device))  # every process's RNG: each resumes its own
        cuda_rng = acc.gather(torch.cuda.get_rng_state(device)[None].to(device)) if device.type == "cuda" else None
        if main:
            atomic_torch_save(
                {
                    "config": asdict(config), "step": step, "elapsed": elapsed, "cpu_elapsed": cpu_elapsed,
                    "G": g_net.state_dict(), "D": d_net.state_dict(),
                    "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                    "ema": ema.state_dict() if ema is not None else None,
                    "stream": stream.state_dict(), "rng": [r.clone() for r in rng.cpu()],
                    "cuda_rng": [r.clone() for r in cuda_rng.cpu()] if cuda_rng is not None else None,
                },
                state_path,
            )
        acc.wait_for_everyone()

    def sample_net():
        return ema.module if ema is not None else g_net

    def save_samples():
        if not main:
            return
        net = sample_net()
        net.eval()
        with torch.inference_mode():
            save_image(net(fixed_z).float(), out / "samples" / f"step_{step:07d}.png", nrow=6, padding=2, pad_value=1.0)
        g_net.train()

    log = LossLog(out / "loss.csv", ["step", "d_loss", "g_loss", "penalty", "minutes"], step) if main else None

    t0, c0 = time.time(), time.process_time()
    clock = SaveClock(acc, save_minutes, max_minutes, save_every)
    start_elapsed, start_cpu = elapsed, cpu_elapsed
    bar = tqdm(total=config.steps, initial=step, desc=f"gan/{config.arch}", disable=not (progress and main),
               dynamic_ncols=True)
    G.train()
    D.train()
    stopped_early = False
    try:
        while step < config.steps:
            # --- critic ---
            for _ in range(config.critic_steps):
                real = stream.next().to(device)
                images_seen += real.size(0)
                with torch.no_grad(), acc.autocast():
                    fake = G(g_net.sample_latent(real.size(0)).to(device)).float()
                if config.arch == "su2017":
                    d_total, info = critic_loss_su2017(D, real, fake, config.penalty)
                else:
                    d_total, info = critic_loss_r1(D, real, fake, config.penalty, acc.autocast())
                opt_d.zero_grad(set_to_none=True)
                acc.backward(d_total)
                opt_d.step()
            # --- generator (scored by the unwrapped critic: its weights are frozen here) ---
            for p in d_net.parameters():
                p.requires_grad_(False)
            with acc.autocast():
                fake = G(g_net.sample_latent(config.batch_size).to(device))
            if config.arch == "su2017":
                g_loss = generator_loss_su2017(d_net, fake.float())
            else:
                g_loss = generator_loss_ns(d_net, fake, acc.autocast())
            opt_g.zero_grad(set_to_none=True)
            acc.backward(g_loss.float())
            opt_g.step()
            for p in d_net.parameters():
                p.requires_grad_(True)
            if ema is not None:
                ema.update_parameters(g_net)
            step += 1
            bar.update(1)
            elapsed = start_elapsed + time.time() - t0
            cpu_elapsed = start_cpu + time.process_time() - c0

            if log is not None and step % log_every == 0:
                log.write([step, f"{info['d_loss']:.5f}", f"{g_loss.item():.5f}", f"{info['penalty']:.5f}", f"{elapsed / 60:.2f}"])
                bar.set_postfix(d=f"{info['d_loss']:.3f}", g=f"{g_loss.item():.3f}")
            if step % sample_every == 0 or step == config.steps:
                save_samples()
            save_now, stop_now = clock.due(step)
            if save_now:
                save_state()
                clock.saved()
            if stop_now and step < config.steps:
                stopped_early = True
                break
    except KeyboardInterrupt:  # Ctrl-C: keep the work done since the last save
        stopped_early = True
        if main:
            print(f"\ninterrupted at step {step}; state saved, run the same command to continue", file=sys.stderr)
    bar.close()
    if log is not None:
        log.close()
    save_state()

    per_rank = acc.gather(torch.tensor([images_seen], device=device)).cpu().tolist()
    summary = {
        "arch": config.arch, "step": step, "steps": config.steps, "finished": step >= config.steps,
        "wall_minutes": round(elapsed / 60, 2), "cpu_minutes": round(cpu_elapsed / 60, 2),
        "threads": torch.get_num_threads(), "device": str(device), "processes": acc.num_processes,
        "images_per_process_this_run": per_rank, "config": asdict(config), "command": command,
    }
    if main:
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        if stopped_early:
            print(f"stopped at step {step}; run the same command to continue", file=sys.stderr)
        if summary["finished"] and export_dir is not None:
            export(sample_net(), out, Path(export_dir), summary)
    acc.wait_for_everyone()
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
