"""Training for the EAE tab's three models (``python -m playground train eae --model ...``).

* ``eae``:   loss = per-image sum of squared errors - lambda_t * H_kNN(BN codes of the batch),
             lambda_t ramping linearly from 0 to ``lam`` over ``warmup`` steps;
* ``ae-bn``: the same network and loss with lambda = 0;
* ``vae``:   the same encoder/decoder; loss = SSE / (2 sigma^2) + KL(q(z|x) || N(0, I)),
             with sigma^2 the batch's mean squared error ("calibrated decoder", Rybkin et al.
             2021: the variance that maximises the likelihood) unless ``beta`` is given, in
             which case loss = SSE + beta * KL.

Runs through Hugging Face Accelerate: the same script runs data-parallel, unchanged, under
``torchrun --nproc_per_node N -m playground train eae ...`` (gloo on CPUs) or
``accelerate launch --multi_gpu``. Every process draws its own slice of each global batch.
State (network, optimiser, data position, RNG, step, time) is saved atomically to
``<out>/state.pt`` every ``--save-minutes``; running the same command again resumes.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torchvision.utils import save_image
from tqdm.auto import tqdm

from ..data import as_tensor, load_fashion_mnist
from ..training import (BatchStream, LossLog, SaveClock, atomic_torch_save, check_resumable, load_state,
                        make_accelerator)
from .card import write_card
from .models import KINDS, Autoencoder, knn_entropy


@dataclass
class TrainConfig:
    kind: str = "eae"
    steps: int = 20_000
    batch_size: int = 128  # per process
    lr: float = 1e-3
    latent_dim: int = 32
    channels: int = 32
    lam: float = 1.0  # eae: entropy weight after warm-up
    k: int = 1  # eae: k of the k-NN entropy estimator
    warmup: int = 2_000  # eae: steps over which lambda ramps up from 0
    beta: float | None = None  # vae: KL weight in SSE units; None = calibrated decoder variance
    bf16: bool = True  # bfloat16 autocast: 2x faster for this net on the CPU (measured, see the card)
    seed: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"--model must be one of {list(KINDS)}, not {self.kind!r}")
        if self.kind == "ae-bn":
            self.lam = 0.0
        if self.kind != "eae":
            self.k, self.warmup = 1, 0
        if self.kind != "vae":
            self.beta = None
        if not 1 <= self.k < self.batch_size:
            raise ValueError(f"k must be between 1 and batch_size - 1, not {self.k}")
        for name in ("steps", "batch_size", "latent_dim", "channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, not {self.lr!r}")
        if not (math.isfinite(self.lam) and self.lam >= 0):
            raise ValueError(f"lam (the entropy weight) must be a number >= 0, not {self.lam!r}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0 steps, not {self.warmup!r}")
        if self.beta is not None and not (math.isfinite(self.beta) and self.beta > 0):
            raise ValueError(f"beta (the VAE's KL weight) must be a positive number, not {self.beta!r}")


def lam_at(config: TrainConfig, step: int) -> float:
    """The entropy weight at ``step``: a linear ramp from 0 over the warm-up."""
    if config.kind != "eae" or config.lam == 0:
        return 0.0
    return config.lam * min(1.0, step / config.warmup) if config.warmup > 0 else config.lam


def lr_at(config: TrainConfig, step: int) -> float:
    """Cosine decay from ``lr`` to ``lr / 20`` over the run, after a 200-step linear warm-up."""
    if step < 200:
        return config.lr * (step + 1) / 200
    t = min(1.0, step / config.steps)
    return config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def compute_loss(net: torch.nn.Module, x: torch.Tensor, config: TrainConfig, step: int) -> tuple[torch.Tensor, dict]:
    """The training loss of one batch and its parts (floats) for the log."""
    if config.kind == "vae":
        noise = torch.randn(x.size(0), config.latent_dim, device=x.device)
        recon, mean, logvar = net(x, noise=noise)
        sse = (recon.float() - x).pow(2).flatten(1).sum(1).mean()
        kl = 0.5 * (mean.float().pow(2) + logvar.float().exp() - 1 - logvar.float()).sum(1).mean()
        if config.beta is None:  # calibrated decoder: sigma^2 = batch MSE, the maximum-likelihood value
            d = x[0].numel()
            var = (sse / d).detach().clamp_min(1e-6)
            loss = sse / (2 * var) + 0.5 * d * torch.log(var) + kl
        else:
            loss = sse + config.beta * kl
        return loss, {"loss": loss.item(), "sse": sse.item(), "reg": kl.item(), "lam": config.beta or 0.0}
    recon, code, _ = net(x)
    sse = (recon.float() - x).pow(2).flatten(1).sum(1).mean()
    lam = lam_at(config, step)
    if config.kind == "eae":
        entropy = knn_entropy(code.float(), config.k)
        loss = sse - lam * entropy
    else:  # ae-bn: entropy logged for comparison, not optimised
        with torch.no_grad():
            entropy = knn_entropy(code.float(), 1)
        loss = sse
    return loss, {"loss": loss.item(), "sse": sse.item(), "reg": entropy.item(), "lam": lam}


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
    """Train (or resume) one model; return a summary. Exports the model when ``steps`` is reached."""
    acc = make_accelerator(config.bf16)
    device, main = acc.device, acc.is_main_process
    out = Path(out_dir)
    if main:
        (out / "samples").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed + acc.process_index)

    net = Autoencoder(config.kind, config.latent_dim, config.channels).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    images, _ = load_fashion_mnist("train", root=data_dir)
    stream = BatchStream(as_tensor(images), config.batch_size, config.seed, acc.process_index, acc.num_processes)
    fixed_z = net.sample_latent(36, torch.Generator().manual_seed(1234)).to(device)

    step, elapsed, cpu_elapsed, images_seen = 0, 0.0, 0.0, 0
    state_path = out / "state.pt"
    state = load_state(state_path, "cpu")
    if state is not None:
        check_resumable(state, asdict(config), state_path)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        stream.load_state_dict(state["stream"])
        torch.set_rng_state(state["rng"][acc.process_index % len(state["rng"])].clone())
        step, elapsed, cpu_elapsed = state["step"], state["elapsed"], state["cpu_elapsed"]
        if main:
            print(f"resumed {config.kind} from step {step} ({elapsed / 60:.1f} min trained)", file=sys.stderr)
    model, opt = acc.prepare(net, opt)
    if main:
        (out / "config.json").write_text(json.dumps(asdict(config), indent=2))

    def save_state():
        rng = acc.gather(torch.get_rng_state()[None])  # every process's RNG, so each resumes its own stream
        if main:
            atomic_torch_save(
                {"config": asdict(config), "step": step, "elapsed": elapsed, "cpu_elapsed": cpu_elapsed,
                 "net": acc.unwrap_model(model).state_dict(), "opt": opt.state_dict(),
                 "stream": stream.state_dict(), "rng": [r.clone() for r in rng.cpu()]},
                state_path,
            )
        acc.wait_for_everyone()

    def save_samples():
        if not main:
            return
        inner = acc.unwrap_model(model)
        inner.eval()
        with torch.inference_mode():
            save_image(inner.decode(fixed_z).float(), out / "samples" / f"step_{step:07d}.png", nrow=6, padding=2,
                       pad_value=1.0)
        inner.train()

    log = LossLog(out / "loss.csv", ["step", "loss", "sse", "entropy" if config.kind != "vae" else "kl", "lam",
                                     "minutes"], step) if main else None

    t0, c0 = time.time(), time.process_time()
    clock = SaveClock(acc, save_minutes, max_minutes, save_every)
    start_elapsed, start_cpu = elapsed, cpu_elapsed
    bar = tqdm(total=config.steps, initial=step, desc=f"eae/{config.kind}", disable=not (progress and main),
               dynamic_ncols=True)
    model.train()
    stopped_early = False
    try:
        while step < config.steps:
            for group in opt.param_groups:
                group["lr"] = lr_at(config, step)
            x = stream.next().to(device)
            with acc.autocast():
                loss, info = compute_loss(model, x, config, step)
            opt.zero_grad(set_to_none=True)
            acc.backward(loss)
            opt.step()
            step += 1
            images_seen += x.size(0)
            bar.update(1)
            elapsed = start_elapsed + time.time() - t0
            cpu_elapsed = start_cpu + time.process_time() - c0
            if log is not None and step % log_every == 0:
                log.write([step, f"{info['loss']:.4f}", f"{info['sse']:.4f}", f"{info['reg']:.4f}", f"{info['lam']:.4g}",
                           f"{elapsed / 60:.2f}"])
                bar.set_postfix(sse=f"{info['sse']:.2f}", reg=f"{info['reg']:.2f}")
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
        "kind": config.kind, "step": step, "steps": config.steps, "finished": step >= config.steps,
        "wall_minutes": round(elapsed / 60, 2), "cpu_minutes": round(cpu_elapsed / 60, 2),
        "threads": torch.get_num_threads(), "device": str(device), "processes": acc.num_processes,
        "images_per_process_this_run": per_rank, "config": asdict(config), "command": command,
    }
    if main:
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        if stopped_early:
            print(f"stopped at step {step}; run the same command to continue", file=sys.stderr)
        if summary["finished"] and export_dir is not None:
            export(acc.unwrap_model(model), out, Path(export_dir), summary)
    acc.wait_for_everyone()
    return summary


def export(net: Autoencoder, run_dir: Path, export_dir: Path, summary: dict) -> None:
    """Write the model as a PyTorchModelHubMixin folder with its training record and card."""
    export_dir.mkdir(parents=True, exist_ok=True)
    net = net.cpu().eval()
    net.save_pretrained(export_dir)
    shutil.copy(run_dir / "loss.csv", export_dir / "loss.csv")
    (export_dir / "training.json").write_text(json.dumps(summary, indent=2))
    last = sorted((run_dir / "samples").glob("step_*.png"))
    if last:
        shutil.copy(last[-1], export_dir / "samples.png")
    write_card(summary["kind"], export_dir)
    print(f"exported {summary['kind']} to {export_dir}", file=sys.stderr)
