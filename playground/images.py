"""Image helpers shared by the image tabs: PNGs that carry their generation parameters,
grids and animated GIFs."""

from __future__ import annotations

import io
import json
import os
import uuid

import numpy as np
import torch
from PIL import Image, PngImagePlugin, UnidentifiedImageError
from torchvision.utils import make_grid

OUTPUT_TYPES = ("pil", "np")  # what the image tabs' APIs return: PIL images or one uint8 array


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Float images in [0, 1], shape (N, 1, H, W) -> uint8 array (N, H, W);
    colour (N, 3, H, W) -> (N, H, W, 3)."""
    x = images.detach().float().clamp(0, 1).mul_(255).round_().to(torch.uint8)
    x = x.squeeze(1) if x.shape[1] == 1 else x.permute(0, 2, 3, 1)
    return x.cpu().numpy()


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
    """uint8 (N, H, W) or (N, H, W, 3) -> list of greyscale (or RGB) PIL images, each tagged
    with its parameters."""
    images = [Image.fromarray(np.ascontiguousarray(a)) for a in array]
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


def open_image(image) -> Image.Image:
    """Any one image (PIL, array (H, W), (H, W, 3|4) or (1|3, H, W), tensor, file path or bytes)
    -> a PIL image in mode L or RGB; transparency is composited onto black. Anything else is a
    ``ValueError`` saying what is accepted."""
    if isinstance(image, (str, os.PathLike)):
        try:
            image = Image.open(image)
            image.load()
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as e:
            raise ValueError(f"{str(image)[:200]!r} is not a readable image file ({type(e).__name__})") from None
    elif isinstance(image, (bytes, bytearray)):
        try:
            image = Image.open(io.BytesIO(image))
            image.load()
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as e:
            raise ValueError(f"the bytes given are not an image ({type(e).__name__})") from None
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if isinstance(image, np.ndarray):
        a = np.squeeze(image)
        if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[-1] not in (1, 3, 4):
            a = np.moveaxis(a, 0, -1)
        if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)) or a.size == 0:
            raise ValueError(f"an image array must be (H, W), (H, W, 3|4) or (1|3, H, W), not shape {image.shape}")
        if a.dtype == np.uint8:
            pass
        elif np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer) or a.dtype == bool:
            a = a.astype(np.float64)
            if not np.isfinite(a).all():
                raise ValueError("image array has NaN or infinite values")
            a = np.clip(a * 255 if a.max() <= 1.0 else a, 0, 255).round().astype(np.uint8)
        else:
            raise ValueError(f"image array must hold numbers, not {a.dtype}")
        image = Image.fromarray(a)
    if not isinstance(image, Image.Image):
        raise ValueError(f"expected a PIL image, an array, a file path or bytes, not {type(image).__name__}")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))  # transparent -> black background
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("RGB") if image.mode not in ("L", "RGB") else image


def to_fashion_image(image) -> np.ndarray:
    """Any one image (see ``open_image``) -> uint8 (28, 28), light garment on black.

    Colour becomes greyscale; other sizes are fitted into 28x28 keeping the aspect ratio.
    A picture with a light background (a photo of a garment on white) is inverted, since
    Fashion-MNIST draws garments light on a black background.
    """
    image = open_image(image)
    grey = image.convert("L")
    if grey.size != (28, 28):
        scale = 28 / max(grey.size)  # fit inside 28x28, up or down, keeping the aspect ratio
        grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))), Image.LANCZOS)
        canvas = Image.new("L", (28, 28), 0)
        a = np.asarray(grey)
        border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
        if np.median(border) > 127:  # light background: invert first, so padding stays background
            grey = Image.fromarray(255 - a)
        canvas.paste(grey, ((28 - grey.width) // 2, (28 - grey.height) // 2))
        return np.asarray(canvas, dtype=np.uint8).copy()
    a = np.asarray(grey, dtype=np.uint8)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    return (255 - a if np.median(border) > 127 else a).copy()


# --------------------------------------------------------------------------- the image models, for the Compare tab
class ImageModel:
    """One image model as the Compare tab sees it: each image tab lists its own in ``tab.py``'s
    ``image_models()``, and the registry gathers them (``tabs.image_models``), so the Compare tab
    reaches every model without importing another tab's folder.

    * ``name``: unique, e.g. ``"gan/dcgan"`` or ``"eae/eae · gmm"``; ``family``: "GAN", "diffusion", "autoencoder";
    * ``sample(n, seed)``: a uint8 array (n, 28, 28), the same for the same seed;
    * ``record()``: the model's measured figures, read from its card's own files (``metrics.json``,
      ``training.json``): ``fd``, ``kid``, ``precision``, ``recall``, ``n`` (samples scored), ``classes``
      (class name -> share of those samples under the metric classifier), ``parameters`` (of the
      network that samples), ``train_cpu_minutes``, ``settings`` (how the scored samples were drawn)
      and ``source`` (the files read);
    * ``how``: one line on how it samples; ``slow``: drawn after the others (the diffusion models).
    """

    def __init__(self, name: str, family: str, sample, record, how: str = "", slow: bool = False):
        self.name, self.family, self.sample, self.record, self.how, self.slow = name, family, sample, record, how, slow

    def __repr__(self):
        return f"ImageModel({self.name!r})"


def parameter_count(*modules) -> int:
    """The number of parameters of the given modules together."""
    return int(sum(p.numel() for m in modules for p in m.parameters()))
