import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from playground.gan.train import BatchStream, TrainConfig, train

ROOT = Path(__file__).resolve().parent.parent
TINY = {"su2017": {}, "dcgan": {"model_kwargs": {"channels": 8}}}


def _state(path):
    return torch.load(path / "state.pt", weights_only=True)


@pytest.mark.parametrize("arch", ["su2017", "dcgan"])
def test_few_steps_then_resume_matches_straight_run(arch, tmp_path):
    config = TrainConfig.for_arch(arch, steps=4, batch_size=16, seed=3, **TINY[arch])
    straight = tmp_path / "straight"
    summary = train(config, straight, export_dir=tmp_path / "export", progress=False, log_every=1, sample_every=2)
    assert summary["finished"] and summary["step"] == 4

    # interrupted after 2 steps (as if killed), then the same command again continues
    split = tmp_path / "split"
    first = TrainConfig.for_arch(arch, steps=2, batch_size=16, seed=3, **TINY[arch])
    assert train(first, split, progress=False, log_every=1)["step"] == 2
    summary = train(config, split, progress=False, log_every=1)
    assert summary["step"] == 4

    a, b = _state(straight), _state(split)
    for key in a["G"]:
        assert torch.allclose(a["G"][key].float(), b["G"][key].float(), atol=1e-5), key
    with open(split / "loss.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [1, 2, 3, 4]

    # the export is a PyTorchModelHubMixin folder with the training record
    export = tmp_path / "export"
    assert {"model.safetensors", "config.json", "loss.csv", "training.json", "samples.png"} <= {p.name for p in export.iterdir()}
    assert load_file(export / "model.safetensors")
    record = json.loads((export / "training.json").read_text())
    assert record["step"] == 4 and record["arch"] == arch
    assert sorted(p.name for p in (straight / "samples").iterdir()) == ["step_0000002.png", "step_0000004.png"]


def test_losses_are_finite_and_generator_moves(tmp_path):
    config = TrainConfig.for_arch("dcgan", steps=1, batch_size=16, model_kwargs={"channels": 8})
    train(config, tmp_path, progress=False, log_every=1)
    before = _state(tmp_path)["G"]
    config = TrainConfig.for_arch("dcgan", steps=3, batch_size=16, model_kwargs={"channels": 8})
    train(config, tmp_path, progress=False, log_every=1)
    after = _state(tmp_path)["G"]
    assert any(not torch.equal(before[k], after[k]) for k in before if k.endswith("weight"))
    with open(tmp_path / "loss.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert all(torch.isfinite(torch.tensor(float(r[k]))) for r in rows for k in ("d_loss", "g_loss", "penalty"))


def test_max_minutes_stops_resumably(tmp_path):
    config = TrainConfig.for_arch("su2017", steps=1000, batch_size=16)
    summary = train(config, tmp_path, export_dir=tmp_path / "export", max_minutes=0, progress=False)
    assert summary["step"] == 1 and not summary["finished"]
    assert not (tmp_path / "export").exists()  # unfinished runs are not exported
    assert _state(tmp_path)["step"] == 1


def test_resume_refuses_a_different_configuration(tmp_path):
    train(TrainConfig.for_arch("su2017", steps=1, batch_size=16), tmp_path, progress=False)
    with pytest.raises(ValueError, match="different configuration"):
        train(TrainConfig.for_arch("su2017", steps=2, batch_size=32), tmp_path, progress=False)


def test_su2017_defaults_follow_the_write_up():
    c = TrainConfig.for_arch("su2017")
    assert (c.batch_size, c.lr, c.beta1, c.critic_steps, c.penalty) == (100, 1e-4, 0.5, 5, 10.0)
    with pytest.raises(ValueError, match="unknown GAN architecture"):
        TrainConfig.for_arch("biggan")


def test_batch_stream_covers_epoch_and_restores():
    images = torch.arange(10).float()
    s = BatchStream(images, 3, seed=0)
    seen = torch.cat([s.next() for _ in range(3)])
    assert sorted(seen.tolist()) == sorted(set(seen.tolist()))  # no repeats within an epoch
    state = s.state_dict()
    nxt = s.next()
    s2 = BatchStream(images, 3, seed=0)
    s2.load_state_dict(state)
    assert torch.equal(s2.next(), nxt)


def test_rows_logged_after_the_last_save_are_dropped_on_resume(tmp_path):
    config = TrainConfig.for_arch("su2017", steps=2, batch_size=16)
    train(config, tmp_path, progress=False, log_every=1)
    with open(tmp_path / "loss.csv", "a") as f:  # logged, then killed before the next save
        f.write("3,0,0,0,0\n4,0,0,0,0\n")
    train(TrainConfig.for_arch("su2017", steps=4, batch_size=16), tmp_path, progress=False, log_every=1)
    with open(tmp_path / "loss.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4] and float(rows[2]["d_loss"]) != 0


def test_ctrl_c_saves_the_state(tmp_path, monkeypatch):
    calls = {"n": 0}
    real_next = BatchStream.next

    def interrupting_next(self):
        calls["n"] += 1
        if calls["n"] > 2:
            raise KeyboardInterrupt
        return real_next(self)

    monkeypatch.setattr(BatchStream, "next", interrupting_next)
    config = TrainConfig.for_arch("dcgan", steps=10, batch_size=16, model_kwargs={"channels": 8})
    summary = train(config, tmp_path, export_dir=tmp_path / "export", progress=False)
    assert summary["step"] == 2 and not summary["finished"]
    assert _state(tmp_path)["step"] == 2 and not (tmp_path / "export").exists()


@pytest.mark.parametrize("arch", ["su2017", "dcgan"])
def test_two_processes_under_torchrun_then_one_resumes(arch, tmp_path):
    """The unchanged CLI under torchrun: two CPU processes (gloo), each its own slice of every batch,
    the penalties' double backward through the DDP-wrapped critic; a single process then resumes."""
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    args = ["-m", "playground", "train", "gan", "--arch", arch, "--steps", "3", "--batch-size", "8", "--out", str(out),
            "--no-progress", "--log-every", "1", "--export", str(tmp_path / "export")]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["finished"]
    critic_steps = TrainConfig.for_arch(arch).critic_steps
    assert summary["images_per_process_this_run"] == [3 * critic_steps * 8] * 2  # real images, on both ranks
    assert (tmp_path / "export" / "model.safetensors").is_file()
    state = _state(out)
    assert state["step"] == 3 and len(state["rng"]) == 2 and (state["ema"] is None) == (arch == "su2017")

    args[args.index("--steps") + 1] = "5"  # one process picks the run up where the two left it
    r = subprocess.run([sys.executable, *args, "--threads", "1"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and f"resumed {arch} from step 3" in r.stderr, r.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processes"] == 1 and summary["step"] == 5
    with open(out / "loss.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5]
    assert all(torch.isfinite(torch.tensor(float(r[k]))) for r in rows for k in ("d_loss", "g_loss", "penalty"))


DDP_PENALTY_CHECK = """
import copy, json, sys, torch
from playground.gan.models import DCGANCritic, Su2017Critic
from playground.gan.train import critic_loss_r1, critic_loss_su2017
from playground.training import make_accelerator

report = {}
for name, cls, bf16 in [("su2017", Su2017Critic, False), ("r1", DCGANCritic, False), ("r1-bf16", DCGANCritic, True)]:
    acc = make_accelerator(bf16)
    torch.manual_seed(0)
    net = cls()
    if name == "su2017":  # steeper, so that the one-sided penalty (on |grad| > 1) is active
        for p in net.parameters():
            p.data.mul_(4)
    alone = copy.deepcopy(net)
    critic = acc.prepare(net)
    assert isinstance(critic, torch.nn.parallel.DistributedDataParallel)
    torch.manual_seed(1 + acc.process_index)  # each process its own images
    real, fake = torch.rand(8, 1, 28, 28), torch.rand(8, 1, 28, 28)

    def loss(d, seed, penalty=10.0):
        torch.manual_seed(seed)
        if name == "su2017":
            return critic_loss_su2017(d, real, fake, penalty)[0]
        return critic_loss_r1(d, real, fake, penalty, acc.autocast())[0]

    for seed in (7, 8):  # two iterations: each forward must find the previous reduction finished
        critic.zero_grad()
        acc.backward(loss(critic, seed))
    grads = {}
    for penalty in (10.0, 0.0):  # this process's own gradient, with and without the penalty term
        alone.zero_grad()
        with acc.autocast():
            loss(alone, 8, penalty).backward()
        grads[penalty] = [acc.reduce(p.grad.clone(), reduction="mean") for p in alone.parameters()]
    size = max(float(g.abs().max()) for g in grads[10.0])
    report[name] = max(float((p.grad - m).abs().max()) for p, m in zip(net.parameters(), grads[10.0])) / size
    report[name + " penalty share"] = max(float((a - b).abs().max()) for a, b in zip(grads[10.0], grads[0.0])) / size
if acc.is_main_process:
    json.dump(report, open(sys.argv[1], "w"))
acc.wait_for_everyone()
torch.distributed.destroy_process_group()  # a clean exit: gloo's threads stopped before the interpreter ends
"""


def test_gradient_penalties_through_the_ddp_wrapped_critic_match_the_mean_of_the_processes(tmp_path):
    """Under torchrun with two processes, the DDP critic's gradients of both penalised critic losses
    (create_graph double backward) equal the mean of each process's own full gradient."""
    script = tmp_path / "check.py"
    script.write_text(DDP_PENALTY_CHECK)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
           str(tmp_path / "report.json")]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    for name in ("su2017", "r1", "r1-bf16"):
        assert report[name] < 1e-6 and report[name + " penalty share"] > 0.05, report
