"""EAE-tab training: a few steps, resume, the three losses, data parallelism under torchrun."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from playground.eae.train import TrainConfig, compute_loss, lam_at, train

ROOT = Path(__file__).resolve().parent.parent
TINY = {"batch_size": 16, "latent_dim": 4, "channels": 4, "warmup": 2}


def _state(path):
    return torch.load(path / "state.pt", weights_only=True)


@pytest.mark.parametrize("kind", ["eae", "ae-bn", "vae"])
def test_few_steps_then_resume_matches_straight_run(kind, tmp_path):
    config = TrainConfig(kind=kind, steps=4, seed=3, **TINY)
    straight = tmp_path / "straight"
    summary = train(config, straight, export_dir=tmp_path / "export", progress=False, log_every=1, sample_every=2)
    assert summary["finished"] and summary["step"] == 4 and summary["processes"] == 1

    split = tmp_path / "split"  # interrupted after 2 steps, then the same command again
    assert train(TrainConfig(kind=kind, steps=2, seed=3, **TINY), split, progress=False, log_every=1)["step"] == 2
    assert train(config, split, progress=False, log_every=1)["step"] == 4
    a, b = _state(straight), _state(split)
    for key in a["net"]:
        assert torch.allclose(a["net"][key].float(), b["net"][key].float(), atol=1e-5), key
    with open(split / "loss.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all(torch.isfinite(torch.tensor(float(r["loss"]))) for r in rows)

    export = tmp_path / "export"
    assert {"model.safetensors", "config.json", "loss.csv", "training.json", "samples.png", "README.md"} <= \
        {p.name for p in export.iterdir()}
    assert json.loads((export / "config.json").read_text())["kind"] == kind
    assert "python -m playground train eae" not in (export / "README.md").read_text()  # no command given here
    from playground.eae import api

    images = api.generate(3, seed=0, model=str(export.resolve()), output_type="np")
    assert images.shape == (3, 28, 28)


def test_lambda_ramps_up_and_baselines_ignore_it():
    c = TrainConfig(kind="eae", lam=2.0, warmup=100)
    assert lam_at(c, 0) == 0 and lam_at(c, 50) == pytest.approx(1.0) and lam_at(c, 500) == 2.0
    assert TrainConfig(kind="ae-bn", lam=2.0).lam == 0 and lam_at(TrainConfig(kind="ae-bn", lam=2.0), 500) == 0
    assert lam_at(TrainConfig(kind="eae", lam=1.0, warmup=0), 0) == 1.0


def test_entropy_term_enters_the_eae_loss_only():
    from playground.eae.models import Autoencoder

    torch.manual_seed(0)
    x = torch.rand(32, 1, 28, 28)
    net = Autoencoder("eae", 4, 4)
    loss, info = compute_loss(net, x, TrainConfig(kind="eae", lam=1.0, warmup=0, batch_size=32, latent_dim=4), 10)
    assert info["loss"] == pytest.approx(info["sse"] - info["reg"], rel=1e-4)
    loss, info = compute_loss(net, x, TrainConfig(kind="ae-bn", batch_size=32, latent_dim=4), 10)
    assert info["loss"] == pytest.approx(info["sse"])
    vae = Autoencoder("vae", 4, 4)
    loss, info = compute_loss(vae, x, TrainConfig(kind="vae", beta=2.0, batch_size=32, latent_dim=4), 10)
    assert info["loss"] == pytest.approx(info["sse"] + 2.0 * info["reg"], rel=1e-4) and info["reg"] >= 0
    loss, info = compute_loss(vae, x, TrainConfig(kind="vae", beta=None, batch_size=32, latent_dim=4), 10)
    assert torch.isfinite(loss)  # the calibrated decoder: sigma^2 = batch MSE


def test_the_entropy_gradient_reaches_the_encoder():
    # with lambda > 0 the encoder's gradient changes: the entropy term is not detached
    from playground.eae.models import Autoencoder

    torch.manual_seed(0)
    x = torch.rand(32, 1, 28, 28)
    grads = []
    for lam in (0.0, 5.0):
        torch.manual_seed(1)  # the same initial weights both times
        net = Autoencoder("eae", 4, 4)
        loss, _ = compute_loss(net, x, TrainConfig(kind="eae", lam=lam, warmup=0, batch_size=32, latent_dim=4,
                                                   channels=4), 10)
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for n, p in net.named_parameters() if n.startswith("encoder")]))
    assert not torch.allclose(grads[0], grads[1])


def test_bad_configurations():
    with pytest.raises(ValueError, match="--model must be one of"):
        TrainConfig(kind="gan")
    with pytest.raises(ValueError, match="k must be between"):
        TrainConfig(kind="eae", k=16, batch_size=16)
    with pytest.raises(ValueError, match="lam must be a number >= 0"):
        TrainConfig(kind="eae", lam=-1.0)
    with pytest.raises(ValueError, match="lr must be a number > 0"):
        TrainConfig(lr=0.0)
    with pytest.raises(ValueError, match="warmup must be at least 0"):
        TrainConfig(kind="eae", warmup=-5)
    with pytest.raises(ValueError, match="beta must be a number > 0"):
        TrainConfig(kind="vae", beta=-0.3)


def test_resume_refuses_a_different_configuration(tmp_path):
    train(TrainConfig(kind="eae", steps=1, **TINY), tmp_path, progress=False)
    with pytest.raises(ValueError, match="different configuration"):
        train(TrainConfig(kind="eae", steps=2, **dict(TINY, latent_dim=8)), tmp_path, progress=False)


def test_corrupt_state_gives_a_clear_error(tmp_path):
    (tmp_path / "state.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot be read"):
        train(TrainConfig(kind="eae", steps=1, **TINY), tmp_path, progress=False)


def test_max_minutes_stops_resumably(tmp_path):
    summary = train(TrainConfig(kind="vae", steps=100, **TINY), tmp_path, export_dir=tmp_path / "export",
                    max_minutes=0, progress=False)
    assert summary["step"] == 1 and not summary["finished"] and not (tmp_path / "export").exists()
    assert _state(tmp_path)["step"] == 1


def test_two_processes_under_torchrun_share_the_work(tmp_path):
    """The unchanged CLI under torchrun: two CPU processes (gloo), each its own slice of every batch."""
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "playground",
           "train", "eae", "--model", "eae", "--steps", "3", "--batch-size", "8", "--latent-dim", "4",
           "--channels", "4", "--warmup", "1", "--out", str(out), "--no-progress", "--export", str(tmp_path / "export")]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["finished"]
    assert summary["images_per_process_this_run"] == [24, 24]  # 3 steps x 8 images, on both ranks
    assert (tmp_path / "export" / "model.safetensors").is_file()
    # resuming under torchrun continues from the saved step
    cmd[cmd.index("--steps") + 1] = "5"
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "resumed eae from step 3" in r.stderr, r.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["images_per_process_this_run"] == [16, 16]
