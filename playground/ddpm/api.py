"""The DDPM tab's Python API: ``generate``, ``frames`` (streaming) and ``interpolate``.

The UI calls exactly these. Two Fashion-MNIST pipelines ship (``MODELS``):
``"ddpm-fashion"``, the write-up's unconditional model (``checkpoints/ddpm-fashion``), and
``"ddpm-fashion-cfg"``, class-conditional with classifier-free guidance; ``model=None`` is
``DEFAULT_MODEL``, the one with the better FD on the project's eval. Any other diffusers
pipeline can be named by its folder or its Hugging Face Hub id (``"google/ddpm-cifar10-32"``),
loaded from safetensors only. RGB models give RGB images.

A class-conditional model takes ``label`` (a Fashion-MNIST class: its index 0-9 or its name,
"Trouser", "Ankle boot"; None draws a class per image) and ``guidance`` (the classifier-free
guidance scale: 0 the unconditional prediction, 1 the conditional one, above 1 guided; None:
the scale its card measured best).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ..checkpoints import checkpoint_dir, load_saved
from ..checks import check_choice, check_float, check_int, short_repr, validate_seed
from ..device import bf16_fast, manager
from ..images import OUTPUT_TYPES, open_image, to_fashion_image, to_pil, to_uint8
from .conditional import FASHION_MNIST_CLASSES as CLASSES
from .pipeline import SAMPLERS, denoise, make_sampler

SHIPPED = "ddpm-fashion"  # the write-up's model, folder under checkpoints/
CONDITIONAL = "ddpm-fashion-cfg"  # class-conditional, classifier-free guidance
MODELS = (SHIPPED, CONDITIONAL)  # the shipped models, by their folder names
DEFAULT_MODEL = CONDITIONAL  # model=None: the shipped model with the better FD (a test holds it to its metrics.json)
SHIPPED_FILES = ("model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                 "scheduler/scheduler_config.json")
MAX_N = 10_000
MAX_FRAMES_N = 64  # frames(): images per streamed call
MAX_GUIDANCE = 20.0
BATCH = 500  # images per U-Net batch in generate
DEFAULT_STEPS = {"ddpm": 1000, "ddim": 50, "dpm++": 25, "sde-dpm++": 25, "unipc": 10}
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
    """None -> the default shipped model; else a shipped model's name, a pipeline folder or a Hub id."""
    if model is None:
        return DEFAULT_MODEL
    if isinstance(model, os.PathLike):
        model = str(model)
    if not isinstance(model, str) or not model.strip() or len(model) > 300 or "\x00" in model:
        raise ValueError(f"model must be None (the default), a shipped model ({', '.join(MODELS)}), a diffusers "
                         f"pipeline folder or a Hugging Face Hub id such as 'google/ddpm-cifar10-32', "
                         f"not {str(model)[:100]!r}")
    return model.strip()


# --------------------------------------------------------------------------- loading
def model_dir(model: str | None = None) -> Path:
    """The local folder of a shipped or folder model (Hub ids have none until downloaded)."""
    model = _check_model(model)
    return checkpoint_dir(model) if model in MODELS else Path(model)


def _pipeline_class(source):
    """Our class-conditional pipeline class for a folder that names it, else diffusers' ``DDPMPipeline``."""
    from diffusers import DDPMPipeline

    from .conditional import ClassConditionalDDPMPipeline

    index = Path(source) / "model_index.json"
    if index.is_file():
        try:
            if json.loads(index.read_text()).get("_class_name") == ClassConditionalDDPMPipeline.__name__:
                return ClassConditionalDDPMPipeline
        except (ValueError, AttributeError):
            pass  # the loader reports the broken folder
    return DDPMPipeline


def _load_pipeline_parts(model: str):
    """(unet, training scheduler, default guidance) of a pipeline folder or Hub id, weights from
    safetensors only."""
    from diffusers import DDPMScheduler

    source = model_dir(model) if model in MODELS or os.path.isdir(model) else model
    cls = _pipeline_class(source)
    pipe = load_saved(lambda src, **kw: cls.from_pretrained(src, use_safetensors=True, **kw), source,
                      "diffusers DDPM pipeline", required=SHIPPED_FILES if model in MODELS else (),
                      weights=lambda pipe: [pipe.unet])
    scheduler = pipe.scheduler
    if not isinstance(scheduler, DDPMScheduler):
        scheduler = DDPMScheduler.from_config(scheduler.config)
    return pipe.unet, scheduler, float(pipe.config.get("guidance_scale", 1.0))


def load_unet(model: str | None = None):
    """The model's U-Net, loaded once and cached by the device manager; its training
    scheduler rides along as ``unet.noise_scheduler`` and, for a class-conditional U-Net, the
    guidance scale its card measured best as ``unet.default_guidance``."""
    model = _check_model(model)

    def loader():
        unet, scheduler, guidance = _load_pipeline_parts(model)
        unet.noise_scheduler, unet.default_guidance = scheduler, guidance
        return unet

    return manager.get(f"ddpm/{model}", loader)


