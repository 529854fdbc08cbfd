"""Image helpers shared by the image tabs: PNGs that carry their generation parameters,
grids and animated GIFs."""

from __future__ import annotations

import json
import uuid

import numpy as np
import torch
from PIL import Image, PngImagePlugin
from torchvision.utils import make_grid


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Float images in [0, 1], shape (N, 1, H, W) -> uint8 array (N, H, W)."""
    x = images.detach().float().clamp_(0, 1).mul_(255).round_().to(torch.uint8)
    return x.squeeze(1).cpu().numpy()


def tag(image: Image.Image, params: dict) -> Image.Image:
    """Attach generation parameters and a fresh request id as PNG text chunks.

    Gradio writes PIL outputs into its cache under the hash of their bytes; the id makes
    every returned file distinct, so concurrent identical requests never share a path.
    """
    image.info["parameters"] = json.dumps(params, sort_keys=True)
    image.info["request_id"] = uuid.uuid4().hex
    return image


def save_png(image: Image.Image, path) -> None:
    """Save a PIL image as PNG, keeping its text metadata (``image.info``) as text chunks."""
    meta = PngImagePlugin.PngInfo()
    for key, value in image.info.items():
        if isinstance(key, str) and isinstance(value, str):
            meta.add_text(key, value)
    image.save(path, format="PNG", pnginfo=meta)


def to_pil(array: np.ndarray, params: list[dict] | None = None) -> list[Image.Image]:
    """uint8 (N, H, W) -> list of greyscale PIL images, each tagged with its parameters."""
    images = [Image.fromarray(a, mode="L") for a in array]
    if params is not None:
        images = [tag(im, p) for im, p in zip(images, params)]
    return images


def grid(array: np.ndarray, nrow: int = 8, padding: int = 2, pad_value: int = 255) -> Image.Image:
    """uint8 (N, H, W) -> one PIL grid image (torchvision's make_grid)."""
    t = torch.from_numpy(np.ascontiguousarray(array)).unsqueeze(1)
    g = make_grid(t, nrow=nrow, padding=padding, pad_value=pad_value)
    return Image.fromarray(g[0].numpy(), mode="L")


def save_gif(frames: list[Image.Image], path, scale: int = 4, frame_ms: int = 120, comment: str = "") -> None:
    """Save frames as a looping GIF that plays forward then back (ping-pong)."""
    big = [f.resize((f.width * scale, f.height * scale), Image.NEAREST) for f in frames]
    seq = big + big[-2:0:-1] if len(big) > 2 else big
    seq[0].save(path, save_all=True, append_images=seq[1:], duration=frame_ms, loop=0,
                comment=comment.encode() if comment else b"")


def save_tagged_gif(frames: list[Image.Image], path, **kwargs):
    """Write frames (PIL, as the APIs' interpolations return them) as a looping GIF whose comment
    carries the first frame's parameters and a fresh request id (see ``tag``)."""
    from pathlib import Path

    if not frames or not all(isinstance(f, Image.Image) for f in frames):
        raise ValueError("frames must be a non-empty list of PIL images (an interpolation's default output)")
    comment = json.dumps({"parameters": json.loads(frames[0].info.get("parameters", "{}")),
                          "request_id": uuid.uuid4().hex})
    save_gif(frames, path, comment=comment, **kwargs)
    return Path(path)
