"""The xiangqi tab's entries for the registry (``playground.tabs``): main endpoint, train, eval, bench, data."""

from __future__ import annotations

from ..cliargs import Training
from ..limits import Cost, units

MAIN = ("xiangqi_move", ("", "h2e2", "red", 0.0), None)  # api_name, the UI's default inputs, images returned
OPENING = "h2e2 h9g7 h0g2 i9h9 i0h0 b9c7".split()


def _replies(search) -> float:
    """A model reply counts 1 with ``search="none"``, 4 with the one-ply lookahead and 12 with the
    two-ply search: 21, 90 and 202 ms after 6 plies, 28, 93 and 261 ms after 60 (this CPU, warm);
    ``None`` (or "default") is the shipped model's default search."""
    from .api import DEFAULT_SEARCH

    return REPLIES.get(search, REPLIES[DEFAULT_SEARCH])


REPLIES = {"none": 1.0, "1-ply": 4.0, "2-ply": 12.0}
PLIES_PER_GAME = 300  # the move cap: the model plays at most half of them

REPLY = "one reply, 4 with the one-ply lookahead, 12 with the two-ply search"

COST = Cost(
    # bench --costs: 0.11 s a unit for /xiangqi_move (your move, the reply, the board and the candidates);
    # a watched game's replies cost less (no candidates)
    unit="model replies", seconds_per_unit=0.09,
    endpoints={
        "xiangqi_move": (REPLY, lambda history, move, side="red", temperature=0.0, search=None: _replies(search)),
        "xiangqi_new_game": (REPLY, lambda side, temperature=0.0, search=None: _replies(search)),
        "xiangqi_evaluation": ("one position", lambda history: 1.0),
        "xiangqi_candidates": ("one position", lambda history, k=5: 1.0),
        # every game to the move cap, the model on half the plies (the pauses hold no device)
        "xiangqi_watch": ("games x 150 replies, x4 with the one-ply lookahead, x12 with the two-ply search",
                          lambda opponent, model_side, delay=0.4, games=1, search=None: (
                              units(games) * PLIES_PER_GAME / 2 * _replies(search))),
    },
    fewer='fewer games, or search "none"',
    probe=("xiangqi_move", ("h2e2 h9g7", "h0g2", "red", 0.0, "1-ply")),
    unlimited="playground.xiangqi.play(...) in Python, or python -m playground eval xiangqi",
)


def training() -> Training:
    from .models import SIZES
    from .train import TrainConfig, train

    return Training(TrainConfig, train, out="runs/xiangqi", choices={"size": list(SIZES),
                    "objective": ["moves", "scores"], "board": ["pieces", "none"]})


def add_eval_arguments(p) -> None:
    p.add_argument("--pipeline", default=None, help="a model folder (default: the shipped one)")
    p.add_argument("--positions", type=int, default=2000, help="held-out positions for raw legality")
    p.add_argument("--pairs", type=int, default=20, help="colour-swapped game pairs per opponent")
    p.add_argument("--opponents", default="random,depth:1,depth:2",
                   help="comma-separated opponents: random, depth:N (Fairy-Stockfish)")
    p.add_argument("--searches", default="default",
                   help="comma-separated ways the model plays each match: default, none, 1-ply, 2-ply")
    p.add_argument("--workers", type=int, default=1,
                   help="processes that play a match's pairs side by side (one thread each)")


def evaluate(args, command: str) -> int:
    """Raw legality on held-out positions, then colour-swapped matches against each opponent."""
    import json
    import statistics
    import time
    from pathlib import Path

    from ..data import load_xiangqi_games
    from . import api, evaluate as ev
    from .card import write_card

    folder = Path(args.pipeline) if args.pipeline else api.model_dir()
    results = {"command": command}
    # the held-out games: the data folder's validation split, else the copy shipped with the model
    val_path = Path(args.data_dir) / "val.jsonl" if args.data_dir else folder / "heldout.jsonl"
    if not val_path.is_file():
        raise ValueError(f"no held-out games at {val_path}: pass --data-dir with a val.jsonl")
    val = load_xiangqi_games(val_path)
    legality = ev.raw_legality(val, positions=args.positions, seed=args.seed, folder=folder)
    print(f"raw legality on {legality['positions']} held-out positions: {100 * legality['raw_legal']:.2f}%  "
          f"top-1 = played {100 * legality['top1_played']:.1f}%  top legal = played "
          f"{100 * legality['top1_legal_played']:.1f}%")
    results["legality"] = legality
    searches = [None if s == "default" else s for s in args.searches.split(",") if s]
    bench = []
    for search in dict.fromkeys(s or api.default_search(folder) for s in [None, *searches]):
        api.choose_move(OPENING, model=folder, search=search)
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            api.choose_move(OPENING, model=folder, search=search)
            times.append(time.perf_counter() - t0)
        bench.append(f"choose_move after 6 plies, search {search}: median "
                     f"{1000 * statistics.median(times):.0f} ms")
    results["bench"] = "; ".join(bench)
    print(results["bench"])
    results["matches"] = []
    for spec in [s for s in args.opponents.split(",") if s]:
        for search in searches:
            m = ev.match(spec, pairs=args.pairs, seed=args.seed, folder=folder, search=search,
                         workers=args.workers)
            print(f"vs {m['opponent']:28s} search={m['search']:6s} games={m['games']}  "
                  f"W/D/L={m['win']}/{m['draw']}/{m['loss']}  score={m['score']:.3f} +- {m['ci95']:.3f}  "
                  f"mean plies={m['mean_plies']}  ({m['minutes']:.1f} min)  {m['reasons']}")
            results["matches"].append(m)
    if args.write_card:
        (folder / "metrics.json").write_text(json.dumps(results, indent=2))
        write_card(folder)
        print(f"wrote {folder / 'metrics.json'} and the model card")
    return 0


