"""The EAE tab's Python API: ``generate``, ``reconstruct``, ``interpolate``, ``latent_report``, ``fit_prior``.

The UI calls exactly these. ``model`` is one of the shipped models, ``"eae"``, ``"ae-bn"``
or ``"vae"`` (all the same convolutional autoencoder, trained three ways), or a path to a
folder written by ``python -m playground train eae --export``.

``prior`` picks where latents come from: ``"normal"``, z ~ N(0, I) (the write-up's method, the
default), or ``"gmm"``, the 10-component Gaussian mixture fitted after training to the model's
training codes (``prior.py``; Ghosh et al. 2020), stored beside the weights.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..checkpoints import checkpoint_dir, load_pretrained
from ..checks import check_choice, check_float, check_int, validate_seed
from ..device import manager
from ..images import OUTPUT_TYPES, to_fashion_image, to_pil, to_uint8
from ..latent import slerp
from . import prior as mixture
from .models import KINDS, Autoencoder, gaussian_entropy, knn_entropy

MODELS = KINDS
DEFAULT_MODEL = "eae"
MAX_N = 10_000
MAX_IMAGES = 1_000  # reconstruct: images per call
BATCH = 1_000
MAX_TEMPERATURE = 10.0
PRIORS = ("normal", "gmm")
DEFAULT_PRIOR = "normal"


def checkpoint_name(model: str) -> str:
    return f"eae-{model}"


def _check_model(model) -> str:
    if isinstance(model, os.PathLike) or (isinstance(model, str) and os.path.isabs(model)):
        return str(model)
    return check_choice("model", model, MODELS, note="(or the absolute path of an exported folder)")


def load_model(model: str = DEFAULT_MODEL) -> Autoencoder:
    """The model, loaded once and cached by the device manager."""
    model = _check_model(model)
    source = Path(model) if os.path.isabs(model) else checkpoint_name(model)
    return manager.get(f"eae/{model}", lambda: load_pretrained(Autoencoder, source))


def model_dir(model: str = DEFAULT_MODEL) -> Path:
    model = _check_model(model)
    return Path(model) if os.path.isabs(model) else checkpoint_dir(checkpoint_name(model))


def _check_prior(prior) -> str:
    return check_choice("prior", prior, PRIORS, note="(normal: N(0, I), the write-up's; gmm: the fitted mixture)")


def load_prior(model: str = DEFAULT_MODEL) -> mixture.MixturePrior:
    """The model's fitted mixture prior, loaded once and cached; a ``ValueError`` naming the model
    when its ``prior-gmm.safetensors`` is missing or corrupt (the other models are unaffected)."""
    model = _check_model(model)
    dim = load_model(model).latent_dim
    return manager.get(f"eae/{model}/gmm", lambda: mixture.load(model_dir(model), dim, Path(model).name))


def sample_latent(model: str, n: int, generator: torch.Generator, temperature: float = 1.0,
                  prior: str = DEFAULT_PRIOR) -> torch.Tensor:
    """``n`` latents from the chosen prior, at a temperature (the spread: N(0, T^2 I), or each mixture
    component's standard deviations times T)."""
    if prior == "gmm":
        return load_prior(model).sample(n, generator, temperature)
    return load_model(model).sample_latent(n, generator, temperature)


@manager.gpu
def _decode(model: str, z: torch.Tensor) -> np.ndarray:
    net = load_model(model)
    with manager.inference():
        return np.concatenate([to_uint8(net.decode(c.to(manager.device))) for c in z.split(BATCH)])


def generate(n: int = 16, seed: int | None = None, model: str = DEFAULT_MODEL, temperature: float = 1.0,
             output_type: str = "pil", prior: str = DEFAULT_PRIOR):
    """Draw ``n`` images (1 to 10,000): z from the prior -> decoder. ``prior="normal"``:
    z ~ N(0, temperature^2 I) (the write-up's); ``prior="gmm"``: the fitted mixture, each
    component's spread scaled by ``temperature``.

    The same seed gives the same images; ``seed=None`` draws one (recorded in each PIL
    image's PNG text chunk). Returns 28x28 greyscale PIL images, or with
    ``output_type="np"`` a uint8 array of shape (n, 28, 28).
    """
    n = check_int("n", n, 1, MAX_N)
    model = _check_model(model)
    temperature = check_float("temperature", temperature, 0, MAX_TEMPERATURE, low_open=True)
    check_choice("output_type", output_type, OUTPUT_TYPES)
    prior = _check_prior(prior)
    seed = validate_seed(seed)
    images = _decode(model, sample_latent(model, n, manager.generator(seed), temperature, prior))
    if output_type == "np":
        return images
    params = [{"model": f"eae/{model}", "prior": prior, "seed": seed, "temperature": temperature, "n": n, "index": i}
              for i in range(n)]
    return to_pil(images, params)


def interpolate(seed_a: int, seed_b: int, steps: int = 8, model: str = DEFAULT_MODEL, output_type: str = "pil",
                prior: str = DEFAULT_PRIOR):
    """``steps`` (2 to 64) frames between the latents of two seeds.

    Frame 0 is ``generate(1, seed_a, prior=prior)``, the last is ``generate(1, seed_b, prior=prior)``.
    Under N(0, I) the path is the great circle (slerp keeps the in-between latents at the prior's
    typical radius); under the mixture, whose mass does not sit on a shell around 0, it is the straight
    line between the two latents.
    """
    seed_a, seed_b = validate_seed(seed_a, "seed_a"), validate_seed(seed_b, "seed_b")
    steps = check_int("steps", steps, 2, 64)
    model = _check_model(model)
    check_choice("output_type", output_type, OUTPUT_TYPES)
    prior = _check_prior(prior)
    za = sample_latent(model, 1, manager.generator(seed_a), 1.0, prior)[0]
    zb = sample_latent(model, 1, manager.generator(seed_b), 1.0, prior)[0]
    ts = torch.linspace(0, 1, steps)
    path = [slerp(za, zb, t) for t in ts] if prior == "normal" else [torch.lerp(za, zb, t) for t in ts]
    frames = _decode(model, torch.stack(path))
    if output_type == "np":
        return frames
    params = [{"model": f"eae/{model}", "prior": prior, "seed_a": seed_a, "seed_b": seed_b, "steps": steps,
               "t": round(float(t), 4)} for t in ts]
    return to_pil(frames, params)


# --------------------------------------------------------------------------- reconstruct
def _as_batch(images) -> np.ndarray:
    if isinstance(images, np.ndarray) and images.ndim == 3 and images.dtype == np.uint8 \
            and images.shape[1:] == (28, 28):
        return images  # already Fashion-MNIST-shaped
    if isinstance(images, (Image.Image, str, os.PathLike, bytes, bytearray)) or \
            (isinstance(images, (np.ndarray, torch.Tensor)) and
             (images.ndim == 2 or (images.ndim == 3 and images.shape[-1] in (3, 4)))):
        images = [images]  # one image: greyscale (H, W) or colour (H, W, 3|4)
    if not isinstance(images, (list, tuple, np.ndarray, torch.Tensor)) or len(images) == 0:
        raise ValueError("images must be a non-empty list of images (PIL, arrays, file paths) or one image")
    if len(images) > MAX_IMAGES:
        raise ValueError(f"at most {MAX_IMAGES} images per call, not {len(images)}")
    return np.stack([to_fashion_image(im) for im in images])


@manager.gpu
def _reconstruct(model: str, x: torch.Tensor) -> np.ndarray:
    net = load_model(model)
    with manager.inference():
        return np.concatenate([to_uint8(net.reconstruct(c.to(manager.device))) for c in x.split(BATCH)])


def reconstruct(images, model: str = DEFAULT_MODEL, output_type: str = "pil"):
    """Encode and decode images: any images (PIL, arrays, file paths, bytes), converted to
    28x28 greyscale. Returns ``(inputs, reconstructions)``, both lists of PIL images (or
    uint8 arrays (N, 28, 28) with ``output_type="np"``), the inputs as the model saw them.
    """
    model = _check_model(model)
    check_choice("output_type", output_type, OUTPUT_TYPES)
    from ..data import as_tensor

    x = _as_batch(images)
    recon = _reconstruct(model, as_tensor(x))
    if output_type == "np":
        return x, recon
    return (to_pil(x, [{"model": f"eae/{model}", "input": i} for i in range(len(x))]),
            to_pil(recon, [{"model": f"eae/{model}", "reconstruction_of": i} for i in range(len(x))]))


def reconstruction_error(model: str = DEFAULT_MODEL, split: str = "test", data_dir=None) -> dict:
    """Mean per-image sum of squared errors (pixels in [0, 1]) and per-pixel MSE on a split."""
    from ..data import as_tensor, load_fashion_mnist

    images, _ = load_fashion_mnist(split, root=data_dir)
    x = as_tensor(images)
    recon = torch.from_numpy(_reconstruct(_check_model(model), x)).float().div(255).unsqueeze(1)
    sse = (recon - x).pow(2).flatten(1).sum(1)
    return {"split": split, "n": len(x), "sse": round(sse.mean().item(), 4), "mse": round(sse.mean().item() / 784, 6)}


# --------------------------------------------------------------------------- latent report
def ks_statistic(x: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance between the empirical distribution of ``x`` and N(0, 1)."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    n = len(x)
    cdf = 0.5 * (1 + torch.special.erf(torch.from_numpy(x) / math.sqrt(2))).numpy()
    i = np.arange(1, n + 1)
    return float(max((i / n - cdf).max(), (cdf - (i - 1) / n).max()))


@manager.gpu
def _codes(model: str, x: torch.Tensor, seed: int) -> np.ndarray:
    """Codes of the images: BatchNorm-normalised codes (eae, ae-bn) or a posterior sample (vae)."""
    net = load_model(model)
    g = torch.Generator().manual_seed(seed)
    out = []
    with manager.inference():
        for c in x.split(BATCH):
            code, logvar = net.encode(c.to(manager.device))
            if logvar is not None:  # the VAE's aggregate posterior: one sample of q(z|x) per image
                code = code + torch.exp(0.5 * logvar) * torch.randn(code.shape, generator=g).to(code.device)
            out.append(code.float().cpu())
    return torch.cat(out).double().numpy()


def fd_to_standard_normal(codes: np.ndarray) -> float:
    """Frechet distance between the Gaussian fit of ``codes`` (n, d) and N(0, I), in closed form:
    ||mu||^2 + tr(S) + d - 2 tr(S^1/2) (no sampling of the prior, so no sampling bias)."""
    mu = codes.mean(0)
    eig = np.clip(np.linalg.eigvalsh(np.cov(codes, rowvar=False)), 0, None)
    return float(mu @ mu + eig.sum() + codes.shape[1] - 2 * np.sqrt(eig).sum())


def latent_report(model: str = DEFAULT_MODEL, data_dir=None, k: int = 5, seed: int = 0) -> dict:
    """How Gaussian the aggregate code of the 10,000 test images is.

    * per-dimension mean and standard deviation of the codes;
    * the k-NN entropy estimate of the codes next to the maximum for unit variance,
      d/2 log(2 pi e), and next to the same estimator on 10,000 draws from N(0, I)
      (the estimator is biased in high dimension: that is the fair comparison);
    * normality: the Frechet distance of the codes' Gaussian fit to N(0, I) (closed form), per-dimension
      Kolmogorov-Smirnov statistics against N(0, 1), and the share of prior draws z ~ N(0, I)
      that land near some code ("prior coverage": the k-NN recall of codes by prior draws,
      1 - the share that falls in holes the decoder never saw);
    * quantiles for a QQ plot (pooled over dimensions);
    * ``gmm``: the same coverage figures for draws from the fitted mixture prior, and the mean
      log-likelihood of the test codes under N(0, I) and under the mixture (nats per code: how much
      better the mixture describes the codes), or ``{"error": ...}`` when the model has none.
    """
    from ..data import as_tensor, load_fashion_mnist
    from ..metrics import precision_recall

    model = _check_model(model)
    k = check_int("k", k, 1, 100)
    seed = validate_seed(seed)
    images, _ = load_fashion_mnist("test", root=data_dir)
    codes = _codes(model, as_tensor(images), seed)
    n, d = codes.shape
    prior = torch.randn(n, d, generator=torch.Generator().manual_seed(seed + 1)).double().numpy()
    ks = np.array([ks_statistic(codes[:, j]) for j in range(d)])
    entropy = knn_entropy(torch.from_numpy(codes).float(), k).item()
    entropy_prior = knn_entropy(torch.from_numpy(prior).float(), k).item()
    prior_precision, code_recall = precision_recall(codes, prior, k=3)
    probs = (np.arange(1, 100) / 100.0)
    pooled = codes.ravel()
    worst = int(ks.argmax())
    gmm = _mixture_report(model, codes, seed)
    return {
        "model": model,
        "n": int(n),
        "latent_dim": int(d),
        "mean": np.round(codes.mean(0), 4).tolist(),
        "std": np.round(codes.std(0), 4).tolist(),
        "entropy_knn": round(entropy, 3),
        "entropy_knn_of_n01_samples": round(entropy_prior, 3),
        "entropy_max_unit_variance": round(gaussian_entropy(d), 3),
        "k": k,
        "fd_to_n01": round(fd_to_standard_normal(codes), 4),
        "ks_mean": round(float(ks.mean()), 4),
        "ks_max": round(float(ks.max()), 4),
        "ks_worst_dim": worst,
        "prior_coverage": round(prior_precision, 4),
        "codes_covered_by_prior": round(code_recall, 4),
        "gmm": gmm,
        "qq": {
            "normal": np.round(torch.special.ndtri(torch.from_numpy(probs)).numpy(), 4).tolist(),
            "pooled": np.round(np.quantile(pooled, probs), 4).tolist(),
            "worst_dim": np.round(np.quantile(codes[:, worst], probs), 4).tolist(),
        },
    }


def _mixture_report(model: str, codes: np.ndarray, seed: int) -> dict:
    """The latent report's mixture part (see ``latent_report``)."""
    from ..metrics import precision_recall

    try:
        gmm = load_prior(model)
    except ValueError as e:
        return {"error": str(e)}
    n, d = codes.shape
    draws = gmm.sample(n, torch.Generator().manual_seed(seed + 2)).double().numpy()
    coverage, covered = precision_recall(codes, draws, k=3)
    z = torch.from_numpy(codes)
    log_n01 = (-0.5 * z.pow(2).sum(1) - 0.5 * d * math.log(2 * math.pi)).mean().item()
    return {"components": gmm.components, "prior_coverage": round(coverage, 4),
            "codes_covered_by_prior": round(covered, 4),
            "test_log_likelihood_n01": round(log_n01, 3),
            "test_log_likelihood_gmm": round(gmm.log_prob(z).mean().item(), 3),
            "fd_gmm_draws_to_codes": round(_frechet(draws, codes), 4)}


def _frechet(a: np.ndarray, b: np.ndarray) -> float:
    from ..metrics import frechet_distance

    return frechet_distance(a, b)


# --------------------------------------------------------------------------- the mixture prior's fit
def training_codes(model: str = DEFAULT_MODEL, data_dir=None, seed: int = 0) -> np.ndarray:
    """The codes of the 60,000 training images (the VAE: one posterior sample each, a draw of its
    aggregate posterior, which is what its decoder was trained on)."""
    from ..data import as_tensor, load_fashion_mnist

    images, _ = load_fashion_mnist("train", root=data_dir)
    return _codes(_check_model(model), as_tensor(images), validate_seed(seed))


def fit_prior(model: str = DEFAULT_MODEL, components: int = mixture.COMPONENTS, seed: int = 0, data_dir=None,
              command: str = "") -> dict:
    """Fit the mixture prior to the model's training codes and store it beside the weights
    (``prior-gmm.safetensors``); returns the fit's record. The cached mixture is replaced."""
    model = _check_model(model)
    components = check_int("components", components, 1, 100)
    t0 = time.time()
    codes = training_codes(model, data_dir, seed)
    gmm, record = mixture.fit(codes, components=components, seed=seed)
    record.update(model=Path(model).name, wall_seconds=round(time.time() - t0, 1), command=command)
    path = mixture.save(gmm, model_dir(model), record)
    manager.unload(f"eae/{model}/gmm")
    record["file"] = str(path)
    return record