def _check_steps(steps, unet) -> int:
    return check_int("steps", steps, 1, unet.noise_scheduler.config.num_train_timesteps)


def is_conditional(unet) -> bool:
    return bool(unet.config.num_class_embeds)


def check_label(label) -> int | None:
    """A Fashion-MNIST class -> its index: an integer 0-9 or its name (any case), None stays None."""
    if label is None:
        return None
    if isinstance(label, str):
        names = {c.lower(): i for i, c in enumerate(CLASSES)}
        key = label.strip().lower()
        if key.isdigit():
            return check_int("label", int(key), 0, len(CLASSES) - 1)
        if key not in names:
            raise ValueError(f"label must be a Fashion-MNIST class, 0-9 or one of {', '.join(CLASSES)} "
                             f"(or None: a class per image), not {short_repr(label)}")
        return names[key]
    return check_int("label", label, 0, len(CLASSES) - 1)


def _check_condition(label, guidance, unet, model: str) -> tuple[int | None, float | None]:
    """(label index or None, guidance scale) for a class-conditional U-Net; (None, None) otherwise."""
    label = check_label(label)
    if guidance is not None:
        guidance = check_float("guidance", guidance, 0, MAX_GUIDANCE)
    if not is_conditional(unet):
        if label is not None or guidance is not None:
            raise ValueError(f"model {model} is unconditional: label and guidance need a class-conditional model "
                             f"such as {CONDITIONAL!r}")
        return None, None
    return label, unet.default_guidance if guidance is None else guidance


def _labels(unet, label: int | None, m: int, g: torch.Generator) -> torch.Tensor | None:
    """The class of each of ``m`` images: ``label`` for all, or drawn from ``g`` (None for an unconditional U-Net)."""
    if not is_conditional(unet):
        return None
    if label is None:
        return torch.randint(0, len(CLASSES), (m,), generator=g)
    return torch.full((m,), label)


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
    """A PNG's parameters (label and guidance only for a class-conditional model)."""
    if kw.get("guidance") is None:
        kw.pop("label", None), kw.pop("guidance", None)
    return {"model": f"ddpm/{model}", **kw}


# --------------------------------------------------------------------------- sampling
@manager.gpu(duration=120)
def _sample(model: str, n: int, steps: int, sampler: str, eta: float, seed: int, label: int | None = None,
            guidance: float | None = None) -> tuple[np.ndarray, list[int] | None]:
    """(uint8 images, the class of each or None)."""
    unet = load_unet(model)
    g = manager.generator(seed)
    out, classes = [], []
    for start in range(0, n, BATCH):
        m = min(BATCH, n - start)
        x = torch.randn((m, *_shape(unet)), generator=g).to(manager.device)
        labels = _labels(unet, label, m, g)
        # a device slot per U-Net call: other requests are served between the steps
        for _, _, x, _ in manager.steps(denoise(unet, unet.noise_scheduler, x, steps, sampler, eta, g,
                                                autocast=_autocast(), labels=labels, guidance=guidance or 0.0)):
            pass
        out.append(to_uint8(_to_unit(x)))
        classes += [] if labels is None else labels.tolist()
    return np.concatenate(out), classes if is_conditional(unet) else None


def generate(n: int = 16, steps: int = 25, sampler: str = "dpm++", eta: float = 0.0, seed: int | None = None,
             model: str | None = None, output_type: str = "pil", label=None, guidance: float | None = None):
    """Draw ``n`` images (1 to 10,000) with ``sampler`` ("ddpm", "ddim", "dpm++", "sde-dpm++" or
    "unipc") in ``steps`` denoising steps (1 to the schedule's T, 1000 for the shipped models).

    ``eta`` (0 to 1) is DDIM's stochasticity (0: deterministic); the other samplers ignore it.
    ``model``: None (``DEFAULT_MODEL``), a shipped model's name (``MODELS``), a pipeline folder
    or a Hub id. ``label`` and ``guidance`` (a class-conditional model only): the class to draw
    (0-9 or its name; None: a class drawn per image) and the guidance scale (0 to 20; None: the
    model's measured best). The same ``seed`` gives the same images, and the same noise for
    every label and guidance (``None`` draws a seed, recorded in each PNG's parameters with the
    class of each image). Returns PIL images, or with ``output_type="np"`` a uint8 array:
    (n, 28, 28) for the shipped models, (n, H, W, 3) for an RGB one.
    """
    n = check_int("n", n, 1, MAX_N)
    sampler, eta = _check_sampling(sampler, eta, output_type)
    seed = validate_seed(seed)
    model = _check_model(model)
    unet = load_unet(model)
    steps = _check_steps(steps, unet)
    label, guidance = _check_condition(label, guidance, unet, model)
    images, classes = _sample(model, n, steps, sampler, eta, seed, label, guidance)
    if output_type == "np":
        return images
    return to_pil(images, [_params(model, sampler=sampler, steps=steps, eta=eta, seed=seed, n=n, index=i,
                                   label=classes and CLASSES[classes[i]], guidance=guidance) for i in range(n)])


