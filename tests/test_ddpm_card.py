"""The DDPM model card and the schedule comparison are written from measured records only."""

import json

from playground.ddpm import card


def _result(schedule, fd_fast, fd_slow):
    rows = [{"sampler": "dpm++", "steps": 25, "n": 2000, "fd": fd_fast, "kid": 0.01, "precision": 0.7, "recall": 0.6},
            {"sampler": "ddim", "steps": 50, "n": 2000, "fd": fd_slow, "kid": 0.01, "precision": 0.7, "recall": 0.6}]
    return {"schedule": schedule, "train_steps": 1500, "cpu_minutes": 50.0, "rows": rows}


def test_the_verdict_follows_the_first_shared_row():
    floors = {"2000": {"fd": 1.5}}
    out = card.schedule_comparison([_result("su", 30.0, 10.0), _result("cosine", 20.0, 40.0)], floors, "cmd")
    assert out["best"] == "cosine"  # decided on dpm++ 25, the first row, though su wins at ddim 50
    assert "`cosine` schedule scores FD 20.00; `su` 30.00 (1.50x)" in out["verdict"]
    assert len(out["rows"]) == 4 and "1.50" in out["text"]


def test_card_renders_training_schedules_and_metrics(tmp_path):
    (tmp_path / "training.json").write_text(json.dumps({
        "step": 1234, "wall_minutes": 10.0, "cpu_minutes": 19.5, "threads": 2, "processes": 1, "parameters": 1_805_121,
        "command": "python -m playground train ddpm --steps 1234", "notes": ["a note"],
        "config": {"schedule": "su", "batch_size": 128, "lr": 5e-4, "warmup": 500, "ema_decay": 0.9999, "bf16": True}}))
    text = card.render(tmp_path)
    assert "1,234 steps of batch 128" in text and "Not measured yet" in text and "a note" in text
    out = card.schedule_comparison([_result("su", 30.0, 10.0), _result("cosine", 20.0, 40.0)], {}, "cmd")
    (tmp_path / "schedules.json").write_text(json.dumps(out))
    (tmp_path / "metrics.json").write_text(json.dumps({
        "command": "python -m playground eval ddpm --write-card", "real_floor": {"500": {"fd": 2.5}},
        "rows": [{"sampler": "ddpm", "steps": 1000, "n": 500, "fd": 12.0, "kid": 0.003, "precision": 0.8,
                  "recall": 0.5, "seconds_per_16": 70.0}]}))
    text = card.render(tmp_path)
    assert "## Noise schedules compared" in text and "Best: `cosine`" in text
    assert "| ddpm | 1000 | 500 | 12.00 | 2.50 | 3.00 | 0.800 | 0.500 | 70.00 |" in text
