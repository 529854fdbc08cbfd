"""Training loop for both GAN architectures (``python -m playground train gan``).

Only the algorithm lives here (config, nets, one step, export); ``playground.training.run`` owns
the loop: resume, saves, the log, Ctrl-C, samples, the summary.

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

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..data import as_tensor, load_fashion_mnist
from ..training import Algorithm, BatchStream, run
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


class GanAlgorithm(Algorithm):
    """The GAN's part of the training loop: two nets, two optimisers, an optional EMA generator."""

    columns = ["step", "d_loss", "g_loss", "penalty", "minutes"]
    postfix = ("d_loss", "g_loss")

    def build(self, acc, fresh: bool) -> None:
        config, device = self.config, acc.device
        self.name = config.arch
        gen_cls, critic_cls = ARCHITECTURES[config.arch]
        self.g_net = gen_cls(**config.model_kwargs).to(device)
        self.d_net = critic_cls().to(device)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.g_net.parameters(), lr=config.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.d_net.parameters(), lr=config.lr, betas=betas)
        self.ema = None
        if config.ema_decay > 0:  # its first update copies the (synchronised) generator
            self.ema = AveragedModel(self.g_net, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
        images, _ = load_fashion_mnist("train", root=self.data_dir)
        self.stream = BatchStream(as_tensor(images), config.batch_size, config.seed, acc.process_index,
                                  acc.num_processes)
        self.fixed_z = self.g_net.sample_latent(36, torch.Generator().manual_seed(1234)).to(device)
        self.images_seen = 0

    def state_dict(self) -> dict:
        return {"G": self.g_net.state_dict(), "D": self.d_net.state_dict(), "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict(), "ema": self.ema.state_dict() if self.ema is not None else None,
                "stream": self.stream.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.g_net.load_state_dict(state["G"])
        self.d_net.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.stream.load_state_dict(state["stream"])

    def prepare(self, acc) -> None:
        # G, D: DDP-wrapped under data parallelism
        self.G, self.D, self.opt_g, self.opt_d = acc.prepare(self.g_net, self.d_net, self.opt_g, self.opt_d)
        self.G.train()
        self.D.train()

    def step(self, step: int) -> dict:
        config, acc, device = self.config, self.acc, self.acc.device
        g_net, d_net = self.g_net, self.d_net
        # --- critic ---
        for _ in range(config.critic_steps):
            real = self.stream.next().to(device)
            self.images_seen += real.size(0)
            with torch.no_grad(), acc.autocast():
                fake = self.G(g_net.sample_latent(real.size(0)).to(device)).float()
            if config.arch == "su2017":
                d_total, info = critic_loss_su2017(self.D, real, fake, config.penalty)
            else:
                d_total, info = critic_loss_r1(self.D, real, fake, config.penalty, acc.autocast())
            self.opt_d.zero_grad(set_to_none=True)
            acc.backward(d_total)
            self.opt_d.step()
        # --- generator (scored by the unwrapped critic: its weights are frozen here) ---
        for p in d_net.parameters():
            p.requires_grad_(False)
        with acc.autocast():
            fake = self.G(g_net.sample_latent(config.batch_size).to(device))
        if config.arch == "su2017":
            g_loss = generator_loss_su2017(d_net, fake.float())
        else:
            g_loss = generator_loss_ns(d_net, fake, acc.autocast())
        self.opt_g.zero_grad(set_to_none=True)
        acc.backward(g_loss.float())
        self.opt_g.step()
        for p in d_net.parameters():
            p.requires_grad_(True)
        if self.ema is not None:
            self.ema.update_parameters(g_net)
        return {"d_loss": info["d_loss"], "g_loss": g_loss.item(), "penalty": info["penalty"]}

    def sample_net(self):
        return self.ema.module if self.ema is not None else self.g_net

    def sample(self):
        net = self.sample_net()
        net.eval()
        with torch.inference_mode():
            images = net(self.fixed_z).float()
        self.g_net.train()
        return images

    def summary(self) -> dict:
        per_rank = self.acc.gather(torch.tensor([self.images_seen], device=self.acc.device)).cpu().tolist()
        return {"arch": self.config.arch, "images_per_process_this_run": per_rank}

    def export(self, export_dir: Path, summary: dict) -> None:
        """The generator as a PyTorchModelHubMixin folder, with its card."""
        self.sample_net().cpu().eval().save_pretrained(export_dir)
        write_card(summary["arch"], export_dir)  # replaces the mixin's generic card; `eval gan --write-card` adds metrics


def train(config: TrainConfig, out_dir: str | os.PathLike, export_dir: str | os.PathLike | None = None,
          data_dir: str | None = None, **options) -> dict:
    """Train (or resume) a GAN; return a summary. Exports the generator when ``steps`` is reached.
    ``options``: the run loop's (``max_minutes``, ``save_minutes``, ``save_every``, ``log_every``,
    ``sample_every``, ``progress``, ``command``; see ``playground.training.run``)."""
    return run(GanAlgorithm(config, data_dir), out_dir, export_dir, **options)
