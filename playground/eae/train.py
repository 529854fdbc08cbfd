"""Training for the EAE tab's three models (``python -m playground train eae --model ...``).

* ``eae``:   loss = per-image sum of squared errors - lambda_t * H_kNN(BN codes of the batch),
             lambda_t ramping linearly from 0 to ``lam`` over ``warmup`` steps;
* ``ae-bn``: the same network and loss with lambda = 0;
* ``vae``:   the same encoder/decoder; loss = SSE / (2 sigma^2) + KL(q(z|x) || N(0, I)),
             with sigma^2 the batch's mean squared error ("calibrated decoder", Rybkin et al.
             2021: the variance that maximises the likelihood) unless ``beta`` is given, in
             which case loss = SSE + beta * KL.

Only the algorithm lives here (config, network, one step, samples, export);
``playground.training.run`` owns the loop: the accelerator (data-parallel, unchanged, under
``torchrun --nproc_per_node N -m playground train eae ...`` or ``accelerate launch``; every
process draws its own slice of each global batch), resume from ``<out>/state.pt``, saves, the
log, Ctrl-C, samples, the summary and the export folder's records.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checks import check_choice, check_float, check_int
from ..data import as_tensor, load_fashion_mnist
from ..training import Algorithm, BatchStream, check_positive, run
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
        check_choice("--model", self.kind, KINDS)
        if self.kind == "ae-bn":
            self.lam = 0.0
        if self.kind != "eae":
            self.k, self.warmup = 1, 0
        if self.kind != "vae":
            self.beta = None
        check_positive(self, "steps", "batch_size", "latent_dim", "channels", "lr")
        check_int("k", self.k, 1, self.batch_size - 1)
        check_float("lam", self.lam, low=0, note="(the entropy weight)")
        check_int("warmup", self.warmup, low=0)
        if self.beta is not None:
            check_float("beta", self.beta, low=0, low_open=True, note="(the VAE's KL weight)")


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


class EaeAlgorithm(Algorithm):
    """One of the three autoencoders: one network, Adam with a cosine learning-rate schedule."""

    postfix = ("sse", "entropy", "kl")

    def build(self, acc, fresh: bool) -> None:
        config, device = self.config, acc.device
        self.name = config.kind
        self.reg = "kl" if config.kind == "vae" else "entropy"  # the regulariser's column in loss.csv
        self.columns = ["step", "loss", "sse", self.reg, "lam", "minutes"]
        self.net = Autoencoder(config.kind, config.latent_dim, config.channels).to(device)
        self.fixed_z = self.net.sample_latent(36, torch.Generator().manual_seed(1234)).to(device)  # the sample grid
        self.opt = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.images_seen = 0
        images, _ = load_fashion_mnist("train", root=self.data_dir)
        self.stream = BatchStream(as_tensor(images), config.batch_size, config.seed, acc.process_index,
                                  acc.num_processes)

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict(), "stream": self.stream.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        for key, part in (("net", self.net), ("opt", self.opt), ("stream", self.stream)):
            part.load_state_dict(state[key])

    def step(self, step: int) -> dict:
        config, acc = self.config, self.acc
        for group in self.opt.param_groups:
            group["lr"] = lr_at(config, step)
        x = self.stream.next().to(acc.device)
        with acc.autocast():
            loss, info = compute_loss(self.model, x, config, step)
        self.opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        self.opt.step()
        self.images_seen += x.size(0)
        return {"loss": info["loss"], "sse": info["sse"], self.reg: info["reg"], "lam": info["lam"]}

    def sample(self):
        self.net.eval()
        with torch.inference_mode():
            images = self.net.decode(self.fixed_z).float()
        self.net.train()
        return images

    def summary(self) -> dict:
        seen = self.acc.gather(torch.tensor([self.images_seen], device=self.acc.device))
        return {"kind": self.config.kind, "images_per_process_this_run": seen.cpu().tolist()}

    def export(self, export_dir: Path, summary: dict) -> None:
        """The network as a PyTorchModelHubMixin folder, with its card."""
        self.net.cpu().eval().save_pretrained(export_dir)
        write_card(summary["kind"], export_dir)  # replaces the mixin's generic card


def train(config: TrainConfig, out_dir: str | os.PathLike, export_dir: str | os.PathLike | None = None,
          data_dir: str | None = None, **options) -> dict:
    """Train (or resume) one model; return a summary. Exports the model when ``steps`` is reached.
    ``options``: those of ``playground.training.run`` (``max_minutes``, ``save_minutes``, ``save_every``,
    ``log_every``, ``sample_every``, ``progress``, ``command``)."""
    return run(EaeAlgorithm(config, data_dir), out_dir, export_dir, **options)
