"""Sample-quality metrics for the image tabs, in the feature space of a small
Fashion-MNIST classifier that the project trains and ships (``checkpoints/fmnist-classifier``).

* Frechet distance (FD) between Gaussian fits of the features (FID's formula);
* KID: unbiased MMD^2 with the cubic polynomial kernel, averaged over subsets (features
  scaled to unit root-mean-square first, the regime the kernel was designed for);
* k-NN precision and recall (Kynkaenniemi et al. 2019, k = 3);
* the class histogram of the samples under the classifier (mode coverage at a glance).

``real_floor`` scores 10,000 training images against the test set the same way: the
best a generator of the training distribution could hope for.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .checkpoints import load_pretrained
from .data import CLASSES, as_tensor, load_fashion_mnist
from .device import manager

CLASSIFIER = "fmnist-classifier"


class FashionClassifier(nn.Module, PyTorchModelHubMixin):
    """Three conv blocks and a 128-d penultimate layer, whose activations are the features."""

    def __init__(self, width: int = 32, feature_dim: int = 128, num_classes: int = 10):
        super().__init__()
        w = width
        self.conv = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),  # 14x14
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),  # 7x7
        )
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(2 * w * 7 * 7, feature_dim), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(feature_dim, num_classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], (N, 1, 28, 28) -> features (N, feature_dim)."""
        return self.features(self.conv(x * 2 - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def load_classifier() -> FashionClassifier:
    return manager.get("metrics/classifier", lambda: load_pretrained(FashionClassifier, CLASSIFIER))


def train_classifier(out_dir="checkpoints/fmnist-classifier", epochs: int = 4, batch_size: int = 128,
                     lr: float = 2e-3, seed: int = 0, data_dir=None, command: str | None = None) -> dict:
    """Train the metric classifier on the 60,000 training images; report test accuracy."""
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    x, y = load_fashion_mnist("train", root=data_dir)
    x, y = as_tensor(x), torch.from_numpy(np.array(y, dtype=np.int64))
    net = FashionClassifier()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (len(x) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    t0, c0 = time.time(), time.process_time()
    g = torch.Generator().manual_seed(seed)
    bar = tqdm(total=steps, desc="classifier")
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        net.train()
        for i in range(len(x) // batch_size):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            xb = x[idx]
            # light augmentation: random horizontal flips (Fashion-MNIST classes are flip-invariant)
            flip = torch.rand(len(xb), generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            loss = F.cross_entropy(net(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    net.eval()
    xt, yt = load_fashion_mnist("test", root=data_dir)
    with torch.inference_mode():
        pred = torch.cat([net(c).argmax(1) for c in as_tensor(xt).split(1000)])
    acc = (pred.numpy() == yt).mean().item()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    net.save_pretrained(out)
    summary = {"test_accuracy": round(acc, 4), "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
               "wall_minutes": round((time.time() - t0) / 60, 2), "cpu_minutes": round((time.process_time() - c0) / 60, 2),
               "threads": torch.get_num_threads(), "command": command}
    (out / "training.json").write_text(json.dumps(summary, indent=2))
    (out / "README.md").write_text(_classifier_card(summary))
    return summary


def _classifier_card(s: dict) -> str:
    from .checkpoints import FASHION_MNIST, hub_metadata

    header = "\n".join(hub_metadata("pytorch", ["fashion-mnist", "image-metrics"], datasets=[FASHION_MNIST],
                                     pipeline_tag="image-classification"))
    return f"""{header}

# Fashion-MNIST feature classifier

The feature extractor behind the playground's image-quality metrics (Frechet distance, KID,
k-NN precision/recall): `playground.metrics.FashionClassifier`, three 3x3 conv layers with
BatchNorm, a 128-d ReLU penultimate layer (the features) and a linear head.

- Data: the 60,000 Fashion-MNIST training images (Debian package `dataset-fashion-mnist`),
  random horizontal flips.
- Training: `{s['command']}`
  ({s['epochs']} epochs, batch {s['batch_size']}, AdamW one-cycle lr {s['lr']}, seed {s['seed']});
  {s['wall_minutes']} min wall, {s['cpu_minutes']} min CPU time on {s['threads']} thread(s) of a 2-core CPU.
- Measured test accuracy (10,000 test images): **{100 * s['test_accuracy']:.2f}%**
  (`python -m playground eval classifier`).
"""


# --------------------------------------------------------------------------- features
@manager.gpu
def classifier_outputs(images: np.ndarray, batch: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 28, 28) -> (features float64 (N, d), predicted classes (N,))."""
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images of shape (N, 28, 28), got {images.dtype} {images.shape}")
    net = load_classifier()
    feats, preds = [], []
    with manager.inference():
        for chunk in np.array_split(images, max(1, int(np.ceil(len(images) / batch)))):
            f = net.embed(as_tensor(chunk).to(manager.device))
            feats.append(f.double().cpu().numpy())
            preds.append(net.head(f).argmax(1).cpu().numpy())
    return np.concatenate(feats), np.concatenate(preds)


# --------------------------------------------------------------------------- metrics
def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2), via symmetric eigh."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s_a)
    sqrt_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = sqrt_a @ s_b @ sqrt_a
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * tr_covmean)


def kernel_inception_distance(a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
    """Unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, mean and std over random subsets."""
    rng = np.random.default_rng(seed)
    d = a.shape[1]
    m = min(subset_size, len(a), len(b))
    vals = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        mmd = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.mean()
        vals.append(mmd)
    return float(np.mean(vals)), float(np.std(vals))


def _kth_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    radii = []
    for chunk in x.split(2000):
        d = torch.cdist(chunk, x)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # +1: the point itself is at distance 0
    return torch.cat(radii)


def _coverage(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> float:
    inside = []
    for chunk in points.split(2000):
        inside.append((torch.cdist(chunk, centres) <= radii[None]).any(1))
    return torch.cat(inside).float().mean().item()


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Precision: share of fakes inside some real k-NN ball; recall: share of reals inside some fake ball."""
    r, f = torch.from_numpy(real).float(), torch.from_numpy(fake).float()
    precision = _coverage(f, r, _kth_radius(r, k))
    recall = _coverage(r, f, _kth_radius(f, k))
    return precision, recall


def score_features(fake_feats: np.ndarray, fake_preds: np.ndarray, ref_feats: np.ndarray) -> dict:
    # KID's cubic kernel assumes features of order 1 (as Inception's pool features are): both
    # sets are divided by the reference set's root-mean-square feature value before it.
    scale = float(np.sqrt((ref_feats**2).mean()))
    kid, kid_std = kernel_inception_distance(fake_feats / scale, ref_feats / scale)
    precision, recall = precision_recall(ref_feats, fake_feats)
    hist = np.bincount(fake_preds, minlength=len(CLASSES)) / len(fake_preds)
    return {
        "n": int(len(fake_feats)),
        "fd": round(frechet_distance(fake_feats, ref_feats), 4),
        "kid": round(kid, 5),
        "kid_std": round(kid_std, 5),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "class_histogram": {c: round(float(h), 4) for c, h in zip(CLASSES, hist)},
    }


_REF_CACHE: dict = {}


def reference_features(data_dir=None) -> np.ndarray:
    """Classifier features of the 10,000 Fashion-MNIST test images (cached)."""
    key = ("test", str(data_dir))
    if key not in _REF_CACHE:
        images, _ = load_fashion_mnist("test", root=data_dir)
        _REF_CACHE[key] = classifier_outputs(np.asarray(images))[0]
    return _REF_CACHE[key]


def score_images(images: np.ndarray, data_dir=None) -> dict:
    """Score uint8 samples (N, 28, 28) against the 10,000 test images."""
    feats, preds = classifier_outputs(images)
    return score_features(feats, preds, reference_features(data_dir))


def real_floor(n: int = 10_000, seed: int = 0, data_dir=None) -> dict:
    """``n`` random training images scored like samples: the floor a generator can reach."""
    images, _ = load_fashion_mnist("train", root=data_dir)
    idx = np.random.default_rng(seed).choice(len(images), n, replace=False)
    return score_images(np.asarray(images)[idx], data_dir=data_dir)


def classifier_accuracy(data_dir=None) -> float:
    images, labels = load_fashion_mnist("test", root=data_dir)
    _, preds = classifier_outputs(np.asarray(images))
    return float((preds == labels).mean())


def headline(m: dict) -> dict:
    """The figures a table row keeps: n, FD, KID, precision, recall."""
    return {key: m[key] for key in ("n", "fd", "kid", "precision", "recall")}


def metrics_line(name: str, m: dict) -> str:
    """One printed line of image metrics."""
    return (f"{name:28s} n={m['n']:>6}  FD={m['fd']:8.3f}  KIDx1000={1000 * m['kid']:7.3f}"
            f"  precision={m['precision']:.3f}  recall={m['recall']:.3f}")
