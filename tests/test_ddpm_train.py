"""DDPM-tab training: a few steps, resume, the exported pipeline folder, data parallelism under torchrun."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from playground.ddpm.models import make_scheduler, make_unet
from playground.ddpm.train import TrainConfig, compute_loss, lr_at, train

ROOT = Path(__file__).resolve().parent.parent
TINY = {"size": "tiny", "batch_size": 8, "warmup": 2}


def _state(path):
    return torch.load(path / "state.pt", weights_only=True)


@pytest.mark.parametrize("schedule", ["su", "cosine"])
def test_few_steps_then_resume_matches_straight_run(schedule, tmp_path):
    config = TrainConfig(schedule=schedule, steps=4, seed=3, **TINY)
    straight = tmp_path / "straight"
    summary = train(config, straight, export_dir=tmp_path / "export", progress=False, log_every=1, sample_every=2)
    assert summary["finished"] and summary["step"] == 4 and summary["processes"] == 1

    split = tmp_path / "split"  # interrupted after 2 steps, then the same command with more steps
    assert train(TrainConfig(schedule=schedule, steps=2, seed=3, **TINY), split, progress=False, log_every=1)["step"] == 2
    assert train(config, split, progress=False, log_every=1)["step"] == 4
    a, b = _state(straight), _state(split)
    for key in a["unet"]:
        assert torch.allclose(a["unet"][key].float(), b["unet"][key].float(), atol=1e-5), key
    for x, y in zip(a["ema"]["shadow_params"], b["ema"]["shadow_params"]):
        assert torch.allclose(x, y, atol=1e-5)
    assert a["ema"]["optimization_step"] == 4
    with open(split / "loss.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4] and all(float(r["loss"]) > 0 for r in rows)
    assert sorted(p.name for p in (straight / "samples").iterdir()) == ["step_0000002.png", "step_0000004.png"]


def test_the_export_is_a_pipeline_folder_diffusers_loads(tmp_path):
    from diffusers import DDPMPipeline

    train(TrainConfig(steps=2, **TINY), tmp_path / "run", export_dir=tmp_path / "export", progress=False)
    export = tmp_path / "export"
    assert {"model_index.json", "unet", "scheduler", "README.md", "loss.csv", "training.json", "samples.png"} <= \
        {p.name for p in export.iterdir()}
    assert list((export / "unet").glob("*.safetensors")) and not list(export.rglob("*.bin"))
    pipe = DDPMPipeline.from_pretrained(export, use_safetensors=True)
    assert pipe.scheduler.config.beta_start == pytest.approx(2e-5)
    out = pipe(batch_size=1, num_inference_steps=2, output_type="np", generator=torch.Generator().manual_seed(0))
    assert out.images.shape == (1, 28, 28, 1)
    card = (export / "README.md").read_text()
    assert "library_name: diffusers" in card and "2 steps of batch 8" in card


def test_the_loss_trains_on_the_noise():
    torch.manual_seed(0)
    unet, sched = make_unet("tiny"), make_scheduler("su")
    x0 = torch.rand(8, 1, 28, 28) * 2 - 1
    loss = compute_loss(unet, sched, x0, torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and 0.2 < loss.item() < 5  # an untrained net: about the variance of eps
    loss.backward()
    assert all(p.grad is not None for p in unet.parameters() if p.requires_grad)


def test_learning_rate_warms_up_then_stays():
    c = TrainConfig(lr=1e-3, warmup=100)
    assert lr_at(c, 0) == pytest.approx(1e-5) and lr_at(c, 49) == pytest.approx(5e-4)
    assert lr_at(c, 99) == lr_at(c, 5000) == 1e-3  # constant: a run can be extended with --steps


def test_bad_configurations():
    for kwargs, match in [(dict(schedule="quadratic"), "--schedule must be one of"), (dict(size="huge"), "--size"),
                          (dict(steps=0), "steps must be at least 1"), (dict(lr=-1.0), "lr must be"),
                          (dict(ema_decay=1.0), "ema_decay must be a number in"), (dict(warmup=-1), "warmup must be")]:
        with pytest.raises(ValueError, match=match):
            TrainConfig(**kwargs)


def test_resume_refuses_a_different_configuration(tmp_path):
    train(TrainConfig(steps=1, **TINY), tmp_path, progress=False)
    with pytest.raises(ValueError, match="different configuration"):
        train(TrainConfig(steps=2, **dict(TINY, schedule="cosine")), tmp_path, progress=False)


def test_corrupt_state_gives_a_clear_error(tmp_path):
    (tmp_path / "state.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot be read"):
        train(TrainConfig(steps=1, **TINY), tmp_path, progress=False)


def test_two_processes_under_torchrun_share_the_work(tmp_path):
    """The unchanged CLI under torchrun: two CPU processes (gloo), each its own slice of every batch."""
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "playground",
           "train", "ddpm", "--size", "tiny", "--steps", "3", "--batch-size", "4", "--warmup", "1",
           "--out", str(out), "--no-progress", "--sample-every", "100", "--export", str(tmp_path / "export")]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["finished"]
    assert summary["images_per_process_this_run"] == [12, 12]  # 3 steps x 4 images, on both ranks
    assert (tmp_path / "export" / "model_index.json").is_file()
    cmd[cmd.index("--steps") + 1] = "5"  # resuming under torchrun continues from the saved step
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "resumed ddpm/su from step 3" in r.stderr, r.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["images_per_process_this_run"] == [8, 8]
