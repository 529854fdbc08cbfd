"""Training for the DDPM tab (``python -m playground train ddpm ...``).

The U-Net learns to predict the noise: for an image x0 (in [-1, 1]), a uniform step
t in [0, T) and eps ~ N(0, I), the input is x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
(``DDPMScheduler.add_noise``) and the loss is the mean squared error between the U-Net's
output and eps (the write-up's recipe, the defaults). Options of the modern recipe:

* ``prediction="v_prediction"``: the target is v = sqrt(abar) eps - sqrt(1 - abar) x0
  (``scheduler.get_velocity``; Salimans & Ho 2022);
* ``snr_gamma`` > 0: min-SNR-gamma weighting (Hang et al. 2023): each example's loss is weighted
  min(SNR_t, gamma) / SNR_t for eps (min(SNR_t, gamma) / (SNR_t + 1) for v), SNR_t = abar_t / (1 - abar_t)
  (``diffusers.training_utils.compute_snr``), so the nearly clean steps, easy and many, stop
  dominating the gradient;
* ``classes=10``: a class-conditional U-Net; each example's label is replaced by the null class
  with probability ``cond_drop``, so the same net also learns the unconditional prediction that
  classifier-free guidance needs (Ho & Salimans 2022);
* ``init_from``: start from a pipeline folder's U-Net weights (an unconditional one gets a
  zero class embedding, so the run starts exactly where that model stands). Adam with a linear warm-up to a constant learning rate (so a run can be
extended with a larger ``--steps`` and go on exactly as if it had been planned that long),
an exponential moving average of the weights (diffusers ``EMAModel``, decay warming up to
``ema_decay``), bfloat16 autocast where it is faster.

Only the algorithm lives here (config, U-Net and EMA, one step, samples, export);
``playground.training.run`` owns the loop: the accelerator (data-parallel, unchanged, under
``torchrun --nproc_per_node N -m playground train ddpm ...`` or ``accelerate launch``; every
process draws its own slice of each global batch), resume from ``<out>/state.pt``, saves, the
log, Ctrl-C, samples, the summary and the export folder's records. When ``steps`` is reached
the EMA weights are exported as a diffusers pipeline folder that ``DDPMPipeline.from_pretrained``
loads as it is (a class-conditional one: ``ClassConditionalDDPMPipeline``, see ``conditional.py``).
"""

from __future__ import annotations

import os
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checks import check_choice, check_float, check_int
from ..data import as_tensor, load_fashion_mnist
from ..training import Algorithm, BatchStream, check_positive, run
from .card import write_card
from .models import PREDICTIONS, SCHEDULES, SIZES, make_scheduler, make_unet


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
    prediction: str = "epsilon"  # or "v_prediction"
    snr_gamma: float = 0.0  # min-SNR-gamma loss weighting (0: none, the write-up's uniform weights; 5 is usual)
    classes: int = 0  # 10: class-conditional on the Fashion-MNIST label (0: unconditional)
    cond_drop: float = 0.1  # class-conditional: the share of labels replaced by the null class
    init_from: str = ""  # a pipeline folder whose U-Net weights start the run ("": random weights)

    def __post_init__(self):
        check_choice("--schedule", self.schedule, SCHEDULES)
        check_choice("--size", self.size, SIZES)
        check_choice("--prediction", self.prediction, PREDICTIONS)
        check_positive(self, "steps", "batch_size", "lr")
        check_int("warmup", self.warmup, low=0)
        check_float("ema_decay", self.ema_decay, 0, 1, low_open=True, high_open=True)
        check_float("snr_gamma", self.snr_gamma, low=0)
        if self.classes not in (0, 10):
            raise ValueError(f"classes must be 0 (unconditional) or 10 (Fashion-MNIST's labels), not {self.classes}")
        check_float("cond_drop", self.cond_drop, 0, 1, high_open=True)
        if self.init_from and not (Path(self.init_from) / "unet" / "config.json").is_file():
            raise ValueError(f"init_from must be a pipeline folder with unet/config.json, not {self.init_from!r}")


