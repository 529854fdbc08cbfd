"""The shipped EAE-tab checkpoints score under quality floors (1,000 samples each).

Floors sit well above what the shipped models measure (see the model cards and the
comment below), so they fail only if a checkpoint, the sampler or the metric breaks.
FD on 1,000 samples is biased upward against the 10,000-sample figures in the cards.
"""

import pytest

from playground import eae, metrics

# measured at 1,000 samples, seeds 0-2: eae FD 157-166, precision 0.63-0.65, recall 0.53-0.57;
# ae-bn FD 413-436, precision 0.41-0.42, recall 0.28-0.50; vae FD 208-229, precision 0.60-0.62,
# recall 0.41. Test-set SSE per image: eae 7.45, ae-bn 4.97, vae 7.56.
FLOORS = {"eae": {"fd": 210.0, "precision": 0.5, "recall": 0.4},
          "ae-bn": {"fd": 520.0, "precision": 0.33, "recall": 0.15},
          "vae": {"fd": 290.0, "precision": 0.5, "recall": 0.3}}
RECON_FLOORS = {"eae": 9.0, "ae-bn": 6.5, "vae": 9.0}


@pytest.fixture(scope="module")
def scores():
    return {m: metrics.score_images(eae.generate(1000, seed=0, model=m, output_type="np")) for m in eae.MODELS}


@pytest.mark.parametrize("model", eae.MODELS)
def test_quality_floor(scores, model):
    s = scores[model]
    assert s["fd"] < FLOORS[model]["fd"]
    assert s["precision"] > FLOORS[model]["precision"]
    assert s["recall"] > FLOORS[model]["recall"]


def test_the_entropy_term_beats_batchnorm_alone(scores):
    assert scores["eae"]["fd"] < 0.7 * scores["ae-bn"]["fd"]


def test_the_eae_beats_the_vae_on_fd(scores):
    # the paper's claim, which our 10,000-sample eval confirms (FD 153 vs 225); 0.69x at these 1,000 samples
    assert scores["eae"]["fd"] < 0.9 * scores["vae"]["fd"]


@pytest.mark.parametrize("model", eae.MODELS)
def test_reconstruction_floor(model):
    assert eae.reconstruction_error(model)["sse"] < RECON_FLOORS[model]


def test_the_eae_code_covers_the_prior_better_than_batchnorm_alone():
    eae_report, bn_report = eae.latent_report("eae"), eae.latent_report("ae-bn")
    assert eae_report["prior_coverage"] > 2 * bn_report["prior_coverage"]
    assert eae_report["fd_to_n01"] < bn_report["fd_to_n01"]
