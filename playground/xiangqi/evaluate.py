"""How well the GPT plays: ``python -m playground eval xiangqi``.

* Raw legality: on positions from held-out games, how often the model's own top move (over
  the whole move vocabulary, ``legal_only=False``) is legal; also how often its top move and
  its top legal move equal the move actually played there.
* Matches: colour-swapped pairs from varied short openings (a few random legal plies), each
  opening played once with the model as red and once as black, against a random mover or
  Fairy-Stockfish at a fixed depth, up to the move cap. Reported as wins/draws/losses and the
  score (win 1, draw 0.5). The games are played by ``game.play_out``, the loop the tab's watch
  mode streams.
"""

from __future__ import annotations

import random
import sys
import time

import torch

from . import api, rules
from .game import ModelMover, mover, play_out


def raw_legality(games: list[dict], positions: int = 2000, seed: int = 0, batch: int = 32, folder=None) -> dict:
    """Share of held-out positions where the unconstrained top move is legal, with top-1 agreement."""
    rng = random.Random(seed)
    pool = [(g["moves"], ply) for g in games for ply in range(len(g["moves"]))]
    picks = rng.sample(pool, min(positions, len(pool)))
    vocab = api.load_model(folder)[1]
    move_ids = torch.tensor(vocab.move_ids)
    legal_count = raw_match = legal_match = 0
    for i in range(0, len(picks), batch):
        chunk = picks[i:i + batch]
        histories = [moves[:ply] for moves, ply in chunk]
        logp = api.next_move_logprobs(histories, folder)
        for (moves, ply), h, row in zip(chunk, histories, logp):
            legal = rules.legal_moves(h)
            top = vocab.tokens[int(move_ids[row[move_ids].argmax()])]
            best_legal = max(legal, key=lambda m: float(row[vocab.ids[m]]))
            legal_count += top in legal
            raw_match += top == moves[ply]
            legal_match += best_legal == moves[ply]
    n = len(picks)
    return {"positions": n, "raw_legal": legal_count / n, "top1_played": raw_match / n,
            "top1_legal_played": legal_match / n}


def random_openings(count: int, plies: int, seed: int) -> list[list[str]]:
    """``count`` distinct openings of ``plies`` uniformly random legal moves."""
    rng, seen, out = random.Random(seed), set(), []
    while len(out) < count:
        moves: list[str] = []
        for _ in range(plies):
            moves.append(rng.choice(rules.legal_moves(moves)))
        if tuple(moves) not in seen:
            seen.add(tuple(moves))
            out.append(moves)
    return out


def play_game(opening: list[str], model_side: str, opponent, folder=None, search: str | None = None) -> dict:
    """One game from ``opening``; the model plays ``model_side`` at temperature 0."""
    model = ModelMover(folder, search)
    red, black = (model, opponent) if model_side == "red" else (opponent, model)
    moves, st = play_out(red, black, opening)
    won = {"1-0": "red", "0-1": "black"}.get(st["result"])
    outcome = "draw" if won is None else ("win" if won == model_side else "loss")
    return {"outcome": outcome, "result": st["result"], "reason": st["reason"], "plies": len(moves)}


def _play_pairs(job: tuple) -> list[dict]:
    """One worker's share of a match: ``(spec, seed, folder, search, threads, [(i, opening), ...])``.
    The random mover is seeded per pair, so a match's games do not depend on how many workers
    play it."""
    spec, seed, folder, search, threads, pairs = job
    if threads:
        torch.set_num_threads(threads)
    engine = mover(spec, seed) if spec != "random" else None
    games = []
    try:
        for i, opening in pairs:
            for side in ("red", "black"):
                opponent = engine or mover(spec, seed * 1_000_003 + 2 * i + (side == "black"))
                games.append({**play_game(opening, side, opponent, folder, search), "pair": i, "side": side})
    finally:
        if engine is not None:
            engine.close()
    return games


def match(opponent_spec: str, pairs: int = 20, opening_plies: int = 4, seed: int = 0, folder=None,
          progress: bool = True, search: str | None = None, workers: int = 1) -> dict:
    """``pairs`` colour-swapped pairs against ``opponent_spec`` ("random" or "depth:N"); the model
    plays with ``search`` (None: its default). ``workers`` > 1 plays the pairs in that many
    processes (one thread each)."""
    probe = mover(opponent_spec, seed)  # also rejects a bad spec before any game is played
    name = probe.name
    probe.close()
    t0 = time.time()
    openings = list(enumerate(random_openings(pairs, opening_plies, seed)))
    if workers <= 1:
        games = []
        for job in openings:
            games += _play_pairs((opponent_spec, seed, folder, search, None, [job]))
            if progress:
                won = [g["outcome"] for g in games]
                print(f"  {name}: pair {job[0] + 1}/{pairs}  W/D/L {won.count('win')}/{won.count('draw')}/"
                      f"{won.count('loss')}", file=sys.stderr)
    else:
        import multiprocessing as mp

        jobs = [(opponent_spec, seed, folder, search, 1, [job]) for job in openings]
        with mp.get_context("spawn").Pool(workers) as pool:
            games = []
            for part in pool.imap_unordered(_play_pairs, jobs):
                games += part
                if progress:
                    won = [g["outcome"] for g in games]
                    print(f"  {name}: {len(games) // 2}/{pairs} pairs  W/D/L {won.count('win')}/"
                          f"{won.count('draw')}/{won.count('loss')}", file=sys.stderr)
        games.sort(key=lambda g: (g["pair"], g["side"] != "red"))
    tally = {k: sum(g["outcome"] == k for g in games) for k in ("win", "draw", "loss")}
    reasons: dict[str, int] = {}
    for g in games:
        key = f"{g['outcome']} by {g['reason']}"
        reasons[key] = reasons.get(key, 0) + 1
    points = [{"win": 1.0, "draw": 0.5, "loss": 0.0}[g["outcome"]] for g in games]
    n = len(games)
    score = sum(points) / n
    spread = (sum((p - score) ** 2 for p in points) / max(1, n - 1)) ** 0.5
    return {"opponent": name, "search": search or api.default_search(folder), "games": n, **tally,
            "score": score, "ci95": round(1.96 * spread / n ** 0.5, 3), "reasons": reasons,
            "mean_plies": round(sum(g["plies"] for g in games) / n, 1),
            "minutes": round((time.time() - t0) / 60, 2)}
