"""Helpers shared by the trainers: resumable batches, atomic saves, the loss log.

Every trainer keeps its whole state (networks, optimisers, EMA, data position, RNG, step,
elapsed time) in one ``state.pt`` written atomically (write, then rename), so a run killed
at any moment resumes from its last save and never finds a half-written file.
"""

from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path

import torch


class BatchStream:
    """Endless shuffled mini-batches whose position can be saved and restored.

    Under data parallelism each of ``world_size`` processes gets its own disjoint slice
    of every global batch (``batch_size`` images per process), so together they walk
    the same shuffled epoch a single process would.
    """

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        self.images, self.batch_size, self.seed = images, batch_size, seed
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
        return self.images[idx]

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

    from .device import manager

    precision = "bf16" if bf16 else "no"
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
