"""The DDPM tab: diffusers U-Nets trained on Fashion-MNIST (the write-up's unconditional model and
a class-conditional one with classifier-free guidance), sampled by our own loop over diffusers'
DDPM, DDIM, DPM-Solver++ (and its SDE form) and UniPC schedulers.

    from playground import ddpm
    images = ddpm.generate(16, steps=25, sampler="dpm++", seed=0)
    boots = ddpm.generate(8, model="ddpm-fashion-cfg", label="Ankle boot", guidance=2.0)
    for frame in ddpm.frames(4, steps=25, seed=0): ...
    mixes = ddpm.interpolate(image_a, image_b, t0=500)
    grid = ddpm.sampler_grid(seed=0)
"""

from .api import (CLASSES, CONDITIONAL, DEFAULT_MODEL, MAX_N, MODELS, PRESETS, SHIPPED, frames,  # noqa: F401
                  generate, interpolate, load_unet, model_dir, sampler_grid)
from .pipeline import SAMPLERS  # noqa: F401

__all__ = ["CLASSES", "CONDITIONAL", "DEFAULT_MODEL", "MAX_N", "MODELS", "PRESETS", "SAMPLERS", "SHIPPED", "frames",
           "generate", "interpolate", "load_unet", "model_dir", "sampler_grid"]
