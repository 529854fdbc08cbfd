"""The shipped checkpoints load and score under a quality floor (1,000 samples each).

Floors sit well above what the shipped models measure (see their model cards), so they fail
only if a checkpoint, the sampler or the metric breaks. FD on 1,000 samples is biased upward
against the 10,000-sample figures in the cards.
"""

import pytest

from playground import gan, metrics

# measured at 1,000 samples, seeds 0-2: su2017 FD 235-240, precision 0.76, recall 0.14;
# dcgan FD 22-24, precision 0.77-0.79, recall 0.81
FLOORS = {"su2017": {"fd": 300.0, "precision": 0.6, "recall": 0.05}, "dcgan": {"fd": 40.0, "precision": 0.6, "recall": 0.6}}


@pytest.fixture(scope="module")
def scores():
    return {arch: metrics.score_images(gan.generate(1000, seed=0, arch=arch, output_type="np")) for arch in gan.ARCHS}


@pytest.mark.parametrize("arch", gan.ARCHS)
def test_quality_floor(scores, arch):
    s = scores[arch]
    assert s["fd"] < FLOORS[arch]["fd"]
    assert s["precision"] > FLOORS[arch]["precision"]
    assert s["recall"] > FLOORS[arch]["recall"]


def test_dcgan_beats_the_baseline_by_a_wide_margin(scores):
    assert scores["dcgan"]["fd"] < 0.5 * scores["su2017"]["fd"]
    assert scores["dcgan"]["recall"] > scores["su2017"]["recall"]


def test_every_class_is_generated(scores):
    # no mode collapse: each of the 10 classes is at least 2% of dcgan's samples
    assert min(scores["dcgan"]["class_histogram"].values()) > 0.02
