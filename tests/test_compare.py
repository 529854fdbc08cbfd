"""Issue 23: the autoencoders' ex-post mixture prior and the Compare tab (Python API, gradio_client, browser)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from playground import compare, eae, tabs
from playground.checkpoints import read_json
from playground.data import CLASSES
from playground.eae import prior as mixture
from playground.images import ImageModel

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- the mixture prior
def test_mixture_fit_recovers_a_known_two_component_sample():
    g = np.random.default_rng(0)
    means = np.array([[-4.0, 0.0, 1.0], [3.0, 2.0, -1.0]])
    n = np.array([3000, 1000])  # weights 0.75 / 0.25
    x = np.concatenate([g.normal(m, [1.0, 0.5, 0.3], size=(k, 3)) for m, k in zip(means, n)])
    prior, record = mixture.fit(x, components=2, seed=0)
    order = prior.means[:, 0].argsort()
    assert np.allclose(prior.means[order].numpy(), means, atol=0.1)
    assert np.allclose(prior.weights[order].numpy(), [0.75, 0.25], atol=0.02)
    assert np.allclose(torch.diagonal(prior.covariances[order], dim1=1, dim2=2).numpy(),
                       [[1.0, 0.25, 0.09]] * 2, rtol=0.15)
    assert record["converged"] and record["codes"] == 4000
    # its samples follow it: component shares, and a density that favours its own draws over a shifted set
    draws = prior.sample(20_000, torch.Generator().manual_seed(1))
    assert abs((draws[:, 0] > 0).float().mean().item() - 0.25) < 0.02
    assert prior.log_prob(draws).mean() > prior.log_prob(draws + 3).mean() + 1


def test_mixture_temperature_scales_each_components_spread():
    prior = mixture.MixturePrior(torch.tensor([1.0]), torch.tensor([[5.0, -5.0]]), (torch.eye(2) * 4)[None])
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    wide, narrow = prior.sample(5000, g(), 1.0), prior.sample(5000, g(), 0.5)
    assert torch.allclose(wide.mean(0), torch.tensor([5.0, -5.0]), atol=0.1)
    assert torch.allclose(narrow.std(0), wide.std(0) / 2, rtol=0.01)  # same noise, half the spread


def test_every_shipped_autoencoder_has_a_valid_mixture_beside_its_weights():
    for kind in eae.MODELS:
        folder = ROOT / "checkpoints" / f"eae-{kind}"
        gmm = mixture.load(folder, 32, kind)
        assert gmm.components == 10 and gmm.covariances.shape == (10, 32, 32)
        record = mixture.read_record(folder)
        assert record["codes"] == 60_000 and record["command"].startswith("python -m playground prior eae")
        assert (folder / mixture.FILE).stat().st_size < 10_000_000


@pytest.mark.parametrize("kind", eae.MODELS)
def test_gmm_prior_is_deterministic_and_shaped(kind):
    a = eae.generate(5, seed=3, model=kind, output_type="np", prior="gmm")
    b = eae.generate(5, seed=3, model=kind, output_type="np", prior="gmm")
    assert a.shape == (5, 28, 28) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, eae.generate(5, seed=3, model=kind, output_type="np"))  # another prior
    assert not np.array_equal(a, eae.generate(5, seed=4, model=kind, output_type="np", prior="gmm"))
    frames = eae.interpolate(3, 4, steps=4, model=kind, output_type="np", prior="gmm")
    assert frames.shape == (4, 28, 28)
    # the walk starts at seed 3's first gmm sample, and a seed's first samples do not depend on n
    # (decoded in batches of other sizes: equal up to rounding)
    assert np.abs(frames[0].astype(int) - a[0]).max() <= 2
    assert np.abs(eae.generate(2, seed=3, model=kind, output_type="np", prior="gmm").astype(int) - a[:2]).max() <= 2
    images = eae.generate(2, seed=3, model=kind, prior="gmm")
    assert json.loads(images[0].info["parameters"])["prior"] == "gmm"


def test_bad_prior_is_a_clear_value_error():
    with pytest.raises(ValueError, match="prior"):
        eae.generate(2, seed=0, prior="uniform")
    with pytest.raises(ValueError, match="prior"):
        eae.interpolate(0, 1, prior=None)


@pytest.fixture
def broken_copy(tmp_path):
    """An exported copy of the ae-bn model whose mixture file we can break."""
    folder = tmp_path / "ae-bn-copy"
    shutil.copytree(ROOT / "checkpoints" / "eae-ae-bn", folder)
    return folder


@pytest.mark.parametrize("damage", ["missing", "garbage", "wrong-shape", "not-positive-definite"])
def test_a_missing_or_corrupt_mixture_fails_for_that_model_only(broken_copy, damage):
    path = broken_copy / mixture.FILE
    if damage == "missing":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"\x00" * 64)
    else:
        from safetensors.torch import save_file

        k, d = 10, (16 if damage == "wrong-shape" else 32)
        cov = torch.eye(d).repeat(k, 1, 1)
        if damage == "not-positive-definite":
            cov[3] = -cov[3]
        save_file({"weights": torch.full((k,), 0.1), "means": torch.zeros(k, d), "covariances": cov}, str(path))
    with pytest.raises(ValueError, match=r"ae-bn-copy.*(mixture prior|prior-gmm)|prior-gmm.*ae-bn-copy"):
        eae.generate(2, seed=0, model=str(broken_copy), prior="gmm")
    # the same folder still samples under N(0, I), and the shipped models under either prior
    assert eae.generate(2, seed=0, model=str(broken_copy), output_type="np").shape == (2, 28, 28)
    assert eae.generate(2, seed=0, model="ae-bn", output_type="np", prior="gmm").shape == (2, 28, 28)


def test_latent_report_shows_both_priors():
    report = eae.latent_report("ae-bn")
    gmm = report["gmm"]
    assert gmm["components"] == 10 and 0 <= gmm["prior_coverage"] <= 1
    # the mixture was fitted to such codes: it must describe the test codes better than N(0, I)
    assert gmm["test_log_likelihood_gmm"] > gmm["test_log_likelihood_n01"]


def test_fit_prior_writes_a_loadable_mixture(broken_copy):
    (broken_copy / mixture.FILE).unlink()
    record = eae.api.fit_prior(str(broken_copy), components=3, command="test")
    assert record["components"] == 3 and Path(record["file"]).is_file()
    assert eae.generate(2, seed=0, model=str(broken_copy), output_type="np", prior="gmm").shape == (2, 28, 28)


# --------------------------------------------------------------------------- the Compare API
def test_compare_lists_every_shipped_image_model_through_the_registry():
    names = [m.name for m in compare.models()]
    assert names[:3] == ["gan/dcgan", "gan/su2017", "ddpm/ddpm-fashion"]
    assert {f"eae/{k} · {p}" for k in eae.MODELS for p in ("normal", "gmm")} <= set(names)
    assert [m.name for m in compare.models() if m.slow] == ["ddpm/ddpm-fashion", "ddpm/ddpm-fashion-cfg"]


def test_compare_generate_same_seed_same_images_and_matches_each_tab():
    rows = compare.generate(5, 3, slow=False)
    again = compare.generate(5, 3, slow=False)
    assert all(r["error"] is None and r["images"].shape == (3, 28, 28) for r in rows)
    assert all(np.array_equal(a["images"], b["images"]) for a, b in zip(rows, again))
    by_name = {r["name"]: r["images"] for r in rows}
    from playground import gan

    assert np.array_equal(by_name["gan/dcgan"], gan.generate(3, seed=5, arch="dcgan", output_type="np"))
    assert np.array_equal(by_name["eae/vae · gmm"], eae.generate(3, seed=5, model="vae", output_type="np", prior="gmm"))


def test_compare_a_broken_model_fails_alone(monkeypatch):
    def broken(n, seed):
        raise ValueError("this model's weights are gone")

    extra = ImageModel("test/broken", "GAN", broken, lambda: {}, how="nothing")
    real = tabs.image_models
    monkeypatch.setattr(tabs, "image_models", lambda: real()[:1] + [extra])
    rows = compare.generate(0, 2)
    assert rows[0]["images"].shape == (2, 28, 28)
    assert rows[1]["images"] is None and "weights are gone" in rows[1]["error"]
    table = compare.table()
    assert table[1]["model"] == "test/broken" and "no record" in table[1]["note"]


def test_compare_table_equals_the_records():
    table = {row["model"]: row for row in compare.table()}
    gan = read_json(ROOT / "checkpoints/gan-dcgan/metrics.json")["samples"]
    assert (table["gan/dcgan"]["FD"], table["gan/dcgan"]["recall"]) == (gan["fd"], gan["recall"])
    assert table["gan/dcgan"]["training CPU min"] == read_json(ROOT / "checkpoints/gan-dcgan/training.json")["cpu_minutes"]
    ddpm = read_json(ROOT / "checkpoints/ddpm-fashion/metrics.json")["rows"]
    row = max((r for r in ddpm if (r["sampler"], r["steps"]) == ("dpm++", 25)), key=lambda r: r["n"])
    assert (table["ddpm/ddpm-fashion"]["FD"], table["ddpm/ddpm-fashion"]["samples scored"]) == (row["fd"], row["n"])
    assert table["ddpm/ddpm-fashion"]["parameters"] == \
        read_json(ROOT / "checkpoints/ddpm-fashion/training.json")["parameters"]
    for kind in eae.MODELS:
        m = read_json(ROOT / f"checkpoints/eae-{kind}/metrics.json")
        assert table[f"eae/{kind} · normal"]["FD"] == m["samples"]["fd"]
        gmm = next(r for r in m["by_prior"] if (r["prior"], r["temperature"]) == ("gmm", 1.0))
        assert table[f"eae/{kind} · gmm"]["FD"] == gmm["fd"]
        assert table[f"eae/{kind} · gmm"]["KID x 1000"] == round(1000 * gmm["kid"], 2)
    assert all(not row["note"] for row in table.values())


def test_coverage_sums_to_one_per_model():
    rows = compare.coverage()
    assert len(rows) == len(compare.models()) + 1  # every model and the real test set
    for row in rows:
        total = sum(row[c] for c in CLASSES)
        assert abs(total - 1) < 2e-3, row["model"]
        assert row["smallest"] == min(row[c] for c in CLASSES)


def test_nearest_finds_a_training_image_itself():
    from playground.data import load_fashion_mnist

    train, labels = load_fashion_mnist("train")
    found = compare.nearest(np.asarray(train[123]), k=3)
    assert found["indices"][0] == 123 and found["distances"][0] == 0.0
    assert found["images"].shape == (3, 28, 28) and found["classes"][0] == CLASSES[int(labels[123])]
    assert found["distances"] == sorted(found["distances"]) and found["typical"] > 1
    with pytest.raises(ValueError, match="k"):
        compare.nearest(np.asarray(train[0]), k=0)


# --------------------------------------------------------------------------- through the app
def test_compare_endpoints_through_gradio_client(client):
    gallery, times = client.predict(4, 2, api_name="/compare_generate")
    names = [m.name for m in compare.models()]
    assert len(gallery) == 2 * len(names)
    assert [item["caption"].split(" #")[0] for item in gallery[::2]] == names  # one row per model, in order
    assert [row[0] for row in times["data"]] == names and all(row[3] > 0 for row in times["data"])
    pixels = np.asarray(Image.open(gallery[0]["image"]).convert("L"))
    from playground import gan

    assert np.array_equal(pixels, gan.generate(2, seed=4, arch="dcgan", output_type="np")[0])
    figures, classes = client.predict(api_name="/compare_table")
    assert [row[0] for row in figures["data"]] == names
    assert figures["headers"][:6] == ["model", "family", "FD", "KID x 1000", "precision", "recall"]
    assert len(classes["data"]) == len(names) + 1
    neighbours, note = client.predict(handle_file(gallery[0]["image"]), 3, api_name="/compare_nearest")
    assert len(neighbours) == 3 and "typically" in note
    with pytest.raises(AppError, match="count"):
        client.predict(0, 17, api_name="/compare_generate")


def test_eae_prior_through_gradio_client(client):
    result = client.predict("eae", 42, 3, 1.0, "gmm", api_name="/eae_generate")
    pixels = np.stack([np.asarray(Image.open(item["image"]).convert("L")) for item in result])
    assert np.array_equal(pixels, eae.generate(3, seed=42, model="eae", output_type="np", prior="gmm"))
    # the old positional call (no prior) still means N(0, I)
    result = client.predict("eae", 42, 3, 1.0, api_name="/eae_generate")
    pixels = np.stack([np.asarray(Image.open(item["image"]).convert("L")) for item in result])
    assert np.array_equal(pixels, eae.generate(3, seed=42, model="eae", output_type="np"))
    frames, gif = client.predict("ae-bn", 1, 2, 3, "gmm", api_name="/eae_interpolate")
    assert len(frames) == 3 and Path(gif).is_file()
    with pytest.raises(AppError, match="prior"):
        client.predict("eae", 0, 2, 1.0, "laplace", api_name="/eae_generate")
