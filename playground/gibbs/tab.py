"""The Gibbs tab's entries for the registry (``playground.tabs``): main endpoint, train, eval, bench."""

from __future__ import annotations

from ..cliargs import Training
from ..limits import Cost, units

# api_name, the UI's default inputs, images returned
MAIN = ("gibbs_sample", ("科学技术____生产力。", 16, 4, 200, 50, 1.0, 0, "random", "linear:0.1", 0, "gibbs"), None)


def _characters(template, length) -> float:
    return len(template) if isinstance(template, str) and template.strip() else units(length)


def _passes(rest: tuple) -> int:
    """Encoder passes a step: Metropolis-Hastings scores each proposal with a second one."""
    return 2 if len(rest) > 6 and rest[6] in ("mh", "mh-raw") else 1


COST = Cost(
    # one character position in one chain, one Gibbs step or Mask-Predict pass (a BERT pass over the chain
    # costs about its length; bench --costs: 0.0001 s at 8 chains x 24 characters); an MH step counts twice
    unit="character-steps", seconds_per_unit=0.0001,
    endpoints={
        name: ("n chains x steps x characters (the template's, or length); x 2 for Metropolis-Hastings",
               lambda template, length, n, steps, *rest: units(n) * units(steps) * _characters(template, length)
               * _passes(rest))
        for name in ("gibbs_sample", "gibbs_chain")
    },
    fewer="fewer chains, steps or characters",
    probe=("gibbs_sample", ("", 24, 8, 100, 20, 1.0, 0, "random", "none", 0)),
    unlimited="playground.gibbs.sample(...) in Python",
)


def training() -> Training:
    from .models import SIZES
    from .train import TrainConfig, train

    return Training(TrainConfig, train, out="runs/gibbs", choices={"size": list(SIZES)})


def add_eval_arguments(p) -> None:
    p.add_argument("--pipeline", default=None, help="a model folder or Hub id (default: the shipped one)")
    p.add_argument("--n", type=int, default=200, help="samples (default 200)")
    p.add_argument("--length", type=int, default=24, help="characters per sample")
    p.add_argument("--steps", type=int, default=200, help="Gibbs steps per chain")
    p.add_argument("--burn-in", type=int, default=50, help="steps at the base temperature before annealing")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest characters (0: all)")
    p.add_argument("--order", default="random", choices=["random", "sequential"], help="site order")
    p.add_argument("--anneal", default=None, help="annealing, e.g. 'linear:0.1' or a final temperature")


def evaluate(args, command: str) -> int:
    """Held-out MLM accuracy and pseudo-perplexity, then diversity and fluency of ``--n`` samples
    and the sampler's speed (``gibbs.evaluate``); ``--write-card`` stores the sample figures."""
    import json

    from ..checks import check_int
    from . import api, evaluate as ev

    model = args.pipeline
    # every argument is checked before the slow part (the held-out scores alone take half a minute)
    check_int("--n", args.n, 2)
    api.check_arguments(length=args.length, n=min(args.n, api.MAX_CHAINS), steps=args.steps, burn_in=args.burn_in,
                        temperature=args.temperature, top_k=args.top_k, order=args.order, anneal=args.anneal,
                        seed=args.seed)
    if args.write_card and model is not None and not api.is_folder(model):
        raise ValueError("--write-card needs a local model folder, not a Hub id")
    anneal = api.parse_anneal(args.anneal)
    held_out = ev.evaluate_model(model, data_dir=args.data_dir)
    print(f"held-out MLM accuracy {100 * held_out['val_accuracy']:.2f}%  loss {held_out['val_loss']:.3f}  "
          f"pseudo-perplexity {held_out['val_pseudo_perplexity']:.2f} ({held_out['val_pppl_sentences']} sentences)",
          flush=True)
    results = ev.report(model, n=args.n, length=args.length, steps=args.steps, burn_in=args.burn_in,
                        temperature=args.temperature, top_k=args.top_k, order=args.order, anneal=anneal,
                        seed=args.seed, write_card=args.write_card, command=command, data_dir=args.data_dir)
    print(json.dumps({k: v for k, v in results["samples"].items() if k != "examples"}, indent=2, ensure_ascii=False))
    for text in results["samples"].get("examples", []):
        print("  ", text)
    print(results.get("bench", ""))
    return 0


def bench_cases() -> list:
    from . import api

    if not (api.model_dir() / "config.json").is_file():
        print(f"gibbs: no model in {api.model_dir()}, skipped")
        return []
    return [("gibbs sample 8 chains x 32 chars x 200 steps",
             lambda: api.sample(length=32, n=8, steps=200, burn_in=0, seed=0))]


def check_main(result) -> None:
    """The load test's check of ``/gibbs_sample``: one line per chain asked for, a non-empty download."""
    from pathlib import Path

    text, file = result
    if len(text.splitlines()) != MAIN[1][2]:
        raise AssertionError(f"gibbs_sample: {len(text.splitlines())} samples")
    if isinstance(file, str) and Path(file).is_file() and Path(file).read_text(encoding="utf-8") == "":
        raise AssertionError("gibbs_sample: empty download")