def lr_at(config: TrainConfig, step: int) -> float:
    """Linear warm-up over ``warmup`` steps, then constant."""
    return config.lr * min(1.0, (step + 1) / config.warmup) if config.warmup else config.lr


def loss_weights(scheduler, t: torch.Tensor, snr_gamma: float) -> torch.Tensor:
    """Min-SNR-gamma weights of steps ``t`` for the scheduler's prediction type (all ones at gamma 0)."""
    from diffusers.training_utils import compute_snr

    if not snr_gamma:
        return torch.ones(len(t), device=t.device)
    snr = compute_snr(scheduler, t)
    clipped = snr.clamp(max=snr_gamma)
    return clipped / (snr + 1) if scheduler.config.prediction_type == "v_prediction" else clipped / snr


def compute_loss(unet, scheduler, x0: torch.Tensor, generator: torch.Generator | None = None,
                 labels: torch.Tensor | None = None, snr_gamma: float = 0.0, cond_drop: float = 0.0,
                 null: int | None = None) -> torch.Tensor:
    """The loss of one batch of clean images in [-1, 1]: the mean squared error of the U-Net's
    output against its target (eps, or v for a v-prediction scheduler), each example weighted by
    ``loss_weights``; ``labels`` (a class-conditional U-Net) are replaced by ``null`` with
    probability ``cond_drop``."""
    n = x0.size(0)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (n,), generator=generator).to(x0.device)
    xt = scheduler.add_noise(x0, noise, t)
    if labels is None:
        pred = unet(xt, t).sample
    else:
        drop = (torch.rand(n, generator=generator) < cond_drop).to(labels.device)
        pred = unet(xt, t, class_labels=torch.where(drop, null, labels)).sample
    target = scheduler.get_velocity(x0, noise, t) if scheduler.config.prediction_type == "v_prediction" else noise
    per_example = (pred.float() - target).pow(2).mean(dim=(1, 2, 3))
    return (per_example * loss_weights(scheduler, t, snr_gamma)).mean()


def load_initial_unet(unet, folder: str) -> None:
    """Copy a pipeline folder's U-Net weights (safetensors) into ``unet``, which must have the same
    layers; a class embedding the folder lacks starts at zero (the class then changes nothing)."""
    import json

    from safetensors.torch import load_file

    unet_dir = Path(folder) / "unet"
    source = json.loads((unet_dir / "config.json").read_text())
    for key in ("block_out_channels", "layers_per_block", "in_channels", "sample_size"):
        mine, theirs = unet.config[key], source.get(key)
        if (list(mine) if isinstance(mine, (list, tuple)) else mine) != theirs:
            raise ValueError(f"init_from {folder}: its U-Net's {key} is {theirs}, this run's is {mine}")
    files = sorted(unet_dir.glob("*.safetensors"))
    if not files:
        raise ValueError(f"init_from {folder}: no safetensors weights in {unet_dir}")
    state = {}
    for f in files:
        state.update(load_file(f))
    missing, unexpected = unet.load_state_dict(state, strict=False)
    if unexpected or set(missing) - {"class_embedding.weight"}:
        raise ValueError(f"init_from {folder}: the weights do not fit this U-Net (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]})")
    if missing:
        torch.nn.init.zeros_(unet.class_embedding.weight)


