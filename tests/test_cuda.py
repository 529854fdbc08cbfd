"""The playground on a CUDA GPU. A machine with one runs these as ``python -m pytest -m cuda``;
without CUDA they are skipped.

* Every tab generates on the GPU, through its Python API and through its app handler, with every
  model it loads on the GPU.
* The image tabs give the CPU's images for the same seed: noise is drawn on the CPU from the seed,
  so only the arithmetic differs. Compared in float32 on both sides with TF32 off, as uint8 pixels:
  one network pass (GAN, EAE) within ``ONE_PASS`` of the CPU, a DDPM run (10 to 25 solver steps,
  each compounding the last bits) within ``DENOISED``.
* The text and move tabs give valid outputs (their draws follow logits that differ from the CPU's
  in the last bits, so not necessarily the CPU's draws): templates kept, legal moves, the same
  output again for the same seed on the GPU.
* The model cache keeps at most ``PLAYGROUND_MAX_GPU_MODELS`` models on the GPU: the least recently
  used one goes off (its memory freed: nothing else holds it) and comes back on when asked for.
* bfloat16 where the GPU has it (Ampere and later): DDPM sampling runs the U-Net under bfloat16
  autocast, within ``BF16`` of float32 (the CPU's own bfloat16 against float32, measured on the
  shipped model: mean 0.4 to 0.6 levels, 96.5 to 98% of pixels within 2); training runs with
  Accelerate's bfloat16 mixed precision.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import math
import weakref

import numpy as np
import pytest
import torch

from playground import ddpm, eae, gan, gibbs, xiangqi
from playground.device import DeviceManager, manager

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (python -m pytest -m cuda)")]

# uint8 levels (of 255) between the CPU's and the GPU's images
ONE_PASS = dict(max_diff=2, within_one=0.999)
DENOISED = dict(max_diff=16, within_one=0.995, mean=0.1)
BF16 = dict(mean=1.0, within_two=0.95)  # bfloat16 against float32, the same device
TEMPLATE = "科学技术____生产力。"
USER_IMAGES = np.random.default_rng(0).integers(0, 256, (8, 28, 28), dtype=np.uint8)  # any images, for eae


@contextlib.contextmanager
def on_device(device: str):
    """The app's device manager on ``device`` for a while (nothing loaded carried across)."""
    before = manager.device
    manager.unload()
    manager.device = torch.device(device)
    try:
        yield
    finally:
        manager.unload()
        manager.device = before


