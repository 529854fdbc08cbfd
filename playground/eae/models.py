"""The autoencoder shared by the three EAE-tab models, and the k-NN entropy estimator.

One network, three ways to train it (``kind``):

* ``eae``: encoder -> code -> BatchNorm **without** learnable scale or shift -> decoder,
  trained on reconstruction error minus lambda times the batch's k-NN entropy of the
  normalised codes (Ghose, Rashwan & Poupart, UAI 2020);
* ``ae-bn``: the same network with lambda = 0 (BatchNorm alone);
* ``vae``: the same encoder with twice the outputs (mean and log-variance), no BatchNorm,
  and the reparameterised KL-regularised loss.

All three generate the same way: z ~ N(0, I) -> decoder.
"""

from __future__ import annotations

import math

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

KINDS = ("eae", "ae-bn", "vae")


class Encoder(nn.Module):
    """28x28 -> 14x14 -> 7x7 convs (BatchNorm, LeakyReLU) -> linear to ``out_dim``."""

    def __init__(self, out_dim: int, channels: int = 32):
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c, 4, stride=2, padding=1),  # 14x14
            nn.BatchNorm2d(c),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),  # 7x7
            nn.BatchNorm2d(2 * c),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 4 * c, 3, padding=1),
            nn.BatchNorm2d(4 * c),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(4 * c * 7 * 7, out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)


class Decoder(nn.Module):
    """Linear to 7x7 -> two stride-2 transposed convs (BatchNorm, ReLU) -> 28x28 in [0, 1]."""

    def __init__(self, latent_dim: int, channels: int = 32):
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 4 * c * 7 * 7, bias=False),
            nn.Unflatten(1, (4 * c, 7, 7)),
            nn.BatchNorm2d(4 * c),
            nn.ReLU(),
            nn.ConvTranspose2d(4 * c, 2 * c, 4, stride=2, padding=1, bias=False),  # 14x14
            nn.BatchNorm2d(2 * c),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1, bias=False),  # 28x28
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.Conv2d(c, 1, 3, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Autoencoder(nn.Module, PyTorchModelHubMixin):
    """Encoder, latent layer and decoder; ``kind`` says how the latent layer works."""

    def __init__(self, kind: str = "eae", latent_dim: int = 32, channels: int = 32):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, not {kind!r}")
        self.kind, self.latent_dim = kind, latent_dim
        self.encoder = Encoder(2 * latent_dim if kind == "vae" else latent_dim, channels)
        # the write-up's BatchNorm: no learnable scale or shift, so the batch's codes have
        # mean 0 and variance 1 in every dimension
        self.latent_norm = None if kind == "vae" else nn.BatchNorm1d(latent_dim, affine=False)
        self.decoder = Decoder(latent_dim, channels)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Images (N, 1, 28, 28) in [0, 1] -> (code, log-variance or None).

        For ``eae``/``ae-bn`` the code is the BatchNorm-normalised one; for ``vae`` it is the
        posterior mean, returned with the posterior log-variance.
        """
        h = self.encoder(x)
        if self.kind == "vae":
            mean, logvar = h.chunk(2, dim=1)
            return mean, logvar.clamp(-12, 8)
        return self.latent_norm(h), None

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def sample_latent(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0):
        return torch.randn(n, self.latent_dim, generator=generator) * temperature

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic reconstruction (through the posterior mean for the VAE)."""
        return self.decode(self.encode(x)[0])

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None):
        """The training pass: (reconstruction, code, log-variance or None).

        For the VAE, ``noise`` ~ N(0, I) gives the reparameterised sample
        z = mean + exp(logvar / 2) * noise that is decoded; without it the mean is decoded.
        """
        code, logvar = self.encode(x)
        z = code if noise is None or logvar is None else code + torch.exp(0.5 * logvar) * noise
        return self.decode(z), code, logvar


# --------------------------------------------------------------------------- entropy
def log_unit_ball_volume(d: int) -> float:
    """log V_d, V_d = pi^(d/2) / Gamma(d/2 + 1), the volume of the unit ball in R^d."""
    return 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1)


def knn_entropy(z: torch.Tensor, k: int = 1) -> torch.Tensor:
    """Kozachenko-Leonenko k-nearest-neighbour estimate of the entropy (nats) of the
    distribution the rows of ``z`` (n, d) were drawn from:

        H = psi(n) - psi(k) + log V_d + (d / n) * sum_i log eps_k(i),

    eps_k(i) the Euclidean distance from z_i to its k-th nearest other row. Differentiable
    in ``z`` (only the last term depends on it), so it can be maximised by gradient ascent.
    """
    n, d = z.shape
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and n - 1 = {n - 1}, not {k}")
    z = z.float()
    kth_sq = torch.cat([_kth_neighbour_sq(z, chunk, start, k) for start, chunk in zip(range(0, n, 1024), z.split(1024))])
    log_eps = 0.5 * torch.log(kth_sq + 1e-12)
    const = torch.special.digamma(torch.tensor(float(n))) - torch.special.digamma(torch.tensor(float(k)))
    return const.to(z.device) + log_unit_ball_volume(d) + d * log_eps.mean()


def _kth_neighbour_sq(z: torch.Tensor, rows: torch.Tensor, start: int, k: int) -> torch.Tensor:
    """Squared distance from each of ``rows`` (= z[start:start + len(rows)]) to its k-th nearest other row of z."""
    sq = (rows[:, None, :] - z[None, :, :]).pow(2).sum(-1) if len(z) <= 1024 else torch.cdist(rows, z, compute_mode="donot_use_mm_for_euclid_dist").pow(2)
    own = torch.arange(len(rows), device=z.device)
    sq = sq.index_put((own, own + start), torch.tensor(float("inf"), device=z.device))  # never your own neighbour
    return sq.kthvalue(k, dim=1).values


def gaussian_entropy(d: int, std: float = 1.0) -> float:
    """Entropy of N(0, std^2 I_d): the maximum for a d-dimensional code of that variance."""
    return 0.5 * d * math.log(2 * math.pi * math.e * std**2)
