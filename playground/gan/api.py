"""The GAN tab's Python API: ``generate`` and ``interpolate``. The UI calls exactly these."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..checkpoints import checkpoint_dir, load_pretrained
from ..checks import check_choice, check_int, validate_seed
from ..device import manager
from ..images import OUTPUT_TYPES, save_tagged_gif, to_pil, to_uint8
from ..latent import slerp
from .models import ARCHITECTURES

ARCHS = ("dcgan", "su2017")
DEFAULT_ARCH = "dcgan"
MAX_N = 10_000
BATCH = 1_000


def checkpoint_name(arch: str) -> str:
    return f"gan-{arch}"


def _check_arch(arch) -> str:
    return check_choice("arch", arch, ARCHS)


def load_generator(arch: str = DEFAULT_ARCH) -> torch.nn.Module:
    """The shipped generator for ``arch``, loaded once and cached by the device manager."""
    arch = _check_arch(arch)
    gen_cls = ARCHITECTURES[arch][0]
    return manager.get(f"gan/{arch}", lambda: load_pretrained(gen_cls, checkpoint_name(arch)))


def model_dir(arch: str = DEFAULT_ARCH) -> Path:
    return checkpoint_dir(checkpoint_name(_check_arch(arch)))


@manager.gpu
def _run(arch: str, z: torch.Tensor) -> np.ndarray:
    """Latents -> uint8 images, in batches of 1,000 (the device-bound part)."""
    net = load_generator(arch)
    out = []
    with manager.inference():
        for chunk in z.split(BATCH):
            out.append(to_uint8(net(chunk.to(manager.device))))
    return np.concatenate(out)


def generate(n: int = 16, seed: int | None = None, arch: str = DEFAULT_ARCH, output_type: str = "pil"):
    """Draw ``n`` images (1 to 10,000) from the ``arch`` generator.

    The same ``seed`` always gives the same images; ``seed=None`` draws a random seed
    (each PIL image records its seed and index in a PNG text chunk).
    Returns a list of 28x28 greyscale PIL images, or with ``output_type="np"`` a uint8
    array of shape (n, 28, 28).
    """
    n = check_int("n", n, 1, MAX_N)
    arch = _check_arch(arch)
    check_choice("output_type", output_type, OUTPUT_TYPES)
    seed = validate_seed(seed)
    net = load_generator(arch)
    z = net.sample_latent(n, manager.generator(seed))
    images = _run(arch, z)
    if output_type == "np":
        return images
    params = [{"model": f"gan/{arch}", "seed": seed, "n": n, "index": i} for i in range(n)]
    return to_pil(images, params)


def interpolate(seed_a: int, seed_b: int, steps: int = 8, arch: str = DEFAULT_ARCH, output_type: str = "pil"):
    """Walk the latent space from the first latent of ``seed_a`` to that of ``seed_b``.

    ``steps`` (2 to 64) frames, both ends included: frame 0 equals ``generate(1, seed_a)``,
    the last equals ``generate(1, seed_b)``. Gaussian latents (dcgan) are joined by slerp,
    uniform ones (su2017) by a straight line, which stays inside the cube.
    """
    seed_a, seed_b = validate_seed(seed_a, "seed_a"), validate_seed(seed_b, "seed_b")
    steps = check_int("steps", steps, 2, 64)
    arch = _check_arch(arch)
    check_choice("output_type", output_type, OUTPUT_TYPES)
    net = load_generator(arch)
    za = net.sample_latent(1, manager.generator(seed_a))[0]
    zb = net.sample_latent(1, manager.generator(seed_b))[0]
    ts = torch.linspace(0, 1, steps)
    if net.latent_distribution == "normal":
        z = torch.stack([slerp(za, zb, t) for t in ts])
    else:
        z = torch.stack([(1 - t) * za + t * zb for t in ts])
    frames = _run(arch, z)
    if output_type == "np":
        return frames
    params = [{"model": f"gan/{arch}", "seed_a": seed_a, "seed_b": seed_b, "steps": steps, "t": round(float(t), 4)}
              for t in ts]
    return to_pil(frames, params)


def interpolation_gif(frames, path, **kwargs) -> Path:
    """Write interpolation frames (PIL) as a looping GIF carrying their parameters."""
    return save_tagged_gif(frames, path, **kwargs)
