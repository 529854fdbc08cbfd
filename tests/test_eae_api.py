"""playground.eae's Python API on the shipped checkpoints: shapes, seeds, inputs, bad inputs."""

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from playground import eae
from playground.data import load_fashion_mnist
from playground.device import manager


@pytest.mark.parametrize("model", eae.MODELS)
def test_same_seed_same_images(model):
    a = eae.generate(8, seed=123, model=model, output_type="np")
    b = eae.generate(8, seed=123, model=model, output_type="np")
    c = eae.generate(8, seed=124, model=model, output_type="np")
    assert a.shape == (8, 28, 28) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_pil_output_parameters_and_prefix_property():
    images = eae.generate(3, seed=5, temperature=0.7)
    assert all(isinstance(im, Image.Image) and im.size == (28, 28) and im.mode == "L" for im in images)
    assert json.loads(images[2].info["parameters"]) == {"model": "eae/eae", "prior": "normal", "seed": 5, "temperature": 0.7, "n": 3,
                                                        "index": 2}
    big = eae.generate(2500, seed=5, temperature=0.7, output_type="np")  # across internal batches of 1,000
    assert np.array_equal(big[:3], np.stack([np.asarray(im) for im in images]))


def test_temperature_scales_the_latent():
    net = eae.load_model("eae")
    z1 = net.sample_latent(4, manager.generator(1), 1.0)
    z2 = net.sample_latent(4, manager.generator(1), 0.5)
    assert torch.allclose(z2, 0.5 * z1)
    low = eae.generate(200, seed=0, temperature=0.1, output_type="np").astype(float)
    high = eae.generate(200, seed=0, temperature=1.0, output_type="np").astype(float)
    assert low.std(0).mean() < high.std(0).mean()  # a colder latent gives less varied images


def test_max_n():
    assert eae.generate(10_000, seed=0, model="ae-bn", output_type="np").shape == (10_000, 28, 28)


def test_interpolation_ends_are_the_seeds_images():
    frames = eae.interpolate(3, 4, steps=5, model="vae", output_type="np")
    assert frames.shape == (5, 28, 28)
    assert np.array_equal(frames[0], eae.generate(1, seed=3, model="vae", output_type="np")[0])
    assert np.abs(frames[-1].astype(int) - eae.generate(1, seed=4, model="vae", output_type="np")[0]).max() <= 1
    pil = eae.interpolate(3, 4, steps=3)
    assert len(pil) == 3 and json.loads(pil[1].info["parameters"])["t"] == 0.5


def test_reconstruct_accepts_every_kind_of_image(tmp_path):
    test, _ = load_fashion_mnist("test")
    x = np.asarray(test[:4])
    inputs, recons = eae.reconstruct(x, output_type="np")
    assert np.array_equal(inputs, x) and recons.shape == (4, 28, 28)
    path = tmp_path / "a.png"
    Image.fromarray(x[0]).save(path)
    buf = io.BytesIO()
    Image.fromarray(x[1]).save(buf, format="PNG")
    rgb = Image.fromarray(np.stack([x[2]] * 3, -1))
    as_float = x[3].astype(np.float32) / 255
    inputs, recons = eae.reconstruct([str(path), buf.getvalue(), rgb, as_float], output_type="np")
    assert np.array_equal(inputs, x)  # all four arrive as the same 28x28 greyscale images
    pil_in, pil_out = eae.reconstruct(Image.fromarray(x[0]))
    assert len(pil_in) == len(pil_out) == 1 and pil_out[0].size == (28, 28)


def test_reconstruct_fits_large_and_light_background_images():
    # a dark shape on a white 200x100 canvas: resized into 28x28 and inverted (light garment on black)
    a = np.full((100, 200), 255, np.uint8)
    a[30:70, 80:120] = 0
    inputs, _ = eae.reconstruct([a], output_type="np")
    assert inputs.shape == (1, 28, 28) and inputs[0, 14, 14] > 200 and inputs[0, 0, 0] == 0


def test_reconstruction_error_is_small_on_the_test_set():
    r = eae.reconstruction_error("eae")
    assert r["n"] == 10_000 and 0 < r["sse"] < 30 and r["mse"] == pytest.approx(r["sse"] / 784, rel=1e-3)


