"""Engine-scored games: every legal move of every position scored by Fairy-Stockfish.

``python -m playground data xiangqi --scored --out runs/xiangqi-scored --games N`` plays games and,
at every position, asks the engine for a MultiPV search over *all* legal moves at ``depth``
(about 10 ms a position at depth 3 on one core). That one search gives three training targets for
free: the exact legal set (every root move gets a line), a score for each legal move (a soft policy
target, as in DeepMind's searchless chess, which trains on the value of every legal move), and the
position's value (the best score). Mates stay mates: "mate in n" is stored as +-(MATE - n), so the
targets prefer the quickest win and the model learns to finish won games.

Positions come from a mix of players, so the model sees the positions weak players reach and learns
to punish them:

* ``engine``: a softmax over the scored moves (``temperature`` centipawns; the first plies use the
  hotter ``opening_temperature`` for varied openings);
* ``noisy``: as ``engine``, but each ply is a uniformly random legal move with probability ``eps``;
* ``random``: uniformly random legal moves.

Each game draws a pairing: both sides ``engine`` (most games), one side ``noisy`` or one side
``random``; which colour gets the weak player is random too. A game is one JSON line::

    {"moves": "h2e2 h9g7 ...", "result": "1-0", "reason": "checkmate", "plies": 57,
     "scores": ["h2e2:34 b2e2:30 ...", ...], "players": ["engine", "random"], "depth": 3, "seed": 7}

``scores[i]`` lists the legal moves before move i, best first, with their scores for the side to
move (one fewer entry than there are positions when the game ends by the rules: the final position
has no moves). ``label_histories`` scores positions reached by someone else (the DAgger rounds: the
model's own games against a random mover and against the engine) in the same format.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from . import rules
from .engine import MATE, Engine

MULTIPV_ALL = 256  # more than any xiangqi position has legal moves


@dataclass(frozen=True)
class ScoredConfig:
    depth: int = 3  # every legal move is scored by a search this deep
    temperature: float = 15.0  # centipawns: softmax over the scored moves for an engine player
    opening_temperature: float = 80.0  # ... during the first min_opening..max_opening plies
    min_opening: int = 2
    max_opening: int = 12
    noisy_share: float = 0.25  # games where one side is noisy
    random_share: float = 0.15  # games where one side moves uniformly at random
    min_eps: float = 0.1  # a noisy player's chance of a random move, drawn per game
    max_eps: float = 0.5
    seed: int = 0

    def player(self):
        return play_scored_game

    def __post_init__(self):
        if not 1 <= self.depth <= 20:
            raise ValueError("depth must be in 1..20")
        if not 0 <= self.min_opening <= self.max_opening <= 60:
            raise ValueError("opening plies must satisfy 0 <= min_opening <= max_opening <= 60")
        if not (self.temperature > 0 and self.opening_temperature > 0):
            raise ValueError("temperatures must be positive")
        if not (0 <= self.noisy_share and 0 <= self.random_share and self.noisy_share + self.random_share <= 1):
            raise ValueError("noisy_share and random_share must be >= 0 and sum to at most 1")
        if not 0 <= self.min_eps <= self.max_eps <= 1:
            raise ValueError("eps must satisfy 0 <= min_eps <= max_eps <= 1")


def score_all(engine: Engine, history: list[str], depth: int) -> list[tuple[str, int]]:
    """Every legal move after ``history`` with its score at ``depth`` for the side to move, best
    first; [] when the side to move has no legal move."""
    lines = engine.analyse(history, depth, MULTIPV_ALL, allow_none=True)
    return [(line.move, line.cp) for line in lines]


def format_scores(scored: list[tuple[str, int]]) -> str:
    return " ".join(f"{m}:{cp}" for m, cp in scored)


def parse_scores(text: str) -> list[tuple[str, int]]:
    out = []
    for item in text.split():
        move, cp = item.split(":")
        out.append((move, int(cp)))
    return out


def _softmax_pick(rng: random.Random, scored: list[tuple[str, int]], temperature: float) -> str:
    top = scored[0][1]
    weights = [math.exp(max(-50.0, (cp - top) / temperature)) for _, cp in scored]
    return rng.choices([m for m, _ in scored], weights)[0]


def _pairing(rng: random.Random, config: ScoredConfig) -> tuple[list[str], list[float]]:
    u = rng.random()
    weak = "noisy" if u < config.noisy_share else "random" if u < config.noisy_share + config.random_share else None
    players, eps = ["engine", "engine"], [0.0, 0.0]
    if weak is not None:
        side = rng.randrange(2)
        players[side] = weak
        eps[side] = rng.uniform(config.min_eps, config.max_eps) if weak == "noisy" else 1.0
    return players, eps


def play_scored_game(engine: Engine, config: ScoredConfig, game_seed: int) -> dict:
    """One game with every position scored; deterministic given the seed."""
    rng = random.Random(game_seed)
    players, eps = _pairing(rng, config)
    opening = rng.randint(config.min_opening, config.max_opening)
    game = rules.Tracker()
    scores: list[str] = []
    while True:
        ply = len(game.moves)
        if ply >= rules.MAX_PLIES or rules._may_end(game.positions, ply):
            st = rules.state(game.moves)
            if st["result"] is not None:
                break
        scored = score_all(engine, game.moves, config.depth)
        if not scored:  # checkmate or stalemate: the rules say who won
            st = rules.state(game.moves)
            break
        scores.append(format_scores(scored))
        side = ply % 2
        if rng.random() < eps[side]:
            move = rng.choice(scored)[0]
        else:
            move = _softmax_pick(rng, scored, config.opening_temperature if ply < opening else config.temperature)
        game.push(move)
    return {"moves": " ".join(game.moves), "result": st["result"], "reason": st["reason"], "plies": len(game.moves),
            "scores": scores, "players": players, "eps": [round(e, 3) for e in eps], "opening": opening,
            "depth": config.depth, "seed": game_seed}


def label_game(engine: Engine, moves: list[str], depth: int) -> dict:
    """Score every position of a finished game played by someone else (the model's own games):
    the record ``play_scored_game`` writes."""
    scores = []
    for ply in range(len(moves)):
        scored = score_all(engine, moves[:ply], depth)
        if not scored:
            break
        scores.append(format_scores(scored))
    st = rules.state(moves)
    return {"moves": " ".join(moves), "result": st["result"], "reason": st["reason"], "plies": len(moves),
            "scores": scores, "depth": depth}


@dataclass(frozen=True)
class DaggerConfig:
    """DAgger-style data: games the model itself plays, against a random mover or the engine at a
    low depth (``opponents``, one drawn per game, the model's colour too), from a few random
    opening plies; every position then scored by the engine at ``depth``, so the model learns what
    to play in the positions its own play leads to."""
    model: str = "checkpoints/xiangqi-gpt"  # the model folder that plays
    opponents: str = "random,depth:1"
    depth: int = 3
    opening_plies: int = 4
    temperature: float = 0.3  # the model samples a little: varied games
    seed: int = 0

    def player(self):
        return play_dagger_game


def play_dagger_game(engine: Engine, config: DaggerConfig, game_seed: int) -> dict:
    """The model against one of ``config.opponents``, then every position scored."""
    import torch

    from . import api

    torch.set_num_threads(1)
    rng = random.Random(game_seed)
    opponent = rng.choice(config.opponents.split(","))
    model_side = rng.randrange(2)
    game = rules.Tracker()
    while game.state() is None:
        ply = len(game.moves)
        if ply < config.opening_plies:
            move = rng.choice(game.legal_moves())
        elif ply % 2 == model_side:
            move = api.choose_move(game.moves, temperature=config.temperature, seed=rng.randrange(2**31),
                                   model=config.model)
        elif opponent == "random":
            move = rng.choice(game.legal_moves())
        else:
            move = engine.best_move(game.moves, int(opponent.split(":")[1]))
        game.push(move)
    record = label_game(engine, game.moves, config.depth)
    players = ["model", opponent] if model_side == 0 else [opponent, "model"]
    return {**record, "players": players, "seed": game_seed}


def value_of(cp: int) -> float:
    """A score (centipawns for the side to move, mates as +-(MATE - n)) as an expected score in [0, 1]:
    a logistic in centipawns (400 cp ~ 0.91), mates at 0 or 1."""
    if abs(cp) >= MATE - 1000:
        return 1.0 if cp > 0 else 0.0
    return 1.0 / (1.0 + math.exp(-cp / 166.0))
