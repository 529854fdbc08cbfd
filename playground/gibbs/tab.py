"""The Gibbs tab's entries for the registry (``playground.tabs``): main endpoint, train, eval, bench."""

from __future__ import annotations

import math

from ..cliargs import Training
from ..limits import Cost, units

# api_name, the UI's default inputs, images returned
MAIN = ("gibbs_sample", ("科学技术____生产力。", 16, 4, 200, 50, 1.0, 0, "random", "linear:0.1", 0, "gibbs", "news"), None)


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


# The recipe study (``python -m playground sweep gibbs``): one change at a time, at an equal budget.
ARMS = {
    "fixed": dict(mask_schedule="fixed"),  # BERT's 15% (the shipped model's recipe)
    "uniform": dict(mask_schedule="uniform"),  # a masking rate per sentence, uniform in (0, 1]
    "uniform-domain": dict(mask_schedule="uniform", domain_token=True),  # + the news / review token
    "uniform-domain-wwm": dict(mask_schedule="uniform", domain_token=True, whole_word=True),  # + whole words
    "fixed-domain": dict(mask_schedule="fixed", domain_token=True),  # BERT's 15% with the domain token
}
ARM_BASE = dict(warmup=100, lr=2e-4)


def add_sweep_arguments(p) -> None:
    p.add_argument("--steps", type=int, default=1000, help="training steps per arm (default 1000)")
    p.add_argument("--init-from", default="checkpoints/gibbs-bert",
                   help="every arm starts from these weights ('' : from scratch)")
    p.add_argument("--out", default="runs/gibbs-study", help="the arms' run folders, each with its export/")
    p.add_argument("--arms", default=",".join(ARMS), help=f"which arms (default all: {','.join(ARMS)})")
    p.add_argument("--n", type=int, default=64, help="samples per arm, method and domain (default 64)")
    p.add_argument("--collect", default=None, metavar="JSON",
                   help="only score the trained arms and write the study here (e.g. a model folder's ablation.json)")


def sweep(args, command: str) -> int:
    """Train each arm (resumable; ``--out``/ARM, exported to ``--out``/ARM/export), or with
    ``--collect`` score them: held-out MLM accuracy and pseudo-perplexity, and free 16-character
    samples from Gibbs (200 steps) and Mask-Predict (10 passes), each domain the arm knows, under the
    judge GPT (their perplexity over real held-out text's of the same domain) and distinct-2."""
    import json
    from pathlib import Path

    from ..checks import check_int
    from . import evaluate as ev
    from .train import TrainConfig, train

    check_int("--steps", args.steps, 1)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    for arm in arms:
        if arm not in ARMS:
            raise ValueError(f"--arms: {arm!r} is not one of {list(ARMS)}")
    out = Path(args.out)
    if not args.collect:
        for arm in arms:
            config = TrainConfig(**ARM_BASE, **ARMS[arm], steps=args.steps, init_from=args.init_from)
            train(config, out / arm, out / arm / "export", data_dir=args.data_dir, eval_every=max(1, args.steps // 2),
                  log_every=25, save_minutes=5, progress=False, command=command)
        return 0
    rows = []
    for arm in arms:
        folder = out / arm / "export"
        record = json.loads((folder / "training.json").read_text())
        table = ev.method_table(str(folder), methods=("gibbs", "mask-predict"), lengths=(16,), n=args.n,
                                data_dir=args.data_dir)
        row = {"arm": arm, "masking": record["config"]["mask_schedule"], **ARMS[arm],
               "domain_token": bool(record["config"].get("domain_token")),
               "whole_word": bool(record["config"].get("whole_word")),
               **{k: record.get(k) for k in ("step", "val_accuracy", "val_loss", "val_pseudo_perplexity",
                                             "wall_minutes", "cpu_minutes", "command")}}
        for method, key in (("gibbs", "gibbs"), ("mask-predict", "mp")):
            ratios, distinct = [], []
            for r in table["rows"]:
                if r["method"] == method:
                    real = next(x for x in table["rows"] if x["method"] == "real held-out text"
                                and x["domain"] == r["domain"])
                    ratios.append(r["judge_ppl"] / real["judge_ppl"])
                    distinct.append(r["distinct_2"])
            row[f"{key}_judge_ratio"] = float(math.prod(ratios) ** (1 / len(ratios)))
            row[f"{key}_distinct_2"] = sum(distinct) / len(distinct)
        row["samples"] = [{k: r[k] for k in ("method", "domain", "judge_ppl", "distinct_2", "examples")}
                          for r in table["rows"] if "examples" in r]
        rows.append(row)
        print(f"{arm}: accuracy {100 * row['val_accuracy']:.2f}%  pppl {row['val_pseudo_perplexity']:.2f}  "
              f"gibbs {row['gibbs_judge_ratio']:.2f}x real (distinct-2 {row['gibbs_distinct_2']:.3f})  "
              f"mask-predict {row['mp_judge_ratio']:.2f}x real (distinct-2 {row['mp_distinct_2']:.3f})", flush=True)
    study = {"rows": rows, "steps": args.steps, "init_from": args.init_from, "base": ARM_BASE,
             "judge": table["judge"], "command": command}
    Path(args.collect).write_text(json.dumps(study, indent=2, ensure_ascii=False))
    print(f"wrote {args.collect}")
    return 0
