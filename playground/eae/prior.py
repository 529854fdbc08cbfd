"""Ex-post priors: a Gaussian mixture fitted to a trained autoencoder's codes (Ghosh et al. 2020, RAE).

The write-up samples z ~ N(0, I) and trusts the regulariser (entropy, BatchNorm or KL) to have made
the aggregate code look like that. Ghosh et al. fit a 10-component, full-covariance Gaussian mixture
to the training codes after training and sample from it instead; on MNIST a plain autoencoder went
from FID 58.7 to 10.7. The mixture is a fair test of the EAE write-up's claim: if the entropy term
really makes the code Gaussian, the mixture gains little for ``eae`` and much for ``ae-bn``.

The fit is scikit-learn's ``GaussianMixture`` (EM with k-means initialisation, several restarts,
a ridge on each covariance): a well-kept implementation of exactly this model, so there is no EM of
our own to get subtly wrong. Sampling and densities are torch (``MixturePrior``), so that a seed gives
the same latents on every device. The fitted mixture is stored beside the checkpoint as
``prior-gmm.safetensors`` (weights, means, covariances; float32) with the fit's record as metadata.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

FILE = "prior-gmm.safetensors"
COMPONENTS = 10


class MixturePrior(nn.Module):
    """A Gaussian mixture over the latent space: ``sample`` draws from it, ``log_prob`` scores codes.

    ``temperature`` scales each component's spread (its standard deviations), not the means: at
    temperature 0.5 the draws stay near the component centres, as z ~ N(0, T^2 I) does for N(0, I).
    """

    def __init__(self, weights: torch.Tensor, means: torch.Tensor, covariances: torch.Tensor):
        super().__init__()
        self.register_buffer("weights", weights.float())
        self.register_buffer("means", means.float())
        self.register_buffer("covariances", covariances.float())
        self.register_buffer("cholesky", torch.linalg.cholesky(covariances.double()).float())

    @property
    def components(self) -> int:
        return len(self.weights)

    @property
    def latent_dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """``n`` latents (on the CPU): a component by its weight, then its mean plus
        ``temperature`` times its Cholesky factor times standard normal noise. Each latent is drawn
        from its own d + 1 normal numbers (the last one, through the normal CDF, picks the component),
        so the first k latents of a seed do not depend on n, as with z ~ N(0, I)."""
        noise = torch.stack([torch.randn(self.latent_dim + 1, generator=generator) for _ in range(n)])
        eps, u = noise[:, :-1], torch.special.ndtr(noise[:, -1].double())
        cumulative = torch.cumsum(self.weights.cpu().double(), 0)
        component = torch.searchsorted(cumulative / cumulative[-1], u).clamp_max(self.components - 1)
        chol, means = self.cholesky.cpu(), self.means.cpu()
        return means[component] + temperature * torch.einsum("nij,nj->ni", chol[component], eps)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) under the mixture, for codes ``z`` (n, d)."""
        z = z.to(self.means.device, torch.float64)
        chol = self.cholesky.double()
        diff = z[:, None, :] - self.means.double()[None]  # (n, K, d)
        solved = torch.linalg.solve_triangular(chol[None].expand(len(z), -1, -1, -1), diff.unsqueeze(-1),
                                               upper=False).squeeze(-1)
        log_det = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        log_gauss = -0.5 * (solved.pow(2).sum(-1) + log_det + self.latent_dim * math.log(2 * math.pi))
        return torch.logsumexp(log_gauss + torch.log(self.weights.double()), dim=1)


def fit(codes: np.ndarray, components: int = COMPONENTS, seed: int = 0, n_init: int = 1,
        reg_covar: float = 1e-4) -> tuple[MixturePrior, dict]:
    """Fit a full-covariance mixture to ``codes`` (n, d); returns the prior and the fit's record."""
    from sklearn.mixture import GaussianMixture

    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) < components:
        raise ValueError(f"codes must be an (n, d) array with at least {components} rows, not shape {codes.shape}")
    t0 = time.process_time()
    gmm = GaussianMixture(n_components=components, covariance_type="full", n_init=n_init, reg_covar=reg_covar,
                          max_iter=500, random_state=seed).fit(codes)
    record = {"components": components, "covariance": "full", "n_init": n_init, "reg_covar": reg_covar,
              "seed": seed, "codes": int(len(codes)), "latent_dim": int(codes.shape[1]),
              "converged": bool(gmm.converged_), "iterations": int(gmm.n_iter_),
              "mean_log_likelihood": round(float(gmm.score(codes)), 4),
              "cpu_seconds": round(time.process_time() - t0, 1),
              "fitter": "sklearn.mixture.GaussianMixture"}
    prior = MixturePrior(torch.from_numpy(gmm.weights_), torch.from_numpy(gmm.means_),
                         torch.from_numpy(gmm.covariances_))
    return prior, record


def save(prior: MixturePrior, folder: Path, record: dict) -> Path:
    """Write ``prior-gmm.safetensors`` into ``folder`` (atomically), the record as its metadata."""
    path = Path(folder) / FILE
    tmp = path.with_suffix(".tmp")
    save_file({"weights": prior.weights.cpu().contiguous(), "means": prior.means.cpu().contiguous(),
               "covariances": prior.covariances.cpu().contiguous()}, str(tmp),
              metadata={"record": json.dumps(record)})
    tmp.replace(path)
    return path


def read_record(folder: Path) -> dict:
    """The fit's record stored in the file's metadata (``{}`` when there is none)."""
    try:
        with safe_open(str(Path(folder) / FILE), "pt") as f:
            return json.loads((f.metadata() or {}).get("record", "{}"))
    except (OSError, SafetensorError, ValueError):
        return {}


def load(folder: Path, latent_dim: int, name: str) -> MixturePrior:
    """The mixture stored beside a checkpoint. A missing, unreadable or inconsistent file is a
    ``ValueError`` naming the model (``name``) and how to refit it."""
    path = Path(folder) / FILE
    refit = f"fit it again with `python -m playground prior eae --model {name}`"
    if not path.is_file():
        raise ValueError(f"{name} has no mixture prior ({FILE} is missing beside its weights): {refit}")
    try:
        tensors = load_file(str(path))
        weights, means, covs = tensors["weights"], tensors["means"], tensors["covariances"]
    except (OSError, SafetensorError, KeyError, RuntimeError) as e:
        raise ValueError(f"{name}'s mixture prior ({FILE}) cannot be read ({type(e).__name__}); {refit}") from None
    k = len(weights) if weights.ndim == 1 else -1
    if k < 1 or means.shape != (k, latent_dim) or covs.shape != (k, latent_dim, latent_dim):
        raise ValueError(f"{name}'s mixture prior ({FILE}) does not fit a {latent_dim}-dimensional code "
                         f"(weights {tuple(weights.shape)}, means {tuple(means.shape)}); {refit}")
    if not all(torch.isfinite(t).all() for t in (weights, means, covs)) or (weights < 0).any() \
            or abs(weights.double().sum().item() - 1) > 1e-3:
        raise ValueError(f"{name}'s mixture prior ({FILE}) has invalid numbers (weights must be >= 0 and sum "
                         f"to 1, all values finite); {refit}")
    _, info = torch.linalg.cholesky_ex(covs.double())
    if (info != 0).any():
        raise ValueError(f"{name}'s mixture prior ({FILE}) has a covariance that is not positive definite; {refit}")
    return MixturePrior(weights / weights.sum(), means, covs)
