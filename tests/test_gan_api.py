import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from playground import gan
from playground.checkpoints import load_pretrained
from playground.device import manager
from playground.gan.models import DCGANGenerator, Su2017Critic, Su2017Generator


@pytest.mark.parametrize("arch", gan.ARCHS)
def test_same_seed_same_images(arch):
    a = gan.generate(8, seed=123, arch=arch, output_type="np")
    b = gan.generate(8, seed=123, arch=arch, output_type="np")
    c = gan.generate(8, seed=124, arch=arch, output_type="np")
    assert a.shape == (8, 28, 28) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_pil_output_matches_np_and_carries_parameters():
    images = gan.generate(3, seed=5)
    arr = gan.generate(3, seed=5, output_type="np")
    assert len(images) == 3 and all(isinstance(im, Image.Image) and im.size == (28, 28) for im in images)
    assert np.array_equal(np.stack([np.asarray(im) for im in images]), arr)
    params = json.loads(images[2].info["parameters"])
    assert params == {"model": "gan/dcgan", "seed": 5, "n": 3, "index": 2}
    # every image gets its own request id, so identical requests never produce identical files
    assert images[0].info["request_id"] != gan.generate(1, seed=5)[0].info["request_id"]


def test_prefix_property_and_batching():
    # the first k images of a seed do not depend on n, across internal batches of 1,000
    small = gan.generate(4, seed=9, arch="su2017", output_type="np")
    big = gan.generate(2500, seed=9, arch="su2017", output_type="np")
    assert big.shape == (2500, 28, 28) and np.array_equal(big[:4], small)


def test_max_n():
    assert gan.generate(10_000, seed=0, arch="su2017", output_type="np").shape == (10_000, 28, 28)


def test_random_seed_is_recorded():
    im = gan.generate(1)[0]
    seed = json.loads(im.info["parameters"])["seed"]
    assert np.array_equal(np.asarray(im), gan.generate(1, seed=seed, output_type="np")[0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, "n must be between"),
        ({"n": 10_001}, "n must be between"),
        ({"n": 2.5}, "n must be an integer"),
        ({"n": "4"}, "n must be an integer"),
        ({"n": None}, "n must be an integer"),
        ({"arch": "stylegan"}, "arch must be one of"),
        ({"seed": -3}, "seed must be between"),
        ({"seed": "abc"}, "seed must be an integer"),
        ({"output_type": "tensor"}, "output_type"),
    ],
)
def test_generate_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gan.generate(**kwargs)


@pytest.mark.parametrize("arch", gan.ARCHS)
def test_interpolation_ends_at_the_two_seeds(arch):
    frames = gan.interpolate(11, 22, steps=6, arch=arch, output_type="np")
    assert frames.shape == (6, 28, 28)
    assert np.array_equal(frames[0], gan.generate(1, seed=11, arch=arch, output_type="np")[0])
    assert np.array_equal(frames[-1], gan.generate(1, seed=22, arch=arch, output_type="np")[0])
    assert np.abs(frames[1].astype(int) - frames[0]).mean() < np.abs(frames[-1].astype(int) - frames[0]).mean()


def test_interpolation_pil_and_gif(tmp_path):
    frames = gan.interpolate(1, 2, steps=4)
    assert json.loads(frames[3].info["parameters"])["t"] == 1.0
    path = gan.interpolation_gif(frames, tmp_path / "walk.gif")
    gif = Image.open(path)
    assert gif.format == "GIF" and gif.n_frames == 6  # ping-pong: 4 forward + 2 back
    assert b"seed_a" in gif.info["comment"]


@pytest.mark.parametrize("kwargs, match", [({"steps": 1}, "steps"), ({"steps": 65}, "steps"), ({"seed_a": -1}, "seed"),
                                           ({"arch": "x"}, "arch")])
def test_interpolate_validation(kwargs, match):
    args = {"seed_a": 0, "seed_b": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        gan.interpolate(**args)


def test_numpy_integers_are_accepted():
    a = gan.generate(np.int64(3), seed=np.uint32(9), output_type="np")
    assert np.array_equal(a, gan.generate(3, seed=9, output_type="np"))


@pytest.mark.parametrize("frames", [[], [np.zeros((28, 28), np.uint8)], "frames"])
def test_interpolation_gif_rejects_bad_frames(frames, tmp_path):
    with pytest.raises(ValueError, match="frames"):
        gan.interpolation_gif(frames, tmp_path / "x.gif")


def test_checkpoint_names_are_not_relative_paths(tmp_path, monkeypatch):
    # a folder called gan-dcgan in the working directory must not shadow the shipped checkpoint
    (tmp_path / "gan-dcgan").mkdir()
    monkeypatch.chdir(tmp_path)
    assert isinstance(load_pretrained(DCGANGenerator, "gan-dcgan"), DCGANGenerator)


def test_su2017_matches_the_write_up_shapes():
    g, d = Su2017Generator(), Su2017Critic()
    assert [m.weight.shape[::-1] for m in g.modules() if isinstance(m, torch.nn.Linear)] == [(10, 32), (32, 128), (128, 784)]
    assert [m.weight.shape[::-1] for m in d.modules() if isinstance(m, torch.nn.Linear)] == [(784, 128), (128, 32), (32, 1)]
    z = g.sample_latent(1000)
    assert z.min() >= -1 and z.max() <= 1 and z.min() < -0.9


def test_corrupt_and_incomplete_checkpoints(tmp_path, monkeypatch):
    src = gan.model_dir("dcgan")
    bad = tmp_path / "gan-dcgan"
    shutil.copytree(src, bad)
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt"):
        load_pretrained(DCGANGenerator, bad)
    (bad / "model.safetensors").write_bytes(b"\x80\x04not a safetensors file")
    with pytest.raises(ValueError, match="corrupt"):
        load_pretrained(DCGANGenerator, bad)
    (bad / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="incomplete"):
        load_pretrained(DCGANGenerator, bad)
    # through the API: a clear ValueError, and the good checkpoint works again afterwards
    manager.unload("gan/dcgan")
    try:
        with monkeypatch.context() as m, pytest.raises(ValueError, match="incomplete"):
            m.setenv("PLAYGROUND_CHECKPOINTS", str(tmp_path))
            gan.generate(1, seed=0)
    finally:
        manager.unload("gan/dcgan")
    assert gan.generate(1, seed=0, output_type="np").shape == (1, 28, 28)


def test_mismatched_checkpoint(tmp_path):
    DCGANGenerator(channels=8).save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"channels": 16, "latent_dim": 64}))
    with pytest.raises(ValueError, match="does not match"):
        load_pretrained(DCGANGenerator, tmp_path)


def test_hub_loading_fails_clearly_offline(monkeypatch):
    from playground.checkpoints import checkpoint_dir

    monkeypatch.setenv("PLAYGROUND_HUB_REPO", "nobody/no-such-playground-repo")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="Unset PLAYGROUND_HUB_REPO"):
        checkpoint_dir("gan-dcgan")
