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

    return Training(TrainConfig, train, out="runs/gibbs", choices={"size": list(SIZES),
                    "objective": ["mlm", "judge"], "mask_schedule": ["fixed", "uniform"]})


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
    p.add_argument("--method", default="gibbs", help="the sampler of the samples above: gibbs, mh, mh-raw, "
                   "mask-predict")
    p.add_argument("--methods", default=None, help="compare these samplers instead (comma-separated, e.g. "
                   "gibbs,mh,mh-raw,mask-predict) at each --lengths under the judge GPT and the training-split "
                   "trigram; with --write-card the table is added to the card's figures")
    p.add_argument("--lengths", default="16,32", help="sample lengths of the --methods table")
    p.add_argument("--passes", type=int, default=10, help="Mask-Predict's passes in the --methods table")
    p.add_argument("--judge", default=None, help="the judge GPT's folder (default: checkpoints/gibbs-judge)")


def evaluate(args, command: str) -> int:
    """Held-out MLM accuracy and pseudo-perplexity, then diversity and fluency of ``--n`` samples
    and the sampler's speed (``gibbs.evaluate``); ``--write-card`` stores the sample figures."""
    import json

    from ..checks import check_int
    from . import api, evaluate as ev

    model = args.pipeline
    # every argument is checked before the slow part (the held-out scores alone take half a minute)
    check_int("--n", args.n, 2)
    methods = [api.check_method(m.strip()) for m in args.methods.split(",")] if args.methods else []
    if not methods:  # the one sampler's report (--methods: the table's runs, checked below)
        api.check_arguments(length=args.length, n=min(args.n, api.MAX_CHAINS), steps=args.steps,
                            burn_in=args.burn_in, temperature=args.temperature, top_k=args.top_k, order=args.order,
                            anneal=args.anneal, seed=args.seed, method=args.method)
    try:
        lengths = [int(x) for x in args.lengths.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--lengths must be comma-separated numbers of characters, not {args.lengths!r}") from None
    check_int("--passes", args.passes, 1, api.MAX_STEPS)
    for length in lengths:  # each method's run, as the table will ask for it
        for m in methods:
            mp = m == "mask-predict"
            api.check_arguments(length=length, n=min(args.n, api.MAX_CHAINS), steps=args.passes if mp else args.steps,
                                burn_in=0 if mp else args.burn_in, temperature=args.temperature, top_k=args.top_k,
                                anneal=args.anneal, seed=args.seed, method=m)
    if args.judge is not None and not api.is_folder(args.judge):
        raise ValueError(f"--judge {args.judge!r} is not a model folder")
    if args.write_card and model is not None and not api.is_folder(model):
        raise ValueError("--write-card needs a local model folder, not a Hub id")
    anneal = api.parse_anneal(args.anneal)
    if methods:  # the samplers side by side, instead of the one sampler's report
        table = ev.method_table(model, methods=methods, lengths=lengths, n=args.n, steps=args.steps,
                                burn_in=args.burn_in, passes=args.passes, temperature=args.temperature,
                                top_k=args.top_k, anneal=anneal, seed=args.seed, judge=args.judge,
                                data_dir=args.data_dir)
        table["command"] = command
        print(ev.format_method_table(table), flush=True)
        for row in table["rows"]:
            for text in row.get("examples", [])[:1]:
                print(f"  {row['method']} ({row['length']}): {text}")
        if table["judge"] is None:
            print("(no judge GPT: train one with `python -m playground train gibbs --objective judge`)")
        if args.write_card:
            folder = ev.add_method_table(model, table)
            print(f"added the table to {folder / 'metrics.json'} and the model card")
        return 0
    held_out = ev.evaluate_model(model, data_dir=args.data_dir)
    print(f"held-out MLM accuracy {100 * held_out['val_accuracy']:.2f}%  loss {held_out['val_loss']:.3f}  "
          f"pseudo-perplexity {held_out['val_pseudo_perplexity']:.2f} ({held_out['val_pppl_sentences']} sentences)",
          flush=True)
    results = ev.report(model, n=args.n, length=args.length, steps=args.steps, burn_in=args.burn_in,
                        temperature=args.temperature, top_k=args.top_k, order=args.order, anneal=anneal,
                        seed=args.seed, write_card=args.write_card, command=command, data_dir=args.data_dir,
                        method=args.method)
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