@pytest.fixture(autouse=True)
def gpu(monkeypatch):
    """Every test on the GPU (whatever ``PLAYGROUND_DEVICE`` says), in exact float32 (no TF32)."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    with on_device("cuda"):
        yield


def assert_close(cpu, cuda, what, max_diff=None, within_one=None, within_two=None, mean=None):
    cpu, cuda = np.asarray(cpu), np.asarray(cuda)
    assert cpu.shape == cuda.shape and cuda.dtype == np.uint8, what
    diff = np.abs(cpu.astype(np.int16) - cuda.astype(np.int16))
    report = f"{what}: mean {diff.mean():.3f}, max {diff.max()}, within 1: {np.mean(diff <= 1):.4f}"
    assert max_diff is None or diff.max() <= max_diff, report
    assert within_one is None or np.mean(diff <= 1) >= within_one, report
    assert within_two is None or np.mean(diff <= 2) >= within_two, report
    assert mean is None or diff.mean() <= mean, report


def assert_all_on_gpu():
    assert manager.loaded()
    for key in manager.loaded():
        tensors = [*manager._models[key].parameters(), *manager._models[key].buffers()]
        assert tensors and all(t.device.type == "cuda" for t in tensors), key


# --------------------------------------------------------------------------- the image tabs
IMAGE_CALLS = {
    "gan dcgan": lambda: gan.generate(16, seed=0, arch="dcgan", output_type="np"),
    "gan su2017": lambda: gan.generate(16, seed=0, arch="su2017", output_type="np"),
    "gan interpolate": lambda: gan.interpolate(0, 1, steps=8, output_type="np"),
    **{f"eae {m}": (lambda m=m: eae.generate(16, seed=0, model=m, temperature=0.8, output_type="np"))
       for m in eae.MODELS},
    "eae reconstruct": lambda: eae.reconstruct(USER_IMAGES, model="eae", output_type="np")[1],
    "eae interpolate": lambda: eae.interpolate(0, 1, steps=8, model="vae", output_type="np"),
    "ddpm dpm++ 25": lambda: ddpm.generate(16, steps=25, sampler="dpm++", seed=0, output_type="np"),
    "ddpm ddim 10": lambda: ddpm.generate(16, steps=10, sampler="ddim", seed=0, output_type="np"),
    "ddpm ancestral 20": lambda: ddpm.generate(8, steps=20, sampler="ddpm", seed=0, output_type="np"),
    "ddpm interpolate": lambda: ddpm.interpolate(USER_IMAGES[0], USER_IMAGES[1], t0=300, steps=20, points=4, seed=0,
                                                 output_type="np"),
}


def test_image_tabs_give_the_cpus_images(monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DDPM_BF16", "0")  # float32 on both sides
    with on_device("cpu"):
        reference = {what: call() for what, call in IMAGE_CALLS.items()}
    for what, call in IMAGE_CALLS.items():
        assert_close(reference[what], call(), what, **(DENOISED if what.startswith("ddpm") else ONE_PASS))
    assert_all_on_gpu()


def test_every_tab_generates_on_the_gpu():
    images = gan.generate(4, seed=1)
    assert len(images) == 4 and images[0].size == (28, 28) and '"seed": 1' in images[0].info["parameters"]
    for sampler in ddpm.SAMPLERS:
        assert ddpm.generate(2, steps=4, sampler=sampler, eta=0.5, seed=0, output_type="np").shape == (2, 28, 28)
    frames = list(ddpm.frames(2, steps=5, seed=0, output_type="np"))
    assert [f["step"] for f in frames] == [1, 2, 3, 4, 5] and frames[-1]["x0"].shape == (2, 28, 28)
    assert np.array_equal(frames[-1]["x_t"], ddpm.generate(2, steps=5, seed=0, output_type="np"))
    for model in eae.MODELS:
        inputs, recons = eae.reconstruct(list(USER_IMAGES[:3]), model=model, output_type="np")
        assert recons.shape == (3, 28, 28) and len(eae.generate(3, seed=0, model=model)) == 3

    legal = xiangqi.legal_moves("h2e2")
    assert xiangqi.choose_move("h2e2") in legal
    assert xiangqi.choose_move("h2e2", temperature=1.0, seed=3) == xiangqi.choose_move("h2e2", temperature=1.0, seed=3)
    assert xiangqi.choose_move("h2e2", temperature=1.0, seed=3) in legal
    assert len(xiangqi.choose_move("h2e2", legal_only=False)) == 4  # the model's own pick: a move token
    top = xiangqi.candidates("h2e2", k=5)
    probabilities = [p for _, p in top]
    assert len(top) == 5 and all(m in legal for m, _ in top) and probabilities == sorted(probabilities, reverse=True)
    assert 0 < sum(probabilities) <= 1.0001
    played = xiangqi.play([], "h2e2")
    assert played["history"][0] == "h2e2" and played["reply"] in legal
    value = xiangqi.evaluation("h2e2")["value"]
    assert value is None or 0 <= value <= 1

    texts = gibbs.sample(TEMPLATE, n=4, steps=60, burn_in=10, anneal="linear:0.1", seed=0)
    assert len(texts) == 4 and all(len(t) == len(TEMPLATE) and t[:4] == TEMPLATE[:4] and t.endswith("生产力。")
                                   and "_" not in t for t in texts)
    assert gibbs.sample(TEMPLATE, n=4, steps=60, burn_in=10, anneal="linear:0.1", seed=0) == texts
    steps = list(gibbs.chain(length=8, n=2, steps=20, burn_in=0, seed=0))
    assert len(steps) == 20 and all(len(t) == 8 and "_" not in t for t in steps[-1]["texts"])
    assert steps[-1]["texts"] == gibbs.sample(length=8, n=2, steps=20, burn_in=0, seed=0)
    assert_all_on_gpu()


def test_the_app_handlers_run_on_the_gpu():
    """Each tab's main endpoint, as the server runs it (PNG files written, texts joined), on the GPU."""
    from playground import tabs
    from playground.bench import check_output

    handlers = tabs.handlers()
    for api_name, args in tabs.main_calls():
        check_output(api_name, handlers[api_name](*args))
    assert_all_on_gpu()
    status = manager.status()
    assert status["device"].startswith("cuda") and status["gpu"] and status["gpu_memory_allocated_mb"] > 0


