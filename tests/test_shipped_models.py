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


# Issue 24: the Hub reads each card's metadata; what each shipped model must declare
HUB_FIELDS = {
    "gan-dcgan": ("pytorch", "mit", "unconditional-image-generation"),
    "gan-su2017": ("pytorch", "mit", "unconditional-image-generation"),
    "ddpm-fashion": ("diffusers", "mit", "unconditional-image-generation"),
    # class-conditional: the Hub has no class-conditional image tag; this is the nearest (a class is optional)
    "ddpm-fashion-cfg": ("diffusers", "mit", "unconditional-image-generation"),
    "eae-eae": ("pytorch", "mit", "unconditional-image-generation"),
    "eae-ae-bn": ("pytorch", "mit", "unconditional-image-generation"),
    "eae-vae": ("pytorch", "mit", "unconditional-image-generation"),
    "fmnist-classifier": ("pytorch", "mit", "image-classification"),
    "gibbs-bert": ("transformers", "other", "fill-mask"),  # the corpus states no license: said in the card
    "gibbs-judge": ("transformers", "other", "text-generation"),  # the gibbs tab's fluency judge, same corpus
    "xiangqi-gpt": ("transformers", "mit", None),  # no pipeline tag fits a chess policy
}


def test_every_card_has_hub_metadata():
    from pathlib import Path

    from huggingface_hub import ModelCard

    root = Path(__file__).resolve().parent.parent / "checkpoints"
    assert {p.parent.name for p in root.glob("*/README.md")} == set(HUB_FIELDS)
    for name, (library, license, pipeline_tag) in HUB_FIELDS.items():
        card = ModelCard.load(root / name / "README.md")
        data = card.data
        assert (data.library_name, data.license, data.pipeline_tag) == (library, license, pipeline_tag), name
        if name.startswith(("gan", "ddpm", "eae", "fmnist")):
            assert data.datasets == ["zalando-datasets/fashion_mnist"], name
        if license == "other":
            assert data.license_name and data.license_link and "## License" in card.text, name
        assert "generative-model-playground" in data.tags, name
