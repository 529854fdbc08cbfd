"""The DDPM tab's Python API: ``generate``, ``frames`` (streaming) and ``interpolate``.

The UI calls exactly these. ``model=None`` is the shipped Fashion-MNIST pipeline
(``checkpoints/ddpm-fashion``); any other diffusers unconditional pipeline can be named by
its folder or its Hugging Face Hub id (``"google/ddpm-cifar10-32"``), loaded from
safetensors only. RGB models give RGB images.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ..checkpoints import checkpoint_dir, load_saved
from ..checks import check_choice, check_float, check_int, validate_seed
from ..device import bf16_fast, manager
from ..images import OUTPUT_TYPES, open_image, to_fashion_image, to_pil, to_uint8
from .pipeline import SAMPLERS, denoise, make_sampler

SHIPPED = "ddpm-fashion"  # folder under checkpoints/
SHIPPED_FILES = ("model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                 "scheduler/scheduler_config.json")
MAX_N = 10_000
MAX_FRAMES_N = 64  # frames(): images per streamed call
BATCH = 500  # images per U-Net batch in generate
DEFAULT_STEPS = {"ddpm": 1000, "ddim": 50, "dpm++": 25}
PRESETS = {  # the tab's presets: (sampler, steps)
    "fast": ("dpm++", 10),
    "balanced": ("dpm++", 25),
    "faithful": ("ddpm", 1000),
}


# --------------------------------------------------------------------------- checks
def _check_sampling(sampler, eta, output_type) -> tuple[str, float]:
    sampler, eta = check_choice("sampler", sampler, SAMPLERS), check_float("eta", eta, 0, 1)
    check_choice("output_type", output_type, OUTPUT_TYPES)
    return sampler, eta


def _check_model(model) -> str:
    """None -> the shipped pipeline; else a pipeline folder or a Hub id, as a string."""
    if model is None:
        return SHIPPED
    if isinstance(model, os.PathLike):
        model = str(model)
    if not isinstance(model, str) or not model.strip() or len(model) > 300 or "\x00" in model:
        raise ValueError(f"model must be None (the shipped model), a diffusers pipeline folder or a Hugging Face "
                         f"Hub id such as 'google/ddpm-cifar10-32', not {str(model)[:100]!r}")
    return model.strip()


# --------------------------------------------------------------------------- loading
def model_dir(model: str | None = None) -> Path:
    """The local folder of a shipped or folder model (Hub ids have none until downloaded)."""
    model = _check_model(model)
    return checkpoint_dir(SHIPPED) if model == SHIPPED else Path(model)


def _load_pipeline_parts(model: str):
    """(unet, training scheduler) of a pipeline folder or Hub id, weights from safetensors only."""
    from diffusers import DDPMPipeline, DDPMScheduler

    source = model_dir(model) if model == SHIPPED or os.path.isdir(model) else model
    pipe = load_saved(lambda src, **kw: DDPMPipeline.from_pretrained(src, use_safetensors=True, **kw), source,
                      "diffusers DDPM pipeline", required=SHIPPED_FILES if model == SHIPPED else (),
                      weights=lambda pipe: [pipe.unet])
    scheduler = pipe.scheduler
    if not isinstance(scheduler, DDPMScheduler):
        scheduler = DDPMScheduler.from_config(scheduler.config)
    return pipe.unet, scheduler


def load_unet(model: str | None = None):
    """The model's U-Net, loaded once and cached by the device manager; its training
    scheduler rides along as ``unet.noise_scheduler``."""
    model = _check_model(model)

    def loader():
        unet, scheduler = _load_pipeline_parts(model)
        unet.noise_scheduler = scheduler
        return unet

    return manager.get(f"ddpm/{model}", loader)


def _check_steps(steps, unet) -> int:
    return check_int("steps", steps, 1, unet.noise_scheduler.config.num_train_timesteps)


def _shape(unet) -> tuple[int, int, int]:
    size = unet.config.sample_size
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    return unet.config.in_channels, h, w


def _autocast() -> bool:
    """bfloat16 autocast for sampling where the device computes in it natively (``bf16_fast``: a CPU
    with AVX512-BF16 or AMX, measured faster there, see the model card; a CUDA GPU from Ampere on).
    ``PLAYGROUND_DDPM_BF16=0``: float32 everywhere."""
    if os.environ.get("PLAYGROUND_DDPM_BF16", "1") == "0":
        return False
    return bf16_fast(manager.device)


def _to_unit(x: torch.Tensor) -> torch.Tensor:
    return ((x.float() + 1) / 2).clamp(0, 1)


def _params(model: str, **kw) -> dict:
    return {"model": f"ddpm/{model}", **kw}


# --------------------------------------------------------------------------- sampling
@manager.gpu(duration=120)
def _sample(model: str, n: int, steps: int, sampler: str, eta: float, seed: int) -> np.ndarray:
    unet = load_unet(model)
    g = manager.generator(seed)
    out = []
    for start in range(0, n, BATCH):
        m = min(BATCH, n - start)
        x = torch.randn((m, *_shape(unet)), generator=g).to(manager.device)
        # a device slot per U-Net call: other requests are served between the steps
        for _, _, x, _ in manager.steps(denoise(unet, unet.noise_scheduler, x, steps, sampler, eta, g,
                                                autocast=_autocast())):
            pass
        out.append(to_uint8(_to_unit(x)))
    return np.concatenate(out)


def generate(n: int = 16, steps: int = 25, sampler: str = "dpm++", eta: float = 0.0, seed: int | None = None,
             model: str | None = None, output_type: str = "pil"):
    """Draw ``n`` images (1 to 10,000) with ``sampler`` ("ddpm", "ddim" or "dpm++") in ``steps``
    denoising steps (1 to the schedule's T, 1000 for the shipped model).

    ``eta`` (0 to 1) is DDIM's stochasticity (0: deterministic); the other samplers ignore it.
    The same ``seed`` gives the same images (``None`` draws one, recorded in each PNG's
    parameters). Returns PIL images, or with ``output_type="np"`` a uint8 array: (n, 28, 28)
    for the shipped model, (n, H, W, 3) for an RGB one.
    """
    n = check_int("n", n, 1, MAX_N)
    sampler, eta = _check_sampling(sampler, eta, output_type)
    seed = validate_seed(seed)
    model = _check_model(model)
    steps = _check_steps(steps, load_unet(model))
    images = _sample(model, n, steps, sampler, eta, seed)
    if output_type == "np":
        return images
    return to_pil(images, [_params(model, sampler=sampler, steps=steps, eta=eta, seed=seed, n=n, index=i)
                           for i in range(n)])


def frames(n: int = 16, steps: int = 25, sampler: str = "dpm++", eta: float = 0.0, seed: int | None = None,
           model: str | None = None, output_type: str = "pil") -> Iterator[dict]:
    """The denoising of ``generate(n, steps, sampler, eta, seed, model)`` step by step (n up to 64).

    Yields, after each U-Net call, ``{"step": i (1-based), "steps": total, "t": timestep,
    "x_t": images, "x0": images, "seed": seed}``: the current noisy images and the model's
    estimate of the clean ones (PIL lists, or uint8 arrays with ``output_type="np"``). The
    last ``x_t`` equals ``generate(...)`` with the same arguments.
    """
    n = check_int("n", n, 1, MAX_FRAMES_N)
    sampler, eta = _check_sampling(sampler, eta, output_type)
    seed = validate_seed(seed)
    model = _check_model(model)
    steps = _check_steps(steps, load_unet(model))
    return _frames(model, n, steps, sampler, eta, seed, output_type)


@manager.gpu(duration=120)
def _frames(model: str, n: int, steps: int, sampler: str, eta: float, seed: int, output_type: str):
    """The device-bound generator behind ``frames`` (checked arguments; on ZeroGPU, inside ``spaces.GPU``)."""
    unet = load_unet(model)
    g = manager.generator(seed)
    x = torch.randn((n, *_shape(unet)), generator=g).to(manager.device)
    # a device slot per U-Net call, never held while the caller has the frame
    for i, t, x, x0 in manager.steps(denoise(unet, unet.noise_scheduler, x, steps, sampler, eta, g,
                                             autocast=_autocast())):
        xt_img, x0_img = to_uint8(_to_unit(x)), to_uint8(_to_unit(x0))
        if output_type == "pil":
            p = _params(model, sampler=sampler, steps=steps, eta=eta, seed=seed, n=n, step=i + 1, t=t)
            xt_img = to_pil(xt_img, [dict(p, index=k, image="x_t") for k in range(n)])
            x0_img = to_pil(x0_img, [dict(p, index=k, image="x0") for k in range(n)])
        yield {"step": i + 1, "steps": steps, "t": t, "x_t": xt_img, "x0": x0_img, "seed": seed}


# --------------------------------------------------------------------------- interpolation
def _as_model_input(image, unet) -> torch.Tensor:
    """One image of any kind -> a (C, H, W) tensor in [-1, 1] the model can take."""
    c, h, w = _shape(unet)
    if c == 1 and (h, w) == (28, 28):
        a = to_fashion_image(image)  # Fashion-MNIST style: light garment on black
        return torch.from_numpy(a).float().div(127.5).sub(1)[None]
    im = open_image(image).convert("L" if c == 1 else "RGB").resize((w, h))
    a = torch.from_numpy(np.asarray(im, dtype=np.float32).copy()).div(127.5).sub(1)
    return a[None] if c == 1 else a.permute(2, 0, 1)


@manager.gpu(duration=120)
def _interpolate(model: str, xa: torch.Tensor, xb: torch.Tensor, points: int, start: int, steps: int, seed: int):
    unet = load_unet(model)
    sched = unet.noise_scheduler
    g = manager.generator(seed)
    noise = torch.randn((1, *_shape(unet)), generator=g)
    # both images noised to ``start`` with the same noise, so every mix sits exactly at that noise
    # level; then mixed and denoised (DDIM, eta 0)
    lam = torch.linspace(0, 1, points)[:, None, None, None]
    x0 = (1 - lam) * xa[None] + lam * xb[None]
    xt = sched.add_noise(x0, noise.expand_as(x0), torch.full((points,), start))
    x = xt.to(manager.device)
    for _, _, x, _ in manager.steps(denoise(unet, sched, x, steps, "ddim", 0.0, g, t_start=start,
                                            autocast=_autocast())):
        pass
    return to_uint8(_to_unit(x)), start


def interpolate(image_a, image_b, t0: int = 500, steps: int = 25, seed: int | None = None, points: int = 8,
                model: str | None = None, output_type: str = "pil"):
    """The write-up's interpolation: noise two images to step ``t0`` (of T = 1000), mix them in
    ``points`` proportions (2 to 32, both ends included), denoise each mix.

    Images may be PIL images, arrays, file paths or bytes (converted to the model's size:
    28x28 greyscale, light on black, for the shipped model). Both get the same noise, so every
    mix has exactly the noise level of ``t0``; denoising is DDIM (eta 0) with ``steps`` steps
    over the whole schedule (those below ``t0`` are run). Small ``t0`` stays close to a
    cross-fade; large ``t0`` lets the model redraw the mix as one plausible garment.
    """
    model = _check_model(model)
    unet = load_unet(model)
    T = unet.noise_scheduler.config.num_train_timesteps
    t0 = check_int("t0", t0, 1, T - 1)
    steps = _check_steps(steps, unet)
    points = check_int("points", points, 2, 32)
    seed = validate_seed(seed)
    check_choice("output_type", output_type, OUTPUT_TYPES)
    # the first timestep the sampler runs at or below t0
    probe = make_sampler(unet.noise_scheduler, "ddim")
    probe.set_timesteps(steps)
    below = probe.timesteps[probe.timesteps <= t0]
    if len(below) == 0:
        raise ValueError(f"t0 {t0} is below every step of a {steps}-step DDIM schedule (the lowest is "
                         f"{int(probe.timesteps.min())}): raise t0 or the steps")
    start = int(below[0])
    xa, xb = _as_model_input(image_a, unet), _as_model_input(image_b, unet)
    images, start = _interpolate(model, xa, xb, points, start, steps, seed)
    if output_type == "np":
        return images
    return to_pil(images, [_params(model, t0=t0, t_start=start, steps=steps, seed=seed, mix=round(k / (points - 1), 4))
                           for k in range(points)])
