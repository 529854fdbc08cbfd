"""Fairy-Stockfish over UCI: the opponent in "watch" mode and the source of the training games.

The engine is the Debian package ``fairy-stockfish`` (``/usr/games/fairy-stockfish``), or any
binary named by ``$FAIRY_STOCKFISH``. It speaks UCI with ranks 1-10; the conversion to our
ICCS notation (ranks 0-9) happens in ``rules`` and nowhere else.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass

from . import rules

ENV_VAR = "FAIRY_STOCKFISH"
INSTALL_HINT = ("Fairy-Stockfish is not installed: `apt-get install fairy-stockfish` (Debian/Ubuntu; "
                "it joins packages.txt on a Hugging Face Space), or set FAIRY_STOCKFISH to the binary's path.")
STARTUP_TIMEOUT = 10.0  # seconds for the engine to answer "uci"
MATE = 30_000  # centipawn value given to "mate in 0"; mate in n scores MATE - n


class EngineMissing(ValueError):
    """The engine binary cannot be found or started."""


def engine_path() -> str | None:
    """The engine binary: ``$FAIRY_STOCKFISH``, else ``fairy-stockfish`` on PATH or in /usr/games."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return explicit if os.path.isfile(explicit) and os.access(explicit, os.X_OK) else None
    return shutil.which("fairy-stockfish") or shutil.which("fairy-stockfish", path="/usr/games")


def available() -> bool:
    return engine_path() is not None


def unavailable_reason() -> str:
    """Why there is no engine, and what to do: for error messages."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        problem = "does not exist" if not os.path.exists(explicit) else "is not an executable file"
        return (f"The Fairy-Stockfish engine {explicit!r} (from {ENV_VAR}) {problem}: set {ENV_VAR} to the engine "
                f"binary's path, or unset it to use the installed one (`apt-get install fairy-stockfish`).")
    return INSTALL_HINT


def _fix_hint() -> str:
    if os.environ.get(ENV_VAR):
        return f"Set {ENV_VAR} to a Fairy-Stockfish binary, or unset it to use the installed one."
    return f"Reinstall it (`apt-get install --reinstall fairy-stockfish`), or set {ENV_VAR} to a working binary."


@dataclass
class Line:
    """One principal variation: the first move (ICCS) and its score for the side to move."""
    move: str
    cp: int  # centipawns; mates are +-(MATE - n)


class Engine:
    """One Fairy-Stockfish process playing xiangqi on one thread. Use as a context manager."""

    def __init__(self, threads: int = 1, hash_mb: int = 16, timeout: float = 60.0):
        path = engine_path()
        if path is None:
            raise EngineMissing(unavailable_reason())
        self.timeout = timeout
        self._buffer = b""  # bytes read from the engine but not yet returned as lines
        try:
            self.proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, bufsize=0)
        except OSError as e:
            raise EngineMissing(f"{path} cannot be started ({e}). {_fix_hint()}") from None
        try:
            self._send("uci")
            self._wait_for("uciok", min(timeout, STARTUP_TIMEOUT))
            self._send("setoption name UCI_Variant value xiangqi")
            self._send(f"setoption name Threads value {threads}")
            self._send(f"setoption name Hash value {hash_mb}")
            self._multipv = 1
            self._ready()
        except (EngineMissing, TimeoutError) as e:  # not an engine, or a broken one
            self.proc.kill()
            self.proc.wait()
            raise EngineMissing(f"{path} did not start as a UCI engine ({e}). {_fix_hint()}") from None

    # -- plumbing --------------------------------------------------------------------------
    def _send(self, line: str) -> None:
        try:
            self.proc.stdin.write((line + "\n").encode())
        except (BrokenPipeError, OSError) as e:
            raise EngineMissing(f"the engine stopped ({e})") from None

    def _readline(self, deadline: float) -> str:
        # Our own line buffer over the raw pipe: select() sees only the file descriptor, so lines
        # already pulled into a Python-side buffer would be invisible to it and the wait would hang.
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.proc.stdout], [], [], remaining)[0]:
                raise TimeoutError("the engine gave no answer in time")
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise EngineMissing("the engine exited unexpectedly")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode(errors="replace").strip()

    def _wait_for(self, token: str, timeout: float | None = None) -> list[str]:
        limit = self.timeout if timeout is None else timeout
        deadline, lines = time.monotonic() + limit, []
        while True:
            try:
                line = self._readline(deadline)
            except TimeoutError:
                raise TimeoutError(f"the engine gave no answer within {limit:.0f} s") from None
            lines.append(line)
            if line.split(" ", 1)[0] == token:
                return lines

    def _ready(self) -> None:
        self._send("isready")
        self._wait_for("readyok")

    # -- search -----------------------------------------------------------------------------
    def analyse(self, history: list[str], depth: int, multipv: int = 1, allow_none: bool = False) -> list[Line]:
        """The engine's best ``multipv`` lines at ``depth`` after ``history`` (ICCS), best first.
        With ``allow_none``, a position without a legal move gives [] (else its bestmove is an error)."""
        if multipv != self._multipv:
            self._send(f"setoption name MultiPV value {multipv}")
            self._multipv = multipv
        moves = " ".join(rules.iccs_to_uci(m) for m in history)
        self._send("position startpos" + (f" moves {moves}" if moves else ""))
        self._send(f"go depth {depth}")
        lines = self._wait_for("bestmove")
        best: dict[int, Line] = {}
        for line in lines:  # later (deeper) info lines overwrite earlier ones
            parts = line.split()
            if not parts or parts[0] != "info" or "pv" not in parts or "score" not in parts:
                continue
            k = int(parts[parts.index("multipv") + 1]) if "multipv" in parts else 1
            kind, value = parts[parts.index("score") + 1], int(parts[parts.index("score") + 2])
            cp = value if kind == "cp" else (MATE - abs(value)) * (1 if value > 0 else -1)
            best[k] = Line(rules.uci_to_iccs(parts[parts.index("pv") + 1]), cp)
        if not best:  # no search output (e.g. depth 0): fall back to bestmove
            move = lines[-1].split()[1]
            if move == "(none)" and allow_none:
                return []
            return [Line(rules.uci_to_iccs(move), 0)]
        return [best[k] for k in sorted(best)]

    def best_move(self, history: list[str], depth: int) -> str:
        return self.analyse(history, depth, 1)[0].move

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._send("quit")
                self.proc.wait(timeout=2)
            except Exception:
                self.proc.kill()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
