import numpy as np
import pytest

from playground import metrics


def _gauss(n, d, shift=0.0, scale=1.0, seed=0):
    return np.random.default_rng(seed).normal(shift, scale, size=(n, d))


def test_frechet_distance_matches_closed_form():
    # two Gaussians with diagonal covariances: FD = |mu|^2 + sum (s1 - s2)^2
    a = _gauss(20_000, 4, seed=1)
    b = _gauss(20_000, 4, shift=1.0, scale=2.0, seed=2)
    expected = 4 * 1.0 + 4 * (1 - 2) ** 2
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=0.05)
    assert metrics.frechet_distance(a, a) == pytest.approx(0, abs=1e-6)


def test_frechet_distance_against_scipy():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 8)) @ rng.normal(size=(8, 8))
    b = rng.normal(size=(500, 8)) @ rng.normal(size=(8, 8)) + 0.5
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s_a + s_b - 2 * scipy_linalg.sqrtm(s_a @ s_b).real)
    assert metrics.frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)


def test_kid_is_near_zero_for_one_distribution_and_grows_with_shift():
    a, b = _gauss(2000, 16, seed=1), _gauss(2000, 16, seed=2)
    same, _ = metrics.kernel_inception_distance(a, b, subsets=10, subset_size=500)
    shifted, _ = metrics.kernel_inception_distance(a, _gauss(2000, 16, shift=0.5, seed=3), subsets=10, subset_size=500)
    assert abs(same) < 0.01 < shifted


def test_precision_recall_extremes():
    a, b = _gauss(1000, 8, seed=1), _gauss(1000, 8, seed=2)
    p, r = metrics.precision_recall(a, b)
    assert p > 0.8 and r > 0.8
    p, r = metrics.precision_recall(a, _gauss(1000, 8, shift=50, seed=3))
    assert p == 0 and r == 0
    # a collapsed generator: high precision, low recall
    p, r = metrics.precision_recall(a, a[:20].repeat(50, axis=0) + 1e-3)
    assert p > 0.9 and r < 0.3


def test_shipped_classifier_is_accurate():
    assert metrics.classifier_accuracy() > 0.90


def test_classifier_outputs_validate_input():
    with pytest.raises(ValueError, match="uint8"):
        metrics.classifier_outputs(np.zeros((2, 28, 28), dtype=np.float32))


def test_real_images_score_near_the_floor():
    from playground.data import load_fashion_mnist

    images, _ = load_fashion_mnist("train")
    result = metrics.score_images(np.asarray(images[:1000]))
    assert result["fd"] < 20 and result["precision"] > 0.6 and result["recall"] > 0.6
    assert sum(result["class_histogram"].values()) == pytest.approx(1.0, abs=1e-3)
