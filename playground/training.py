"""The one training loop (``run``) and the helpers it is built from.

A tab's ``train.py`` holds only its algorithm, as an ``Algorithm`` subclass: its config
dataclass, how to build the models and optimisers, one training step that returns the values to
log, optionally a validation, a sample grid and the export. ``run`` owns everything else, alike for
every tab:

* the accelerator (Hugging Face Accelerate: one process, or data-parallel under ``torchrun`` /
  ``accelerate launch``) and bfloat16 autocast;
* resume: one ``<out>/state.pt`` holding the algorithm's state (networks, optimisers, EMA, data
  position), every process's CPU and CUDA RNG, the step and the elapsed time, written atomically
  (write, then rename), so a run killed at any moment, even by ``kill -9``, resumes from its last
  save and never finds a half-written file; a saved state resumes only under the same config
  (``steps`` may change);
* the save clock (``save_minutes`` of wall time, ``save_every`` steps), ``max_minutes``, Ctrl-C and
  SIGTERM (both save, then stop);
* the loss log ``loss.csv`` (the mean of each logged value since the previous row, validation
  figures on the rows where they were computed), the progress bar, sample grids in
  ``<out>/samples``, ``summary.json``;
* the export hook: when ``steps`` is reached, ``export_dir`` receives ``loss.csv``,
  ``training.json`` (the summary) and the last sample grid as ``samples.png``, then the
  algorithm's ``export`` writes the model and its card.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import asdict, fields
from pathlib import Path

import torch

from .checks import check_float, check_int


class BatchStream:
    """Endless shuffled mini-batches whose position can be saved and restored.

    Under data parallelism each of ``world_size`` processes gets its own disjoint slice
    of every global batch (``batch_size`` images per process), so together they walk
    the same shuffled epoch a single process would. With ``labels`` (one per image) each batch
    is ``(images, labels)``.
    """

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 labels: torch.Tensor | None = None):
        self.images, self.labels, self.batch_size, self.seed = images, labels, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.epoch, self.pos = 0, 0
        self._perm = self._permutation()

    def _permutation(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return torch.randperm(len(self.images), generator=g)

    def next(self) -> torch.Tensor:
        global_batch = self.batch_size * self.world_size
        if self.pos + global_batch > len(self.images):
            self.epoch, self.pos = self.epoch + 1, 0
            self._perm = self._permutation()
        start = self.pos + self.rank * self.batch_size
        idx = self._perm[start : start + self.batch_size]
        self.pos += global_batch
        return self.images[idx] if self.labels is None else (self.images[idx], self.labels[idx])

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
        self._perm = self._permutation()


def atomic_torch_save(obj, path: Path) -> None:
    """``torch.save`` to a temporary file, flushed to disk, then renamed over ``path``.

    A process killed mid-save (even by SIGKILL) leaves ``path`` as it was, the previous complete
    save; the half-written temporary file is simply overwritten by the next save."""
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_state(path: Path, device) -> dict | None:
    """The saved training state at ``path`` (tensors only, never arbitrary pickles), or None."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as e:
        raise ValueError(f"training state {path} cannot be read ({type(e).__name__}: {e}); "
                         "delete it to start afresh") from None


class LossLog:
    """``loss.csv`` with a header; on resume, rows logged after the saved step are dropped
    (they belong to work lost by the interruption), as is a last line cut short by a kill.
    That clean-up is itself written atomically, so a kill during it loses nothing."""

    def __init__(self, path: Path, columns: list[str], resume_step: int):
        self.path = Path(path)
        if self.path.exists():
            with open(self.path, newline="") as f:
                text = f.read()
            complete = text[: text.rfind("\n") + 1]  # drop an unfinished last line
            rows = list(csv.reader(io.StringIO(complete)))
            header = rows[0] if rows else list(columns)
            kept = [header] + [r for r in rows[1:] if _row_step(r) is not None and _row_step(r) <= resume_step]
            if kept != rows or complete != text:
                tmp = self.path.with_name(self.path.name + ".tmp")
                with open(tmp, "w", newline="") as f:
                    csv.writer(f).writerows(kept)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
        new = not self.path.exists()
        self._file = open(self.path, "a", newline="")
        self._writer = csv.writer(self._file)
        if new:
            self._writer.writerow(columns)
            self._file.flush()

    def write(self, row: list) -> None:
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _row_step(row: list[str]) -> int | None:
    try:
        return int(row[0])
    except (IndexError, ValueError):
        return None