# --------------------------------------------------------------------------- the model cache
def test_the_model_cache_keeps_at_most_max_gpu_models_on_the_gpu(monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MAX_GPU_MODELS", "2")
    assert DeviceManager(device="cuda").max_gpu_models == 2
    monkeypatch.setattr(manager, "max_gpu_models", 2)
    calls = [
        lambda: gan.generate(4, seed=0, arch="dcgan", output_type="np"),
        lambda: gan.generate(4, seed=0, arch="su2017", output_type="np"),
        lambda: eae.generate(4, seed=0, model="vae", output_type="np"),
        lambda: ddpm.generate(2, steps=3, seed=0, output_type="np"),
        lambda: gibbs.sample(TEMPLATE, n=2, steps=20, burn_in=0, seed=0),
        lambda: xiangqi.candidates("h2e2", k=3),
    ]
    first = calls[0]()
    seen = {}  # every model that was on the GPU, weakly: an evicted one must be gone, not held somewhere
    for call in calls[1:]:
        for key in manager.loaded():
            seen.setdefault(key, weakref.ref(manager._models[key]))
        call()
        assert len(manager.loaded()) <= 2, manager.loaded()
        assert_all_on_gpu()
    for key in manager.loaded():
        seen.setdefault(key, weakref.ref(manager._models[key]))
    assert len(seen) >= 5
    gc.collect()
    torch.cuda.empty_cache()
    alive = {key for key, ref in seen.items() if ref() is not None}
    assert alive == set(manager.loaded()), "a model evicted from the cache is still held (still on the GPU)"
    # the least recently used model comes back on when asked for, and gives the same images
    assert "gan/dcgan" not in manager.loaded()
    assert np.array_equal(calls[0](), first) and "gan/dcgan" in manager.loaded() and len(manager.loaded()) <= 2


# --------------------------------------------------------------------------- bfloat16
def _bf16():
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")


def test_ddpm_samples_in_bfloat16_where_supported(monkeypatch):
    _bf16()
    from playground.ddpm import api

    dtypes = []
    hook = ddpm.load_unet().register_forward_hook(lambda module, args, out: dtypes.append(out.sample.dtype))
    try:
        monkeypatch.delenv("PLAYGROUND_DDPM_BF16", raising=False)
        assert api._autocast()
        b16 = ddpm.generate(16, steps=25, seed=0, output_type="np")
        assert set(dtypes) == {torch.bfloat16}
        monkeypatch.setenv("PLAYGROUND_DDPM_BF16", "0")
        dtypes.clear()
        f32 = ddpm.generate(16, steps=25, seed=0, output_type="np")
        assert set(dtypes) == {torch.float32}
    finally:
        hook.remove()
    assert_close(f32, b16, "ddpm dpm++ 25, bfloat16 against float32", **BF16)


def test_training_in_bfloat16_on_the_gpu(tmp_path):
    _bf16()
    from playground.checkpoints import load_pretrained
    from playground.data import DataMissingError, load_fashion_mnist
    from playground.gan.models import DCGANGenerator
    from playground.gan.train import TrainConfig, train

    try:
        load_fashion_mnist("test")
    except DataMissingError as e:
        pytest.skip(str(e))
    config = TrainConfig.for_arch("dcgan", steps=3, batch_size=16, bf16=True, model_kwargs={"channels": 8})
    summary = train(config, tmp_path / "run", export_dir=tmp_path / "export", progress=False, log_every=1)
    assert summary["finished"] and summary["step"] == 3
    with open(tmp_path / "run" / "loss.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and all(math.isfinite(float(r["d_loss"])) and math.isfinite(float(r["g_loss"])) for r in rows)
    net = load_pretrained(DCGANGenerator, tmp_path / "export").to("cuda")
    with torch.inference_mode():
        images = net(net.sample_latent(4, torch.Generator().manual_seed(0)).to("cuda"))
    assert images.shape == (4, 1, 28, 28) and torch.isfinite(images).all()
