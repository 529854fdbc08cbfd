"""The Compare tab's Python API: ``models``, ``generate``, ``table``, ``coverage``, ``nearest``.

The image models come from the registry (``tabs.image_models``): each image tab lists its own
(``images.ImageModel``), so a model that ships later appears here without a change to this tab, and
this tab never imports another tab's folder. The figures are the models' own records (their
cards' ``metrics.json`` and ``training.json``), never measured again here, so the table cannot
disagree with the cards.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from .. import tabs
from ..checks import check_int, validate_seed
from ..data import CLASSES, load_fashion_mnist
from ..device import manager

MAX_COUNT = 16  # samples per model and call
MAX_NEIGHBOURS = 16
CALIBRATION = 1000  # test images whose nearest training image sets the memorisation yardstick


def models() -> list:
    """The shipped image models (``images.ImageModel``), the registry's order: GANs, diffusion, autoencoders."""
    return tabs.image_models()


def generate(seed: int | None = 0, count: int = 8, slow: bool | None = None) -> list[dict]:
    """``count`` samples (1 to 16) from every image model, all from the same ``seed``.

    Returns one dict per model: ``name``, ``family``, ``how``, ``images`` (uint8 (count, 28, 28), or
    None), ``seconds`` (its generation time) and ``error`` (None, or why this model gave nothing: a
    broken model fails alone). ``slow=False`` only the fast models, ``slow=True`` only the slow ones
    (the diffusion models), None all.
    """
    seed = validate_seed(seed)
    count = check_int("count", count, 1, MAX_COUNT)
    rows = []
    for model in models():
        if slow is not None and model.slow != slow:
            continue
        row = {"name": model.name, "family": model.family, "how": model.how, "images": None, "seconds": None,
               "error": None}
        t0 = time.perf_counter()
        try:
            row["images"] = np.asarray(model.sample(count, seed))
            row["seconds"] = round(time.perf_counter() - t0, 3)
        except (ValueError, OSError, RuntimeError) as e:
            row["error"] = f"{type(e).__name__}: {e}" if not isinstance(e, ValueError) else str(e)
        rows.append(row)
    return rows


RECORD_KEYS = ("fd", "kid", "precision", "recall", "n", "classes", "parameters", "train_cpu_minutes", "settings")


def _records() -> list[tuple]:
    """(model, its record or None, why not) for every model; a record missing a figure counts as none."""
    out = []
    for model in models():
        try:
            record = model.record()
            missing = [key for key in RECORD_KEYS if key not in record]
            if missing:
                raise KeyError(f"no {', '.join(missing)}")
            out.append((model, record, None))
        except (ValueError, OSError, KeyError, TypeError) as e:
            out.append((model, None, f"no record ({type(e).__name__}: {e})"))
    return out


def table() -> list[dict]:
    """Every model's measured figures, from its records: FD, KID, precision, recall (on the number of
    samples its card scored), parameters of the network that samples, and training CPU minutes."""
    rows = []
    for model, r, error in _records():
        if r is None:
            rows.append({"model": model.name, "family": model.family, "note": error})
            continue
        rows.append({"model": model.name, "family": model.family, "FD": r["fd"], "KID x 1000": round(1000 * r["kid"], 2),
                     "precision": r["precision"], "recall": r["recall"], "samples scored": r["n"],
                     "parameters": r["parameters"], "training CPU min": r["train_cpu_minutes"],
                     "sampled with": r["settings"], "note": ""})
    return rows


def coverage() -> list[dict]:
    """Each model's class coverage: the share of its scored samples that the metric classifier puts
    in each class (the test set has 10% in each), and the smallest share."""
    rows = [{"model": "real test images (labels)", **{c: 0.1 for c in CLASSES}, "smallest": 0.1}]
    for model, r, _ in _records():
        if r is None:
            continue
        shares = {c: float(r["classes"][c]) for c in CLASSES}
        rows.append({"model": model.name, **shares, "smallest": min(shares.values())})
    return rows


# --------------------------------------------------------------------------- memorisation check
class _TrainingSet(torch.nn.Module):
    """The 60,000 training images as float vectors in [0, 1], with their squared norms."""

    def __init__(self):
        super().__init__()
        images, labels = load_fashion_mnist("train")
        x = torch.from_numpy(np.asarray(images, dtype=np.float32) / 255.0).flatten(1)
        self.register_buffer("x", x)
        self.register_buffer("sq", x.pow(2).sum(1))
        self.labels = np.asarray(labels)
        self.images = np.asarray(images)
        self.typical = None  # median distance of a real test image to its nearest training image


def _training_set() -> _TrainingSet:
    return manager.get("compare/train-set", _TrainingSet)


@manager.gpu
def _distances(query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(k nearest training indices, their Euclidean pixel distances) for each query image."""
    ref = _training_set()
    with manager.inference():
        q = torch.from_numpy(np.asarray(query, dtype=np.float32) / 255.0).flatten(1).to(ref.x.device)
        d2 = (q.pow(2).sum(1, keepdim=True) + ref.sq[None] - 2 * q @ ref.x.T).clamp_min(0)
        dist, idx = d2.topk(k, dim=1, largest=False)
        return idx.cpu().numpy(), dist.sqrt().cpu().numpy()


def typical_distance() -> float:
    """The median distance (pixels in [0, 1], 784-d) from a real test image to its nearest training
    image, over 1,000 test images: a sample much closer than this to a training image is a near-copy."""
    ref = _training_set()
    if ref.typical is None:
        test, _ = load_fashion_mnist("test")
        picks = np.random.default_rng(0).choice(len(test), CALIBRATION, replace=False)
        _, dist = _distances(np.asarray(test)[picks], 1)
        ref.typical = float(np.median(dist[:, 0]))
    return ref.typical


def nearest(image, k: int = 8) -> dict:
    """The ``k`` (1 to 16) training images nearest to ``image`` (any image: PIL, array, path; made
    28x28 greyscale) in pixel space: the memorisation check. Returns ``images`` (uint8 (k, 28, 28)),
    ``distances``, ``classes`` (their labels' names), ``indices`` (in the training set) and
    ``typical`` (``typical_distance()``) to read the distances against."""
    from ..images import to_fashion_image

    k = check_int("k", k, 1, MAX_NEIGHBOURS)
    query = to_fashion_image(image)[None]
    idx, dist = _distances(query, k)
    ref = _training_set()
    return {"images": ref.images[idx[0]], "distances": [round(float(d), 3) for d in dist[0]],
            "classes": [CLASSES[int(ref.labels[i])] for i in idx[0]], "indices": [int(i) for i in idx[0]],
            "typical": round(typical_distance(), 3)}
