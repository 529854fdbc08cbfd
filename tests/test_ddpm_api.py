"""DDPM-tab API on a tiny random U-Net: every sampler's shapes and seeds, our loop's U-Net calls,
streaming frames, interpolation, RGB models, model loading errors, bad inputs."""

import numpy as np
import pytest
import torch
from PIL import Image

from playground import ddpm
from playground.ddpm.models import make_scheduler, make_unet
from playground.ddpm.pipeline import SAMPLERS, make_sampler


def _save_pipeline(folder, channels=1, sample_size=28, schedule="su"):
    from diffusers import DDPMPipeline

    torch.manual_seed(0)
    unet = make_unet("tiny", sample_size=sample_size, channels=channels)
    DDPMPipeline(unet=unet, scheduler=make_scheduler(schedule)).save_pretrained(folder, safe_serialization=True)
    return str(folder)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _save_pipeline(tmp_path_factory.mktemp("ddpm") / "tiny")


@pytest.mark.parametrize("sampler, steps", [("ddpm", 10), ("ddim", 5), ("dpm++", 5)])
def test_each_sampler_shapes_and_seeds(tiny, sampler, steps):
    a = ddpm.generate(3, steps=steps, sampler=sampler, seed=7, model=tiny, output_type="np")
    assert a.shape == (3, 28, 28) and a.dtype == np.uint8
    assert np.array_equal(a, ddpm.generate(3, steps=steps, sampler=sampler, seed=7, model=tiny, output_type="np"))
    assert not np.array_equal(a, ddpm.generate(3, steps=steps, sampler=sampler, seed=8, model=tiny, output_type="np"))
    images = ddpm.generate(2, steps=steps, sampler=sampler, seed=7, model=tiny)
    assert [im.size for im in images] == [(28, 28)] * 2 and images[0].mode == "L"
    assert '"seed": 7' in images[0].info["parameters"] and f'"sampler": "{sampler}"' in images[0].info["parameters"]


def test_ddim_eta_adds_noise_only_when_positive(tiny):
    a = ddpm.generate(2, steps=5, sampler="ddim", eta=0.0, seed=1, model=tiny, output_type="np")
    b = ddpm.generate(2, steps=5, sampler="ddim", eta=1.0, seed=1, model=tiny, output_type="np")
    assert not np.array_equal(a, b)
    assert np.array_equal(b, ddpm.generate(2, steps=5, sampler="ddim", eta=1.0, seed=1, model=tiny, output_type="np"))


def test_frames_stream_every_step_and_end_at_generate(tiny):
    seen = list(ddpm.frames(2, steps=6, sampler="dpm++", seed=3, model=tiny, output_type="np"))
    assert [f["step"] for f in seen] == list(range(1, 7)) and all(f["steps"] == 6 for f in seen)
    ts = [f["t"] for f in seen]
    assert ts == sorted(ts, reverse=True) and ts[0] == 999  # from pure noise, down the schedule
    assert seen[0]["x_t"].shape == seen[0]["x0"].shape == (2, 28, 28)
    assert np.array_equal(seen[-1]["x_t"], ddpm.generate(2, steps=6, sampler="dpm++", seed=3, model=tiny,
                                                         output_type="np"))
    first = next(iter(ddpm.frames(1, steps=3, seed=3, model=tiny)))
    assert isinstance(first["x_t"][0], Image.Image) and '"image": "x0"' in first["x0"][0].info["parameters"]


def _count_unet_calls(tiny):
    """The timesteps our loop calls the tiny U-Net at (a forward hook on the cached model)."""
    seen = []
    hook = ddpm.load_unet(tiny).register_forward_hook(lambda module, args, out: seen.append(int(args[1])))
    return seen, hook


@pytest.mark.parametrize("sampler, steps", [("ddpm", 1000), ("ddpm", 7), ("ddim", 5), ("dpm++", 5)])
def test_our_loop_calls_the_unet_once_per_step(tiny, sampler, steps):
    seen, hook = _count_unet_calls(tiny)
    try:
        ddpm.generate(1, steps=steps, sampler=sampler, seed=0, model=tiny, output_type="np")
        assert len(seen) == steps and seen == sorted(seen, reverse=True) and len(set(seen)) == steps
        if sampler != "ddpm" or steps == 1000:  # DDIM and DPM-Solver++ ("trailing") start from pure noise
            assert seen[0] == 999
        if steps == 1000:  # the write-up's loop: every timestep, T - 1 down to 0
            assert seen == list(range(999, -1, -1))
        seen.clear()
        frames = list(ddpm.frames(1, steps=steps if steps < 1000 else 10, sampler=sampler, seed=0, model=tiny))
        assert len(seen) == len(frames) == (steps if steps < 1000 else 10)
    finally:
        hook.remove()


def test_interpolation_runs_only_the_steps_below_t0(tiny):
    seen, hook = _count_unet_calls(tiny)
    try:
        ddpm.interpolate(np.zeros((28, 28)), np.ones((28, 28)), t0=300, steps=10, points=2, seed=0, model=tiny)
    finally:
        hook.remove()
    assert seen and max(seen) <= 300 and len(seen) < 10 and len(set(seen)) == len(seen)


@pytest.mark.parametrize("schedule", ["su", "linear", "cosine"])
def test_schedules(schedule):
    s = make_scheduler(schedule)
    betas = s.betas
    assert len(betas) == 1000 and torch.all(betas[1:] >= betas[:-1] - 1e-7)
    if schedule == "su":  # the write-up's a_t = sqrt(1 - 0.02 t / T)
        assert torch.allclose(betas, 0.02 * torch.arange(1, 1001) / 1000, atol=1e-7)
    for sampler in SAMPLERS:
        assert make_sampler(s, sampler).config.num_train_timesteps == 1000