def frames(n: int = 16, steps: int = 25, sampler: str = "dpm++", eta: float = 0.0, seed: int | None = None,
           model: str | None = None, output_type: str = "pil", label=None,
           guidance: float | None = None) -> Iterator[dict]:
    """The denoising of ``generate(n, steps, sampler, eta, seed, model, output_type, label,
    guidance)`` step by step (n up to 64).

    Yields, after each U-Net call, ``{"step": i (1-based), "steps": total, "t": timestep,
    "x_t": images, "x0": images, "seed": seed, "labels": class names or None}``: the current noisy
    images and the model's estimate of the clean ones (PIL lists, or uint8 arrays with
    ``output_type="np"``). The last ``x_t`` equals ``generate(...)`` with the same arguments.
    """
    n = check_int("n", n, 1, MAX_FRAMES_N)
    sampler, eta = _check_sampling(sampler, eta, output_type)
    seed = validate_seed(seed)
    model = _check_model(model)
    unet = load_unet(model)
    steps = _check_steps(steps, unet)
    label, guidance = _check_condition(label, guidance, unet, model)
    return _frames(model, n, steps, sampler, eta, seed, output_type, label, guidance)


@manager.gpu(duration=120)
def _frames(model: str, n: int, steps: int, sampler: str, eta: float, seed: int, output_type: str,
            label: int | None = None, guidance: float | None = None):
    """The device-bound generator behind ``frames`` (checked arguments; on ZeroGPU, inside ``spaces.GPU``)."""
    unet = load_unet(model)
    g = manager.generator(seed)
    x = torch.randn((n, *_shape(unet)), generator=g).to(manager.device)
    labels = _labels(unet, label, n, g)
    names = None if labels is None else [CLASSES[c] for c in labels.tolist()]
    # a device slot per U-Net call, never held while the caller has the frame
    for i, t, x, x0 in manager.steps(denoise(unet, unet.noise_scheduler, x, steps, sampler, eta, g,
                                             autocast=_autocast(), labels=labels, guidance=guidance or 0.0)):
        xt_img, x0_img = to_uint8(_to_unit(x)), to_uint8(_to_unit(x0))
        if output_type == "pil":
            p = _params(model, sampler=sampler, steps=steps, eta=eta, seed=seed, n=n, step=i + 1, t=t)
            if names:
                p["guidance"] = guidance
            xt_img = to_pil(xt_img, [dict(p, index=k, image="x_t", **({"label": names[k]} if names else {}))
                                     for k in range(n)])
            x0_img = to_pil(x0_img, [dict(p, index=k, image="x0", **({"label": names[k]} if names else {}))
                                     for k in range(n)])
        yield {"step": i + 1, "steps": steps, "t": t, "x_t": xt_img, "x0": x0_img, "seed": seed, "labels": names}


def sampler_grid(seed: int | None = 0, samplers=SAMPLERS, steps=(5, 10, 25, 50), model: str | None = None,
                 label=None, guidance: float | None = None, output_type: str = "pil") -> list[dict]:
    """One seed across samplers and step counts: for each sampler (rows) and step count (columns)
    the image ``generate(1, steps, sampler, seed=seed, ...)`` draws, all from the same starting noise
    (and the same class). Returns ``[{"sampler", "steps", "label", "image"}, ...]`` row by row."""
    if isinstance(samplers, str) or not samplers or len(samplers) > len(SAMPLERS):
        raise ValueError(f"samplers must be a list of up to {len(SAMPLERS)} of {list(SAMPLERS)}")
    samplers = [check_choice("sampler", s, SAMPLERS) for s in samplers]
    if isinstance(steps, (str, int)) or not steps or len(steps) > 8:
        raise ValueError("steps must be a list of 1 to 8 step counts")
    seed = validate_seed(seed)
    model = _check_model(model)
    unet = load_unet(model)
    steps = [_check_steps(k, unet) for k in steps]
    check_choice("output_type", output_type, OUTPUT_TYPES)
    cells = []
    for sampler in samplers:
        for k in steps:
            image = generate(1, steps=k, sampler=sampler, seed=seed, model=model, output_type=output_type,
                             label=label, guidance=guidance)
            name = json.loads(image[0].info["parameters"]).get("label") if output_type == "pil" else None
            cells.append({"sampler": sampler, "steps": k, "label": name, "image": image[0]})
    return cells


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
    # a class-conditional model denoises the mixes unconditionally (the null class): a mix has no one class
    labels = torch.full((points,), unet.config.num_class_embeds - 1) if is_conditional(unet) else None
    for _, _, x, _ in manager.steps(denoise(unet, sched, x, steps, "ddim", 0.0, g, t_start=start,
                                            autocast=_autocast(), labels=labels)):
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
    ``model=None`` is the write-up's model (``SHIPPED``), whatever ``DEFAULT_MODEL`` is: a mix has no
    one class, and a class-conditional model denoises it with the null class, its weaker half.
    """
    model = _check_model(model or SHIPPED)
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