def bench_cases() -> list:
    from . import api

    if not (api.model_dir() / "config.json").is_file():
        print(f"xiangqi: no model in {api.model_dir()}, skipped")
        return []
    return [("xiangqi choose_move after 6 plies", lambda: api.choose_move(OPENING)),
            ("xiangqi candidates k=5 after 6 plies", lambda: api.candidates(OPENING, k=5))]


def add_data_arguments(p) -> None:
    p.add_argument("--games", type=int, default=1000, help="games to play (added to those already in --out)")
    p.add_argument("--out", default=None, help="the games folder (default runs/xiangqi-data; --scored: "
                   "runs/xiangqi-scored)")
    p.add_argument("--workers", type=int, default=None, help="engine processes (default: every core)")
    p.add_argument("--min-depth", type=int, default=2)
    p.add_argument("--max-depth", type=int, default=8)
    p.add_argument("--scored", action="store_true",
                   help="score every legal move of every position (soft-policy, legality and value targets)")
    p.add_argument("--depth", type=int, default=3, help="--scored, --dagger: the search depth that scores each move")
    p.add_argument("--dagger", default=None, metavar="MODEL",
                   help="DAgger data: games this model folder plays (against --opponents), every position scored")
    p.add_argument("--opponents", default="random,depth:1", help="--dagger: the model's opponents, one per game")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--import", dest="import_file", default=None, metavar="JSONL",
                   help="add games from this file instead (checked move by move against the rules)")
    p.add_argument("--no-progress", action="store_true")


def make_data(args, command: str) -> int:
    """Fairy-Stockfish games, resumable and appending (``python -m playground data xiangqi``)."""
    from . import selfplay

    out = args.out or ("runs/xiangqi-dagger" if args.dagger else "runs/xiangqi-scored" if args.scored
                       else "runs/xiangqi-data")
    if args.import_file:
        selfplay.import_games(args.import_file, out)
        return 0
    if args.dagger:
        from .scored import DaggerConfig

        config = DaggerConfig(model=args.dagger, opponents=args.opponents, depth=args.depth, seed=args.seed)
    elif args.scored:
        from .scored import ScoredConfig

        config = ScoredConfig(depth=args.depth, seed=args.seed)
    else:
        config = selfplay.SelfPlayConfig(min_depth=args.min_depth, max_depth=args.max_depth, seed=args.seed)
    selfplay.generate(out, args.games, config, workers=args.workers, progress=not args.no_progress, command=command)
    return 0


def check_main(result) -> None:
    """The load test's check of ``/xiangqi_move``: a board came back."""
    if not result:
        raise AssertionError("xiangqi_move: no board")


# The go/no-go study before the long run: the same budget for each (the card's "Recipe study").
ABLATION = {
    "board-soft": dict(board="pieces", soft_weight=1.0, best_weight=0.0),  # the proposal
    "moves-soft": dict(board="none", soft_weight=1.0, best_weight=0.0),  # move-only: no board
    "board-best": dict(board="pieces", soft_weight=0.0, best_weight=1.0),  # the engine's best move only
}
ABLATION_BASE = dict(objective="scores", size="small", batch_size=16, warmup=100, lr=1e-3, dropout=0.0,
                     legal_weight=0.1)


def add_sweep_arguments(p) -> None:
    p.add_argument("--steps", type=int, default=800, help="training steps per configuration")
    p.add_argument("--out", default="runs/xq-ablation")
    p.add_argument("--collect", default=None, metavar="JSON", help="only gather the results into this file")


def sweep(args, command: str) -> int:
    """The ablation at equal budgets (``python -m playground sweep xiangqi``): move-only vs
    board-aware, soft scores vs the best move only; each run resumable, results in ``--collect``."""
    import json
    from pathlib import Path

    from .train import TrainConfig, train

    out = Path(args.out)
    if not args.collect:
        for name, fields in ABLATION.items():
            config = TrainConfig(**ABLATION_BASE, **fields, steps=args.steps)
            train(config, out / name, data_dir=args.data_dir, eval_every=args.steps // 2, log_every=50,
                  save_minutes=10, progress=False, command=command)
        return 0
    rows = []
    for name in ABLATION:
        summary = json.loads((out / name / "summary.json").read_text())
        rows.append({"name": name, **{k: summary["config"][k] for k in ("board", "soft_weight", "best_weight")},
                     **{k: summary.get(k) for k in ("step", "wall_minutes", "train_positions", "val_soft",
                                                    "val_top1", "val_raw_legal", "val_value", "command")}})
    Path(args.collect).write_text(json.dumps({"base": ABLATION_BASE, "rows": rows}, indent=2))
    print(f"wrote {args.collect}")
    return 0
