"""Training games by Fairy-Stockfish self-play: ``python -m playground data xiangqi``.

Each game is varied in three ways, so that a few thousand games cover many positions:

* a randomised opening: the first few plies are sampled among the engine's top lines
  (softmax over their scores) or, now and then, uniformly among all legal moves;
* a spread of strengths: each side gets its own search depth for the whole game;
* sampling among near-equal moves: with a small probability a ply is drawn among the
  lines that score within ``margin`` centipawns of the best.

Games end by the rules (checkmate, stalemate, repetition, ...) or at the move cap. They are
written one per line as JSON: ``{"moves": "h2e2 h9g7 ...", "result": "1-0", ...}``. Duplicates
are removed, and a hash of the moves sends about 5% of the games to the validation file, so the
split is stable when more games are added. Games are played by one engine per worker process.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing as mp
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import rules
from .engine import Engine, EngineMissing


@dataclass(frozen=True)
class SelfPlayConfig:
    min_depth: int = 2
    max_depth: int = 8
    min_opening: int = 2  # plies sampled from the engine's top lines at the start
    max_opening: int = 10
    opening_multipv: int = 5
    opening_temperature: float = 60.0  # centipawns: softmax temperature over the top lines
    random_move_prob: float = 0.1  # chance that an opening ply is uniform over all legal moves
    sample_prob: float = 0.1  # chance that a later ply is drawn among near-equal lines
    margin: int = 30  # centipawns
    seed: int = 0

    def __post_init__(self):
        if not 1 <= self.min_depth <= self.max_depth <= 30:
            raise ValueError("depths must satisfy 1 <= min_depth <= max_depth <= 30")
        if not 0 <= self.min_opening <= self.max_opening <= 60:
            raise ValueError("opening plies must satisfy 0 <= min_opening <= max_opening <= 60")


def _softmax_pick(rng: random.Random, lines, temperature: float) -> str:
    top = max(line.cp for line in lines)
    weights = [math.exp((line.cp - top) / temperature) for line in lines]
    return rng.choices([line.move for line in lines], weights)[0]


def play_game(engine: Engine, config: SelfPlayConfig, game_seed: int) -> dict:
    """One self-play game; deterministic given the seed (the engine searches to fixed depths)."""
    rng = random.Random(game_seed)
    depths = (rng.randint(config.min_depth, config.max_depth), rng.randint(config.min_depth, config.max_depth))
    opening = rng.randint(config.min_opening, config.max_opening)
    game = rules.Tracker()
    history = game.moves
    while (st := game.state()) is None:
        depth = depths[len(history) % 2]
        if len(history) < opening:
            if rng.random() < config.random_move_prob:
                move = rng.choice(game.legal_moves())
            else:
                move = _softmax_pick(rng, engine.analyse(history, depth, config.opening_multipv),
                                     config.opening_temperature)
        elif rng.random() < config.sample_prob:
            lines = engine.analyse(history, depth, 3)
            move = rng.choice([line.move for line in lines if line.cp >= lines[0].cp - config.margin])
        else:
            move = engine.analyse(history, depth, 1)[0].move
        game.push(move)
    return {"moves": " ".join(history), "result": st["result"], "reason": st["reason"], "plies": len(history),
            "depths": list(depths), "opening": opening, "seed": game_seed}


def _worker(args) -> list[dict]:
    """Play the games of ``seeds`` on one engine. An engine that hangs or dies is replaced and
    its game replayed once (same seed, same game); a game that fails twice is left out."""
    config, seeds = args
    play = play_game if isinstance(config, SelfPlayConfig) else config.player()
    games = []
    engine = Engine()
    try:
        for seed in seeds:
            for attempt in (1, 2):
                try:
                    games.append(play(engine, config, seed))
                    break
                except (TimeoutError, EngineMissing) as e:
                    print(f"self-play: game {seed}: {e}; restarting the engine", file=sys.stderr)
                    engine.close()
                    engine = Engine()
    finally:
        engine.close()
    return games


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def is_validation(moves: str, share: float = 0.05) -> bool:
    digest = hashlib.sha1(moves.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def generate(out_dir: str | os.PathLike, games: int, config=SelfPlayConfig(),
             workers: int | None = None, chunk: int = 8, progress: bool = True, command: str = "") -> dict:
    """Play ``games`` games over ``workers`` processes (default: every core) and write
    ``train.jsonl``, ``val.jsonl`` and ``meta.json`` in ``out_dir``. ``config`` is a
    ``SelfPlayConfig`` (engine self-play) or a ``scored.ScoredConfig`` (every move scored). Games
    already in the folder are kept (new seeds continue after them) and duplicates are dropped."""
    from tqdm.auto import tqdm

    if games < 1:
        raise ValueError(f"games must be at least 1, not {games}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta_path = out / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"next_seed": 0, "played": 0,
                                                                         "core_minutes": 0.0}
    if meta.get("config", asdict(config)) != asdict(config):
        raise ValueError(f"{out} holds games generated with another configuration; use another --out")
    seen = set()
    for name in ("train.jsonl", "val.jsonl"):
        if (out / name).exists():
            seen.update(json.loads(line)["moves"] for line in open(out / name) if line.strip())
    workers = workers or os.cpu_count() or 1
    base = config.seed * 10_000_000 + meta["next_seed"]
    seeds = list(range(base, base + games))
    # reserve the seeds first: a run that is killed leaves no seed to be replayed as a duplicate
    start_cpu = meta["core_minutes"]
    meta.update(config=asdict(config), next_seed=meta["next_seed"] + games, command=command)
    _write_json(meta_path, meta)
    jobs = [(config, seeds[i:i + chunk]) for i in range(0, len(seeds), chunk)]
    t0 = time.time()
    kept = duplicates = 0
    bar = tqdm(total=games, desc="self-play", unit="game", disable=not progress)
    with mp.get_context("spawn").Pool(workers) as pool, \
            open(out / "train.jsonl", "a") as train, open(out / "val.jsonl", "a") as val:
        for batch in pool.imap_unordered(_worker, jobs):
            for game in batch:
                if game["moves"] in seen:
                    duplicates += 1
                    continue
                seen.add(game["moves"])
                (val if is_validation(game["moves"]) else train).write(json.dumps(game) + "\n")
                kept += 1
            train.flush()
            val.flush()
            meta.update(played=meta["played"] + len(batch),
                        core_minutes=round(start_cpu + (time.time() - t0) * workers / 60, 2))
            _write_json(meta_path, meta)
            bar.update(len(batch))
    bar.close()
    wall = time.time() - t0
    summary = {"played": games, "kept": kept, "duplicates": duplicates, "wall_minutes": round(wall / 60, 2),
               "workers": workers, "out": str(out)}
    print(summary, file=sys.stderr)
    return summary


def import_games(source: str | os.PathLike, out_dir: str | os.PathLike) -> dict:
    """Add the games of a JSONL file made elsewhere (same format, e.g. human records converted
    to ICCS) to ``out_dir``: every game is replayed through the rules, its result checked
    against the final position where the rules decide it; duplicates are dropped."""
    from ..data import load_xiangqi_games

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seen = set()
    for name in ("train.jsonl", "val.jsonl"):
        if (out / name).exists():
            seen.update(json.loads(line)["moves"] for line in open(out / name) if line.strip())
    kept = duplicates = 0
    with open(out / "train.jsonl", "a") as train, open(out / "val.jsonl", "a") as val:
        for n, game in enumerate(load_xiangqi_games(source), 1):
            try:
                moves = rules.parse_history(game["moves"])
            except ValueError as e:
                raise ValueError(f"{source}: game {n}: {e}") from None
            final = rules.state(moves)["result"]
            if final is not None and game["result"] not in (None, final):
                raise ValueError(f"{source}: game {n} says {game['result']} but the position is {final}")
            text = " ".join(moves)
            if text in seen:
                duplicates += 1
                continue
            seen.add(text)
            record = {**game, "moves": text, "result": game["result"] or final, "plies": len(moves),
                      "source": str(source)}
            (val if is_validation(text) else train).write(json.dumps(record) + "\n")
            kept += 1
    summary = {"imported": kept, "duplicates": duplicates, "out": str(out)}
    print(summary, file=sys.stderr)
    return summary