@pytest.mark.parametrize("model", eae.MODELS)
def test_latent_report(model):
    r = eae.latent_report(model)
    d = r["latent_dim"]
    assert r["n"] == 10_000 and len(r["mean"]) == len(r["std"]) == d
    assert r["entropy_max_unit_variance"] == pytest.approx(0.5 * d * np.log(2 * np.pi * np.e), abs=1e-3)
    assert 0 < r["prior_coverage"] < 1 and 0 < r["ks_mean"] < r["ks_max"] < 0.5 and 0 < r["fd_to_n01"] < 10
    assert r["entropy_knn"] < r["entropy_knn_of_n01_samples"] + 1  # no code is more spread than N(0, I)
    assert len(r["qq"]["normal"]) == len(r["qq"]["pooled"]) == 99
    if model != "vae":  # BatchNorm pins every dimension near mean 0, std 1 (running statistics)
        assert np.abs(r["mean"]).max() < 0.2 and np.abs(np.array(r["std"]) - 1).max() < 0.2


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: eae.generate(0), "n must be between 1 and 10000"),
        (lambda: eae.generate(10_001), "n must be between"),
        (lambda: eae.generate(-3), "n must be between"),
        (lambda: eae.generate("4"), "n must be an integer"),
        (lambda: eae.generate(4, temperature=0), "temperature must be"),
        (lambda: eae.generate(4, temperature=-1), "temperature must be"),
        (lambda: eae.generate(4, temperature=float("nan")), "temperature must be"),
        (lambda: eae.generate(4, temperature=float("inf")), "temperature must be"),
        (lambda: eae.generate(4, temperature="hot"), "temperature must be"),
        (lambda: eae.generate(4, model="gan"), "model must be one of"),
        (lambda: eae.generate(4, model=None), "model must be one of"),
        (lambda: eae.generate(4, seed=-1), "seed must be between"),
        (lambda: eae.generate(4, output_type="pt"), "output_type must be one of"),
        (lambda: eae.interpolate(0, 1, steps=1), "steps must be between 2 and 64"),
        (lambda: eae.reconstruct([]), "non-empty list"),
        (lambda: eae.reconstruct(None), "non-empty list"),
        (lambda: eae.reconstruct([42]), "expected a PIL image"),
        (lambda: eae.reconstruct([np.zeros((2, 3, 4, 5))]), "image array must be"),
        (lambda: eae.reconstruct([np.full((28, 28), np.nan)]), "NaN"),
        (lambda: eae.reconstruct([b"not an image"]), "not an image"),
        (lambda: eae.reconstruct(["/nonexistent/file.png"]), "not a readable image file"),
        (lambda: eae.latent_report("biggan"), "model must be one of"),
        (lambda: eae.latent_report(k=0), "k must be between 1 and 100"),
        (lambda: eae.latent_report(k="5"), "k must be an integer"),
        (lambda: eae.latent_report(seed=-2), "seed must be between"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_text_file_is_not_an_image(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("hello")
    with pytest.raises(ValueError, match="not a readable image file"):
        eae.reconstruct([p])


def test_corrupt_checkpoint_gives_a_clear_error(tmp_path):
    import shutil

    folder = tmp_path / "broken"
    shutil.copytree(eae.model_dir("eae"), folder)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt"):
        eae.generate(2, model=str(folder))
    assert eae.generate(2, seed=0, output_type="np").shape == (2, 28, 28)  # the shipped model still works


def test_ks_statistic_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    from playground.eae.api import ks_statistic

    rng = np.random.default_rng(0)
    for x in (rng.normal(size=500), rng.uniform(-2, 2, size=300), rng.normal(0.3, 1.5, size=1000)):
        assert ks_statistic(x) == pytest.approx(stats.kstest(x, "norm").statistic, abs=1e-9)


def test_fd_to_standard_normal_closed_form():
    from playground.eae.api import fd_to_standard_normal

    rng = np.random.default_rng(0)
    assert fd_to_standard_normal(rng.standard_normal((20_000, 8))) == pytest.approx(0, abs=0.01)
    # N(1, 4 I) in 3-d: ||mu||^2 + tr S + d - 2 tr S^1/2 = 3 + 12 + 3 - 12 = 6
    assert fd_to_standard_normal(1 + 2 * rng.standard_normal((50_000, 3))) == pytest.approx(6, rel=0.03)


def test_a_colour_array_is_one_image():
    rgb = np.zeros((40, 30, 3), np.uint8)
    rgb[10:30, 10:20] = (200, 100, 50)
    inputs, recon = eae.reconstruct(rgb, output_type="np")
    assert inputs.shape == recon.shape == (1, 28, 28) and inputs.max() > 0
    inputs, _ = eae.reconstruct(np.zeros((5, 28, 28), np.float32), output_type="np")  # a greyscale batch
    assert inputs.shape == (5, 28, 28)
