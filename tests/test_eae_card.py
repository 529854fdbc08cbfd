"""The EAE model cards and sweep report are written from measured records only: the verdict,
the comparison table and the sweep findings follow the numbers they are given."""

import json

import pytest

from playground.eae import card, sweep


def _scores(fd, precision=0.5, recall=0.3):
    return {"n": 10000, "fd": fd, "kid": fd / 1000, "precision": precision, "recall": recall,
            "class_histogram": {"Bag": 0.5, "Trouser": 0.5}}


def _write(folder, kind, fd, sse, coverage, beta=None):
    folder.mkdir(parents=True)
    config = {"kind": kind, "steps": 100, "batch_size": 128, "lr": 0.001, "latent_dim": 32, "channels": 32,
              "lam": 3.0 if kind == "eae" else 0.0, "k": 1, "warmup": 1000, "beta": beta, "bf16": True, "seed": 0}
    training = {"kind": kind, "step": 100, "steps": 100, "finished": True, "wall_minutes": 1.0, "cpu_minutes": 0.9,
                "threads": 1, "device": "cpu", "processes": 1, "config": config,
                "command": f"python -m playground train eae --model {kind}", "notes": [f"a note on {kind}"]}
    latent = {"latent_dim": 32, "k": 5, "entropy_knn": 40.0, "entropy_knn_of_n01_samples": 47.9,
              "entropy_max_unit_variance": 45.4, "fd_to_n01": 0.5, "ks_mean": 0.02, "ks_max": 0.05,
              "prior_coverage": coverage}
    metrics = {"command": "python -m playground eval eae --write-card", "samples": _scores(fd),
               "real_floor": _scores(1.0, 0.87, 0.88), "reconstruction": {"sse": sse, "mse": sse / 784},
               "latent": latent, "seconds": 12.0,
               "by_temperature": [dict(_scores(fd * 0.8), temperature=0.7), dict(_scores(fd), temperature=1.0)]}
    (folder / "training.json").write_text(json.dumps(training))
    (folder / "metrics.json").write_text(json.dumps(metrics))


def _record(name, fd, sse, fd_n01, **change):
    config = dict(sweep.CENTRE, steps=2000, batch_size=128, beta=None) | change
    return {"name": name, "config": config, "fd": fd, "kid": 0.3, "precision": 0.5, "recall": 0.3, "n": 5000,
            "test_sse": sse, "fd_to_n01": fd_n01, "prior_coverage": 0.3, "command": "python -m playground sweep eae"}


@pytest.mark.parametrize(("eae_fd", "vae_fd", "word"), [(200.0, 400.0, "confirms"), (500.0, 400.0, "does not confirm")])
def test_the_verdict_follows_the_measured_fd(tmp_path, eae_fd, vae_fd, word):
    _write(tmp_path / "eae-eae", "eae", eae_fd, 8.0, 0.4)
    _write(tmp_path / "eae-ae-bn", "ae-bn", 550.0, 6.4, 0.01)
    _write(tmp_path / "eae-vae", "vae", vae_fd, 9.0, 0.5, beta=0.3)
    text = card.render("eae", tmp_path / "eae-eae")
    assert f"**{word}** the paper's claim" in text
    assert f"FD {eae_fd:.2f} vs {vae_fd:.2f}" in text
    assert "| `ae-bn` | 550.00 |" in text and "a note on eae" in text
    assert "beta 0.3" in card.render("vae", tmp_path / "eae-vae")
    assert f"| 0.7 | {0.8 * eae_fd:.2f} |" in text and f"`eae` FD {0.8 * eae_fd:.2f} (T = 0.7)" in text


def test_an_unmeasured_model_says_how_to_measure_it(tmp_path):
    (tmp_path / "eae-vae").mkdir()
    assert "run `python -m playground eval eae --model vae --write-card`" in card.render("vae", tmp_path / "eae-vae")


def test_sweep_findings_and_collect_order(tmp_path):
    centre = _record(sweep.run_name(sweep.CENTRE), 200.0, 8.0, 0.5)
    lam3 = _record("eae-d32-k1-lam3-w1000", 150.0, 10.0, 0.3, lam=3.0)
    vae = _record("vae-d32-beta1", 400.0, 14.0, 0.2, kind="vae", beta=1.0)
    out = tmp_path / "sweep"
    out.mkdir()
    stale = dict(lam3, fd=999.0)  # a rerun's record replaces the earlier one
    (out / "results.jsonl").write_text("\n".join(json.dumps(r) for r in (vae, stale, lam3, centre)) + "\n")
    records = json.loads(sweep.collect(out, tmp_path / "sweep.json").read_text())
    assert [r["name"] for r in records] == [centre["name"], lam3["name"], vae["name"]]
    lines = "\n".join(card.sweep_findings(records, shipped=lam3["config"]))
    assert "lambda 1 -> 3: FD 200.0 -> 150.0 (-25%), test SSE 8.00 -> 10.00 (+25%)" in lines
    assert "`vae-d32-beta1` instead of the EAE: FD 200.0 -> 400.0 (+100%)" in lines
    assert "Best EAE on FD: `eae-d32-k1-lam3-w1000`" in lines and "uses its settings" in lines
    assert "uses other settings" in "\n".join(card.sweep_findings(records, shipped=centre["config"]))
    table = "\n".join(card.sweep_table(records))
    assert "| `vae-d32-beta1` | 32 | - | beta 1 | - | 400.00 |" in table


def test_a_sweep_rerun_skips_configs_already_scored(tmp_path, capsys):
    out = tmp_path / "sweep"
    out.mkdir()
    names = [sweep.run_name(c) for c in sweep.configs(2)]
    (out / "results.jsonl").write_text("".join(json.dumps({"name": n}) + "\n" for n in names))
    assert sweep.run(out, steps=2) == []  # nothing trained
    assert capsys.readouterr().out.count("skipped") == len(names)