class DdpmAlgorithm(Algorithm):
    """The U-Net, its EMA (the weights sampled from and shipped) and Adam with a warm-up."""

    columns = ["step", "loss", "lr", "ema_decay", "minutes"]

    def build(self, acc, fresh: bool) -> None:
        from diffusers.training_utils import EMAModel

        config, device = self.config, acc.device
        self.name = f"ddpm/{config.schedule}"
        self.unet = make_unet(config.size, classes=config.classes)
        if fresh and config.init_from:
            load_initial_unet(self.unet, config.init_from)
        self.unet.to(device)
        self.scheduler = make_scheduler(config.schedule, config.prediction)
        self.ema = EMAModel(self.unet.parameters(), decay=config.ema_decay, use_ema_warmup=True, inv_gamma=1.0,
                            power=0.75)
        self.opt = torch.optim.Adam(self.unet.parameters(), lr=config.lr)
        images, labels = load_fashion_mnist("train", root=self.data_dir)
        labels = torch.tensor(labels, dtype=torch.long) if config.classes else None
        self.stream = BatchStream(as_tensor(images, -1.0, 1.0), config.batch_size, config.seed, acc.process_index,
                                  acc.num_processes, labels=labels)
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
        config = self.config
        if config.classes:
            x, labels = (part.to(acc.device) for part in self.stream.next())
        else:
            x, labels = self.stream.next().to(acc.device), None
        with acc.autocast():
            loss = compute_loss(self.model, self.scheduler, x, labels=labels, snr_gamma=config.snr_gamma,
                                cond_drop=config.cond_drop, null=config.classes)
        self.opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        self.opt.step()
        self.ema.step(self.unet.parameters())
        self.images_seen += x.size(0)
        return {"loss": loss.item(), "lr": lr, "ema_decay": self.ema.cur_decay_value or 0}

    def ema_unet(self):
        """A copy of the U-Net holding the EMA weights (the ones we sample from and ship)."""
        copy = deepcopy(self.unet).cpu()  # not a fresh make_unet: its random init would move the global RNG
        self.ema.copy_to(copy.parameters())
        return copy.eval()

    def sample(self):
        from .pipeline import sample_images

        labels = torch.arange(36) % self.config.classes if self.config.classes else None  # a column per class
        x = sample_images(self.ema_unet(), self.scheduler, 36, steps=25, sampler="dpm++",
                          generator=torch.Generator().manual_seed(1234), labels=labels)
        return (x + 1) / 2

    def summary(self) -> dict:
        per_rank = self.acc.gather(torch.tensor([self.images_seen], device=self.acc.device)).cpu().tolist()
        return {"schedule": self.config.schedule, "size": self.config.size, "prediction": self.config.prediction,
                "snr_gamma": self.config.snr_gamma, "classes": self.config.classes,
                "images_per_process_this_run": per_rank,
                "parameters": sum(p.numel() for p in self.unet.parameters())}

    def export(self, export_dir: Path, summary: dict) -> None:
        """A diffusers pipeline folder (``DDPMPipeline.from_pretrained`` loads it; a class-conditional
        one ``ClassConditionalDDPMPipeline.from_pretrained``, or diffusers' ``DiffusionPipeline``
        through the copy of ``conditional.py`` it carries as ``pipeline.py``), with its card."""
        export_pipeline(self.ema_unet(), self.scheduler, export_dir)
        write_card(export_dir)


def export_pipeline(unet, scheduler, folder, guidance_scale: float = 1.0) -> None:
    """Save ``unet`` and ``scheduler`` as a diffusers pipeline folder (safetensors)."""
    import shutil

    from diffusers import DDPMPipeline

    from .conditional import ClassConditionalDDPMPipeline

    if unet.config.num_class_embeds:
        pipe = ClassConditionalDDPMPipeline(unet=unet, scheduler=scheduler, guidance_scale=guidance_scale)
        pipe.save_pretrained(folder, safe_serialization=True)
        shutil.copyfile(Path(__file__).with_name("conditional.py"), Path(folder) / "pipeline.py")
    else:
        DDPMPipeline(unet=unet, scheduler=scheduler).save_pretrained(folder, safe_serialization=True)


def train(config: TrainConfig, out_dir: str | os.PathLike, export_dir: str | os.PathLike | None = None,
          data_dir: str | None = None, **options) -> dict:
    """Train (or resume) the U-Net; return a summary. Exports the pipeline when ``steps`` is reached.
    ``options``: the run loop's, see ``playground.training.run``."""
    return run(DdpmAlgorithm(config, data_dir), out_dir, export_dir, **options)