def check_resumable(state: dict, config: dict, state_path: Path) -> None:
    """A saved state may be resumed only with the configuration it was written with
    (``steps`` may change: a run can be extended or cut short)."""
    saved = {k: v for k, v in state["config"].items() if k != "steps"}
    if saved != {k: v for k, v in config.items() if k != "steps"}:
        raise ValueError(
            f"{state_path} was written with a different configuration (only --steps may change "
            "on resume); use another --out folder or delete it to start afresh."
        )


class SaveClock:
    """When to save and when to stop, decided alike in every process of a data-parallel run
    (flags summed over processes), so that saves stay collective.

    A save is due every ``save_minutes`` of wall time and, with ``save_every``, also at every
    step that is a multiple of it (deterministic: a kill loses at most ``save_every`` steps)."""

    def __init__(self, acc, save_minutes: float, max_minutes: float | None, save_every: int | None = None):
        if save_every is not None and save_every < 1:
            raise ValueError(f"save_every must be a positive number of steps, not {save_every!r}")
        self.acc, self.save_minutes, self.max_minutes = acc, save_minutes, max_minutes
        self.save_every = save_every
        self.start = self.last_save = time.time()

    def due(self, step: int | None = None) -> tuple[bool, bool]:
        """(save now, stop now), after ``step`` steps."""
        import torch

        now = time.time()
        by_steps = self.save_every is not None and step is not None and step % self.save_every == 0
        flags = torch.tensor([float(now - self.last_save > self.save_minutes * 60 or by_steps),
                              float(self.max_minutes is not None and now - self.start > self.max_minutes * 60)])
        if self.acc.num_processes > 1:
            flags = self.acc.reduce(flags.to(self.acc.device), reduction="sum")
        return bool(flags[0] > 0), bool(flags[1] > 0)

    def saved(self) -> None:
        self.last_save = time.time()


