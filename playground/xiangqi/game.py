"""One xiangqi game loop, for the tab's watch mode and for ``eval xiangqi``'s matches.

A mover answers ``move(history) -> ICCS move`` for the side to move (``close()`` frees what it
holds): the GPT (``ModelMover``), Fairy-Stockfish at a fixed depth (``EngineMover``), a uniformly
random legal move (``RandomMover``), or any callable wrapped in ``CallbackMover`` (a human at a
prompt, a test's script). ``plies`` plays red against black and yields the game after every ply;
``play_out`` plays to the end. Games are followed by ``rules.Tracker`` (constant cost per move);
the movers' moves are trusted, as they come from the rules' own legal moves or the engine.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from . import api, rules


class RandomMover:
    name = "random"

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def move(self, history: list[str]) -> str:
        return self.rng.choice(rules.legal_moves(history))

    def close(self):
        pass


class EngineMover:
    def __init__(self, depth: int):
        from .engine import Engine

        self.depth, self.engine, self.name = depth, Engine(), f"fairy-stockfish depth {depth}"

    def move(self, history: list[str]) -> str:
        return self.engine.best_move(history, self.depth)

    def close(self):
        self.engine.close()


class ModelMover:
    """The GPT at temperature 0 (its best legal move); ``folder``: a ``save_pretrained`` folder
    (default: the shipped model); ``search``: as ``api.choose_move`` takes it (None: the default)."""

    name = "model"

    def __init__(self, folder=None, search: str | None = None):
        self.folder, self.search = folder, search

    def move(self, history: list[str]) -> str:
        return api.choose_move(history, model=self.folder, search=self.search)

    def close(self):
        pass


class CallbackMover:
    """Any ``function(history) -> move`` as a mover (a human's move, a scripted line)."""

    def __init__(self, function: Callable[[list[str]], str], name: str = "human"):
        self.function, self.name = function, name

    def move(self, history: list[str]) -> str:
        return self.function(history)

    def close(self):
        pass


def mover(spec: str, seed: int = 0, folder=None):
    """The mover named by ``spec``: "model", "model:none" / "model:1-ply" / "model:2-ply" (a search), "random" or
    "depth:N" (Fairy-Stockfish)."""
    if spec == "model" or spec.startswith("model:"):
        return ModelMover(folder, spec.split(":")[1] if ":" in spec else None)
    if spec == "random":
        return RandomMover(seed)
    if spec.startswith("depth:"):
        return EngineMover(int(spec.split(":")[1]))
    raise ValueError(f"unknown mover {spec!r}: choose model, random or depth:N")


def plies(red, black, opening=()) -> Iterator[tuple[list[str], dict | None]]:
    """Play ``red`` against ``black`` from ``opening`` (ICCS moves, validated). Yields
    ``(moves, state)`` for the position before each move and once more for the final one:
    ``moves`` is a copy of the game so far, ``state`` None while the game runs, else the full
    ``rules.state`` dict (result, reason...). The movers are not closed here."""
    game = rules.Tracker(opening)
    while True:
        st = game.state()
        yield list(game.moves), st
        if st is not None:
            return
        side = red if game.side_to_move() == "red" else black
        game.push(side.move(game.moves))


def play_out(red, black, opening=()) -> tuple[list[str], dict]:
    """The whole game (``plies`` to the end): its moves and final state."""
    for moves, st in plies(red, black, opening):
        pass
    return moves, st
