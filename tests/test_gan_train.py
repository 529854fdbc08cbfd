import csv
import json

import pytest
import torch
from safetensors.torch import load_file

from playground.gan.train import BatchStream, TrainConfig, train

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