def test_interpolate(tiny):
    a = np.zeros((28, 28), np.uint8)
    a[4:24, 8:20] = 220
    b = Image.new("L", (56, 56), 0)
    out = ddpm.interpolate(a, b, t0=300, steps=10, seed=0, points=5, model=tiny, output_type="np")
    assert out.shape == (5, 28, 28)
    again = ddpm.interpolate(a, b, t0=300, steps=10, seed=0, points=5, model=tiny, output_type="np")
    assert np.array_equal(out, again)
    pil = ddpm.interpolate(a, b, t0=300, steps=10, seed=0, points=3, model=tiny)
    assert len(pil) == 3 and '"mix": 0.5' in pil[1].info["parameters"]


def test_an_rgb_model_gives_rgb_images(tmp_path):
    rgb = _save_pipeline(tmp_path / "rgb", channels=3, sample_size=16, schedule="cosine")
    a = ddpm.generate(2, steps=4, seed=0, model=rgb, output_type="np")
    assert a.shape == (2, 16, 16, 3)
    images = ddpm.generate(1, steps=4, seed=0, model=rgb)
    assert images[0].mode == "RGB" and images[0].size == (16, 16)
    mixes = ddpm.interpolate(np.zeros((20, 30, 3), np.uint8), Image.new("RGB", (16, 16), "red"), t0=500,
                             steps=4, seed=0, points=2, model=rgb, output_type="np")
    assert mixes.shape == (2, 16, 16, 3)


def test_a_hub_id_fails_clearly_when_offline(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # what HF_HUB_OFFLINE=1 sets at import
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ValueError) as err:
        ddpm.generate(1, steps=2, model="google/ddpm-cifar10-32")
    message = str(err.value)
    assert message.startswith("the diffusers DDPM pipeline 'google/ddpm-cifar10-32' is not in the local Hugging "
                              "Face cache and HF_HUB_OFFLINE is set") and message.endswith("save_pretrained.")
    assert "local_files_only" not in message  # our words: the API takes no such argument


def test_an_unreachable_hub_fails_clearly(monkeypatch, tmp_path):
    """Not told it is offline, the loader asks the Hub (10 s at most) and says what went wrong, whole."""
    import huggingface_hub
    from huggingface_hub import constants

    def unreachable(*args, **kwargs):
        raise ConnectionError("[Errno -2] Name or service not known")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub, "model_info", unreachable)
    with pytest.raises(ValueError, match=r"^could not load the diffusers DDPM pipeline 'google/ddpm-cifar10-32' from "
                                         r"the Hugging Face Hub \(the Hub cannot be reached: offline\?\)\. Check the "
                                         r"name and the network, or pass a local folder saved with save_pretrained\.$"):
        ddpm.generate(1, steps=2, model="google/ddpm-cifar10-32")


def test_a_corrupt_pipeline_folder_fails_clearly(tmp_path):
    folder = _save_pipeline(tmp_path / "broken")
    weights = next((tmp_path / "broken" / "unet").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated
    with pytest.raises(ValueError, match="corrupt or not a diffusers DDPM pipeline folder") as err:
        ddpm.generate(1, steps=2, model=folder)
    assert str(err.value).endswith("Save or export that folder again, or pass an intact one.")  # whole, ours last


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n=0), "n must be between 1 and 10000"),
        (dict(n=10_001), "n must be between"),
        (dict(n="4"), "n must be an integer"),
        (dict(steps=0), "steps must be between 1 and 1000"),
        (dict(steps=1001), "steps must be between 1 and 1000"),
        (dict(steps=2.5), "steps must be an integer"),
        (dict(sampler="euler"), "sampler must be one of"),
        (dict(eta=-0.1), r"eta must be a number in \[0, 1\]"),
        (dict(eta=1.5), "eta must be"),
        (dict(eta=float("nan")), "eta must be"),
        (dict(seed=-1), "seed must be between"),
        (dict(output_type="pt"), "output_type must be one of"),
        (dict(model=""), "model must be None"),
        (dict(model=42), "model must be None"),
    ],
)
def test_bad_inputs_raise_clear_errors(tiny, kwargs, match):
    args = dict(n=1, steps=2, model=tiny) | kwargs
    with pytest.raises(ValueError, match=match):
        ddpm.generate(**args)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: ddpm.frames(65, model=m), "n must be between 1 and 64"),
        (lambda m: ddpm.interpolate(None, np.zeros((28, 28)), model=m), "expected a PIL image"),
        (lambda m: ddpm.interpolate(b"nope", np.zeros((28, 28)), model=m), "not an image"),
        (lambda m: ddpm.interpolate("/nonexistent.png", np.zeros((28, 28)), model=m), "not a readable image"),
        (lambda m: ddpm.interpolate(np.zeros((28, 28)), np.zeros((2, 2, 2, 2)), model=m), "image array must be"),
        (lambda m: ddpm.interpolate(np.zeros((28, 28)), np.zeros((28, 28)), t0=0, model=m), "t0 must be between 1"),
        (lambda m: ddpm.interpolate(np.zeros((28, 28)), np.zeros((28, 28)), t0=1000, model=m), "t0 must be between"),
        (lambda m: ddpm.interpolate(np.zeros((28, 28)), np.zeros((28, 28)), points=1, model=m), "points must be"),
        # 5 DDIM steps run at 999, 799, ... 199: none at or below t0 = 100 (an IndexError before issue 24)
        (lambda m: ddpm.interpolate(np.zeros((28, 28)), np.zeros((28, 28)), t0=100, steps=5, model=m),
         "t0 100 is below every step"),
    ],
)
def test_bad_frames_and_interpolation_inputs(tiny, call, match):
    with pytest.raises(ValueError, match=match):
        call(tiny)
