"""Training for the DDPM tab (``python -m playground train ddpm ...``).

The U-Net learns to predict the noise: for an image x0 (in [-1, 1]), a uniform step
t in [0, T) and eps ~ N(0, I), the input is x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
(``DDPMScheduler.add_noise``) and the loss is the mean squared error between the U-Net's
output and eps. Adam with a linear warm-up to a constant learning rate (so a run can be
extended with a larger ``--steps`` and go on exactly as if it had been planned that long),
an exponential moving average of the weights (diffusers ``EMAModel``, decay warming up to
``ema_decay``), bfloat16 autocast where it is faster.

Only the algorithm lives here (config, U-Net and EMA, one step, samples, export);
``playground.training.run`` owns the loop: the accelerator (data-parallel, unchanged, under
``torchrun --nproc_per_node N -m playground train ddpm ...`` or ``accelerate launch``; every
process draws its own slice of each global batch), resume from ``<out>/state.pt``, saves, the
log, Ctrl-C, samples, the summary and the export folder's records. When ``steps`` is reached
the EMA weights are exported as a diffusers pipeline folder that ``DDPMPipeline.from_pretrained``
loads as it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checks import check_choice, check_float, check_int
from ..data import as_tensor, load_fashion_mnist
from ..training import Algorithm, BatchStream, check_positive, run
from .card import write_card
from .models import SCHEDULES, SIZES, make_scheduler, make_unet


@dataclass
class TrainConfig:
    schedule: str = "su"
    size: str = "small"
    steps: int = 20_000
    batch_size: int = 128  # per process
    lr: float = 5e-4
    warmup: int = 500  # steps of linear learning-rate warm-up
    ema_decay: float = 0.9999  # the ceiling; EMAModel warms the decay up as 1 - (1 + step)^-0.75
    bf16: bool = True  # bfloat16 autocast for the forward pass (measured: ~1.6x faster here)
    seed: int = 0

    def __post_init__(self):
        check_choice("--schedule", self.schedule, SCHEDULES)
        check_choice("--size", self.size, SIZES)
        check_positive(self, "steps", "batch_size", "lr")
        check_int("warmup", self.warmup, low=0)
        check_float("ema_decay", self.ema_decay, 0, 1, low_open=True, high_open=True)


def lr_at(config: TrainConfig, step: int) -> float:
    """Linear warm-up over ``warmup`` steps, then constant."""
    return config.lr * min(1.0, (step + 1) / config.warmup) if config.warmup else config.lr


def compute_loss(unet, scheduler, x0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The epsilon-prediction loss of one batch of clean images in [-1, 1]."""
    n = x0.size(0)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (n,), generator=generator).to(x0.device)
    xt = scheduler.add_noise(x0, noise, t)
    pred = unet(xt, t).sample
    return (pred.float() - noise).pow(2).mean()


class DdpmAlgorithm(Algorithm):
    """The U-Net, its EMA (the weights sampled from and shipped) and Adam with a warm-up."""

    columns = ["step", "loss", "lr", "ema_decay", "minutes"]

    def build(self, acc, fresh: bool) -> None:
        from diffusers.training_utils import EMAModel

        config, device = self.config, acc.device
        self.name = f"ddpm/{config.schedule}"
        self.unet = make_unet(config.size).to(device)
        self.scheduler = make_scheduler(config.schedule)
        self.ema = EMAModel(self.unet.parameters(), decay=config.ema_decay, use_ema_warmup=True, inv_gamma=1.0,
                            power=0.75)
        self.opt = torch.optim.Adam(self.unet.parameters(), lr=config.lr)
        images, _ = load_fashion_mnist("train", root=self.data_dir)
        self.stream = BatchStream(as_tensor(images, -1.0, 1.0), config.batch_size, config.seed, acc.process_index,
                                  acc.num_processes)
        self.images_seen = 0

    def parts(self) -> dict:
        """What state.pt holds, by key: each part has ``state_dict`` and ``load_state_dict``."""
        return {"unet": self.unet, "opt": self.opt, "ema": self.ema, "stream": self.stream}

    def state_dict(self) -> dict:
        return {key: part.state_dict() for key, part in self.parts().items()}

    def load_state_dict(self, state: dict) -> None:
        for key, part in self.parts().items():
            part.load_state_dict(state[key])

    def prepare(self, acc) -> None:
        self.ema.to(acc.device)  # after a resume loaded it (on the CPU)
        self.model, self.opt = acc.prepare(self.unet, self.opt)  # model: DDP-wrapped under data parallelism
        self.model.train()

    def step(self, step: int) -> dict:
        acc, lr = self.acc, lr_at(self.config, step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        x = self.stream.next().to(acc.device)
        with acc.autocast():
            loss = compute_loss(self.model, self.scheduler, x)
        self.opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        self.opt.step()
        self.ema.step(self.unet.parameters())
        self.images_seen += x.size(0)
        return {"loss": loss.item(), "lr": lr, "ema_decay": self.ema.cur_decay_value or 0}

    def ema_unet(self):
        """A copy of the U-Net holding the EMA weights (the ones we sample from and ship)."""
        copy = make_unet(self.config.size)
        self.ema.copy_to(copy.parameters())
        return copy.eval()

    def sample(self):
        from .pipeline import sample_images

        x = sample_images(self.ema_unet(), self.scheduler, 36, steps=25, sampler="dpm++",
                          generator=torch.Generator().manual_seed(1234))
        return (x + 1) / 2

    def summary(self) -> dict:
        per_rank = self.acc.gather(torch.tensor([self.images_seen], device=self.acc.device)).cpu().tolist()
        return {"schedule": self.config.schedule, "size": self.config.size, "images_per_process_this_run": per_rank,
                "parameters": sum(p.numel() for p in self.unet.parameters())}

    def export(self, export_dir: Path, summary: dict) -> None:
        """A diffusers pipeline folder (``DDPMPipeline.from_pretrained`` loads it), with its card."""
        from diffusers import DDPMPipeline

        DDPMPipeline(unet=self.ema_unet(), scheduler=self.scheduler).save_pretrained(export_dir,
                                                                                     safe_serialization=True)
        write_card(export_dir)


def train(config: TrainConfig, out_dir: str | os.PathLike, export_dir: str | os.PathLike | None = None,
          data_dir: str | None = None, **options) -> dict:
    """Train (or resume) the U-Net; return a summary. Exports the pipeline when ``steps`` is reached.
    ``options``: the run loop's, see ``playground.training.run``."""
    return run(DdpmAlgorithm(config, data_dir), out_dir, export_dir, **options)