def make_accelerator(bf16: bool):
    """The trainers' ``accelerate.Accelerator``: on the playground's device, bfloat16 autocast
    on or off. Accelerate keeps one state per process and refuses a second Accelerator with
    another precision; a trainer called again in the same process (the Python API, the tests)
    with the other setting gets that state reset instead (a process group, if any, is kept)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    from .device import bf16_fast, manager

    # asked for, and native on this device: emulated bfloat16 (a CPU without AVX512-BF16) is slower
    precision = "bf16" if bf16 and bf16_fast(manager.device) else "no"
    if AcceleratorState._shared_state.get("_mixed_precision", precision) != precision:
        AcceleratorState._reset_state()
    return Accelerator(cpu=manager.device.type == "cpu", mixed_precision=precision)


class LengthBatches:
    """Endless mini-batches of sentences of similar length, resumable.

    A ``BatchStream`` draws ``group`` batches' worth of random sentences at once; they are sorted
    by length, cut into batches, and served in a random order (seeded by the group's position).
    The state is the stream's position before the group plus how many of its batches were served.
    """

    def __init__(self, lengths: torch.Tensor, batch_size: int, group: int, seed: int, rank: int = 0,
                 world_size: int = 1):
        group = max(1, min(group, len(lengths) // max(1, batch_size * world_size)))
        self.lengths, self.batch_size, self.seed = lengths, batch_size, seed
        self.stream = BatchStream(torch.arange(len(lengths)), batch_size * group, seed, rank, world_size)
        self._start, self._batches, self._served = self.stream.state_dict(), [], 0

    def _draw(self) -> None:
        self._start = self.stream.state_dict()
        idx = self.stream.next()
        idx = idx[torch.argsort(self.lengths[idx], stable=True)]
        batches = list(idx.split(self.batch_size))
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self._start["epoch"] * 100_003 + self._start["pos"])
        self._batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        self._served = 0

    def next(self) -> torch.Tensor:
        if self._served >= len(self._batches):
            self._draw()
        self._served += 1
        return self._batches[self._served - 1]

    def state_dict(self) -> dict:
        return {"start": dict(self._start), "served": self._served}

    def load_state_dict(self, state: dict) -> None:
        self.stream.load_state_dict(state["start"])
        self._start, self._batches, self._served = self.stream.state_dict(), [], 0
        if state["served"]:
            self._draw()
            self._served = int(state["served"])


def pad_rows(rows: list[list[int]], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (right-padded with ``pad``) and the attention mask of ``rows`` (id lists)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask


def check_positive(config, *names: str) -> None:
    """``ValueError`` unless each named field of ``config`` is a positive number (an integer where
    the field is one: steps, batch size)."""
    types = {f.name: str(f.type) for f in fields(config)}
    for name in names:
        if types.get(name) == "int":
            check_int(name, getattr(config, name), low=1)
        else:
            check_float(name, getattr(config, name), low=0, low_open=True)


class Algorithm:
    """One training algorithm, as ``run`` sees it. Subclasses set ``name`` and ``columns`` and
    fill in the methods; ``self.acc`` is the accelerator once ``build`` is called.

    ``columns`` are loss.csv's columns: "step" and "minutes" are filled by the loop, the others
    with the mean of what ``step`` returned since the previous row, or with what ``evaluate``
    returned on that row; anything else is left empty."""

    name = "model"
    columns = ["step", "loss", "minutes"]
    postfix = ("loss",)  # the values shown beside the progress bar

    def __init__(self, config, data_dir=None):
        self.config, self.data_dir = config, data_dir

    def build(self, acc, fresh: bool) -> None:
        """Make the models, optimisers and data on ``acc.device`` (not yet wrapped); ``fresh`` is
        False when a saved state is about to be loaded into them."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Everything the algorithm needs to resume (called on every process; may gather)."""
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> None:
        raise NotImplementedError

    def prepare(self, acc) -> None:
        """Wrap the models and optimisers with ``acc.prepare`` (after a resume loaded them). The
        default suits one network and one optimiser: ``self.net`` and ``self.opt`` become
        ``self.model`` (DDP-wrapped under data parallelism) and the prepared optimiser."""
        self.model, self.opt = acc.prepare(self.net, self.opt)
        self.model.train()

    def step(self, step: int) -> dict:
        """One training step (``step`` counts from 0); the values to log."""
        raise NotImplementedError

    def evaluate(self) -> dict:
        """Validation figures (main process only): logged and added to the summary."""
        return {}

    def sample(self):
        """A batch of images in [0, 1] for the sample grid, or None (main process only)."""
        return None

    def summary(self) -> dict:
        """Fields of the summary the loop cannot know (called on every process; may gather)."""
        return {}

    def export(self, export_dir: Path, summary: dict) -> None:
        """Write the model and its card into ``export_dir`` (main process; loss.csv,
        training.json and samples.png are already there)."""
        raise NotImplementedError


class _Stop:
    """SIGTERM behaves as Ctrl-C while the loop runs (both save, then stop)."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


# the loop's own entries of state.pt; the algorithm's state_dict() entries sit beside them
_LOOP_KEYS = ("config", "step", "elapsed", "cpu_elapsed", "rng", "cuda_rng")


def run(algorithm: Algorithm, out_dir, export_dir=None, max_minutes: float | None = None,
        save_minutes: float = 3.0, save_every: int | None = None, log_every: int = 50,
        sample_every: int = 1000, eval_every: int = 500, progress: bool = True, command: str | None = None) -> dict:
    """Train (or resume) ``algorithm`` in ``out_dir``; return the summary. When the config's
    ``steps`` is reached and ``export_dir`` is given, the model is exported there."""
    from tqdm.auto import tqdm

    for name, value in (("log_every", log_every), ("sample_every", sample_every), ("eval_every", eval_every)):
        if not (isinstance(value, int) and value >= 1):
            raise ValueError(f"{name} must be a positive number of steps, not {value!r}")
    config = algorithm.config
    acc = make_accelerator(config.bf16)
    algorithm.acc = acc
    device, main = acc.device, acc.is_main_process
    out = Path(out_dir)
    if main:
        out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed + acc.process_index)  # rank 0's initial weights are broadcast to all

    state_path = out / "state.pt"
    state = load_state(state_path, "cpu")
    algorithm.build(acc, fresh=state is None)
    step, elapsed, cpu_elapsed = 0, 0.0, 0.0
    if state is not None:
        check_resumable(state, asdict(config), state_path)
        algorithm.load_state_dict({k: v for k, v in state.items() if k not in _LOOP_KEYS})
        rng = state["rng"]
        torch.set_rng_state(rng[acc.process_index % len(rng)].cpu().clone())
        if device.type == "cuda" and state.get("cuda_rng"):
            cuda_rng = state["cuda_rng"]
            torch.cuda.set_rng_state(cuda_rng[acc.process_index % len(cuda_rng)].cpu().clone(), device)
        step, elapsed, cpu_elapsed = state["step"], state["elapsed"], state["cpu_elapsed"]
        if main:
            print(f"resumed {algorithm.name} from step {step} ({elapsed / 60:.1f} min trained)", file=sys.stderr)
    algorithm.prepare(acc)
    if main:
        (out / "config.json").write_text(json.dumps(asdict(config), indent=2))

    def save_state():
        rng = acc.gather(torch.get_rng_state()[None].to(device))  # every process's RNG: each resumes its own
        cuda_rng = acc.gather(torch.cuda.get_rng_state(device)[None].to(device)) if device.type == "cuda" else None
        record = algorithm.state_dict()
        if main:
            atomic_torch_save(
                {**record, "config": asdict(config), "step": step, "elapsed": elapsed, "cpu_elapsed": cpu_elapsed,
                 "rng": [r.clone() for r in rng.cpu()],
                 "cuda_rng": [r.clone() for r in cuda_rng.cpu()] if cuda_rng is not None else None},
                state_path,
            )
        acc.wait_for_everyone()

    def save_samples():
        images = algorithm.sample()
        if images is not None:
            from torchvision.utils import save_image

            (out / "samples").mkdir(exist_ok=True)
            save_image(images.float(), out / "samples" / f"step_{step:07d}.png", nrow=6, padding=2, pad_value=1.0)

    log = LossLog(out / "loss.csv", algorithm.columns, step) if main else None
    running: dict[str, list[float]] = {}
    last_eval: tuple[int, dict] = (-1, {})
    t0, c0 = time.time(), time.process_time()
    clock = SaveClock(acc, save_minutes, max_minutes, save_every)
    start_elapsed, start_cpu = elapsed, cpu_elapsed
    bar = tqdm(total=config.steps, initial=step, desc=algorithm.name, disable=not (progress and main),
               dynamic_ncols=True)
    stopped_early = False
    try:
        with _Stop():
            while step < config.steps:
                values = algorithm.step(step)
                step += 1
                for key, value in values.items():
                    running.setdefault(key, []).append(float(value))
                bar.update(1)
                elapsed = start_elapsed + time.time() - t0
                cpu_elapsed = start_cpu + time.process_time() - c0
                evaluated = {}
                if step % eval_every == 0 or step == config.steps:
                    if main:
                        evaluated = algorithm.evaluate()
                        last_eval = (step, evaluated)
                    acc.wait_for_everyone()
                if step % log_every == 0 or evaluated:
                    if log is not None:
                        means = {k: sum(v) / len(v) for k, v in running.items() if v}
                        row = {**means, **evaluated, "step": step, "minutes": elapsed / 60}
                        log.write([_cell(column, row.get(column)) for column in algorithm.columns])
                        bar.set_postfix({k: f"{means[k]:.3g}" for k in algorithm.postfix if k in means})
                    if step % log_every == 0:
                        running = {}
                if main and (step % sample_every == 0 or step == config.steps):
                    save_samples()
                save_now, stop_now = clock.due(step)
                if save_now:
                    save_state()
                    clock.saved()
                if stop_now and step < config.steps:
                    stopped_early = True
                    break
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: keep the work done since the last save
        stopped_early = True
        if main:
            print(f"\ninterrupted at step {step}; state saved, run the same command to continue", file=sys.stderr)
    bar.close()
    if log is not None:
        log.close()
    save_state()

    summary = {"step": step, "steps": config.steps, "finished": step >= config.steps,
               "wall_minutes": round(elapsed / 60, 2), "cpu_minutes": round(cpu_elapsed / 60, 2),
               "threads": torch.get_num_threads(), "device": str(device), "processes": acc.num_processes,
               "precision": acc.mixed_precision, **algorithm.summary(), "config": asdict(config), "command": command}
    if main:
        summary.update(last_eval[1] if last_eval[0] == step else algorithm.evaluate())
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        if stopped_early:
            print(f"stopped at step {step}; run the same command to continue", file=sys.stderr)
        if summary["finished"] and export_dir is not None:
            export_dir = Path(export_dir)
            export_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(out / "loss.csv", export_dir / "loss.csv")
            (export_dir / "training.json").write_text(json.dumps(summary, indent=2))
            grids = sorted((out / "samples").glob("step_*.png")) if (out / "samples").is_dir() else []
            if grids:
                shutil.copy(grids[-1], export_dir / "samples.png")
            algorithm.export(export_dir, summary)
            print(f"exported {algorithm.name} to {export_dir}", file=sys.stderr)
    acc.wait_for_everyone()
    acc.end_training()  # under torchrun: the process group ends here, so gloo's threads stop before the interpreter
    return summary


def _cell(column: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if column == "minutes":
        return f"{value:.2f}"
    if column == "step":
        return str(int(value))
    return f"{value:.5g}"
