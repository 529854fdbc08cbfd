"""Fashion-MNIST, read from the Debian package ``dataset-fashion-mnist``.

This is the one place the project loads training or evaluation data. Nothing is
downloaded: the four IDX files come from the Debian package (or any folder that
holds them, given by argument or by the ``FASHION_MNIST_DIR`` environment variable).
"""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path

import numpy as np

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "FASHION_MNIST_DIR"
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """The folder holding the IDX files: ``root``, else ``$FASHION_MNIST_DIR``, else Debian's."""
    return Path(root or os.environ.get(ENV_VAR) or DEFAULT_DIR)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"Fashion-MNIST file {stem}(.gz) not found in {folder}. Install the Debian package "
        f"with `apt-get install dataset-fashion-mnist`, or point {ENV_VAR} (or --data-dir) "
        "at a folder holding the four IDX files."
    )


def _read_idx(path: Path, magic: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path} is corrupt: {e}") from None
    if len(raw) < 8:
        raise ValueError(f"{path} is truncated.")
    header = np.frombuffer(raw[:4], dtype=">u4")[0]
    if header != magic:
        raise ValueError(f"{path} is not an IDX file of the expected kind (magic {header:#x}).")
    ndim = magic & 0xFF
    shape = tuple(int(s) for s in np.frombuffer(raw[4 : 4 + 4 * ndim], dtype=">u4"))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: expected {shape}, found {data.size} bytes.")
    return data.reshape(shape)


@functools.lru_cache(maxsize=4)
def _load(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images_stem, labels_stem = _FILES[split]
    images = _read_idx(_find(folder, images_stem), 0x0803)
    labels = _read_idx(_find(folder, labels_stem), 0x0801)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_fashion_mnist(split: str = "train", root: str | os.PathLike | None = None):
    """Return ``(images, labels)``: uint8 arrays of shape (N, 28, 28) and (N,).

    ``split`` is ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
    """
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    return _load(data_dir(root).resolve(), split)


def as_tensor(images: np.ndarray, low: float = 0.0, high: float = 1.0):
    """uint8 images (N, 28, 28) -> float tensor (N, 1, 28, 28) scaled to [low, high]."""
    import torch

    x = torch.from_numpy(np.array(images, dtype=np.uint8, copy=True)).float().div_(255.0).unsqueeze(1)
    return x * (high - low) + low
