"""The DDPM tab: a diffusers U-Net trained on Fashion-MNIST, sampled by our own loop over
diffusers' DDPM, DDIM and DPM-Solver++ schedulers.

    from playground import ddpm
    images = ddpm.generate(16, steps=25, sampler="dpm++", seed=0)
    for frame in ddpm.frames(4, steps=25, seed=0): ...
    mixes = ddpm.interpolate(image_a, image_b, t0=500)
"""

from .api import (MAX_N, PRESETS, SHIPPED, frames, generate, interpolate, load_unet,  # noqa: F401
                  model_dir)
from .pipeline import SAMPLERS  # noqa: F401

__all__ = ["MAX_N", "PRESETS", "SAMPLERS", "SHIPPED", "frames", "generate", "interpolate", "load_unet", "model_dir"]
