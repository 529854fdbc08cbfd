"""The EAE tab's entries for the registry (``playground.tabs``): main endpoint, train, eval, bench, sample, sweep."""

from __future__ import annotations

from ..cliargs import Training
from ..limits import Cost, units

MAIN = ("eae_generate", ("eae", 0, 64, 1.0), 64)  # api_name, the UI's default inputs, images returned

COST = Cost(
    unit="encoder or decoder evaluations of one image", seconds_per_unit=0.001,  # bench --costs: 0.00098
    endpoints={
        "eae_generate": ("n", lambda model, seed, n, temperature=1.0, prior="normal": units(n)),
        # each image encoded and decoded
        "eae_reconstruct": ("2 x the files or count", lambda model, files, count, seed=0: 2 * (
            len(files) if files else units(count))),
        "eae_interpolate": ("steps", lambda model, seed_a, seed_b, steps, prior="normal": units(steps)),
        # the 10,000 test images encoded, then k-NN entropy and KS statistics: 13 s measured
        "eae_latent_report": ("the test set", lambda model: 13_000),
    },
    fewer="fewer images or frames",
    probe=("eae_generate", ("eae", 0, 256, 1.0)),
    unlimited="playground.eae.generate(n=..., model=...) in Python, or python -m playground sample eae",
)


def training() -> Training:
    """``python -m playground train eae --model eae|ae-bn|vae`` (``--model`` is ``--kind``'s older spelling)."""
    from .models import KINDS
    from .train import TrainConfig, train

    return Training(TrainConfig, train, out="runs/eae-{kind}", choices={"kind": list(KINDS)},
                    aliases={"kind": ["--model"]})


def add_eval_arguments(p) -> None:
    p.add_argument("--model", dest="kind", default="all", choices=["all", "eae", "ae-bn", "vae"], help="model")
    p.add_argument("--n", type=int, default=10_000, help="samples per model (default 10000)")
    p.add_argument("--temperatures", default="0.7,0.85",
                   help="also score at these latent temperatures (comma-separated; '' for none)")
    p.add_argument("--priors", default="normal,gmm",
                   help="score samples under these priors (normal: N(0, I); gmm: the fitted mixture, see "
                        "`python -m playground prior eae`)")


def evaluate(args, command: str) -> int:
    """Samples at temperature 1 and ``--temperatures``, test reconstruction error and the latent
    report of each model; ``--write-card`` rewrites all three cards (each compares all three)."""
    import json
    import time

    from .. import metrics
    from ..data import load_fashion_mnist
    from . import api
    from .card import write_card
    from .prior import read_record as prior_record

    kinds = api.MODELS if args.kind == "all" else (args.kind,)
    try:
        temperatures = [float(t) for t in args.temperatures.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"--temperatures must be comma-separated numbers, not {args.temperatures!r}") from None
    priors = [p.strip() for p in args.priors.split(",") if p.strip()]
    if not priors or set(priors) - set(api.PRIORS):
        raise ValueError(f"--priors must be a comma-separated list of {', '.join(api.PRIORS)}, not {args.priors!r}")
    t0 = time.time()
    floor = metrics.real_floor(n=min(args.n, 10_000), data_dir=args.data_dir)
    floor_seconds = time.time() - t0
    print(metrics.metrics_line("real floor (train vs test)", floor))
    records = {}
    for kind in kinds:
        t0 = time.time()
        samples = api.generate(n=args.n, seed=args.seed, model=kind, output_type="np")
        result = metrics.score_images(samples, data_dir=args.data_dir)
        recon = api.reconstruction_error(kind, data_dir=args.data_dir)
        latent = api.latent_report(kind, data_dir=args.data_dir)
        print(metrics.metrics_line(f"eae/{kind}", result) + f"  test SSE={recon['sse']:.2f}"
              f"  FD(code,N01)={latent['fd_to_n01']:.3f}  prior coverage={latent['prior_coverage']:.3f}")
        latent.pop("qq")
        by_prior = []
        for prior in priors:
            for t in [1.0] + [t for t in temperatures if t != 1.0]:
                scored = result if (prior, t) == ("normal", 1.0) else metrics.score_images(api.generate(
                    n=args.n, seed=args.seed, model=kind, temperature=t, output_type="np", prior=prior),
                    data_dir=args.data_dir)
                by_prior.append(dict(prior=prior, temperature=t, **metrics.headline(scored),
                                     class_histogram=scored["class_histogram"]))
                if (prior, t) != ("normal", 1.0):
                    print(metrics.metrics_line(f"eae/{kind} {prior} T={t:g}", scored))
        by_temperature = [{k: v for k, v in r.items() if k not in ("prior", "class_histogram")}
                          for r in by_prior if r["prior"] == "normal"]
        # the best any prior can do with this decoder: its reconstructions of the test images
        ceiling = metrics.score_images(api.reconstruct(load_fashion_mnist("test", root=args.data_dir)[0],
                                                       model=kind, output_type="np")[1], data_dir=args.data_dir)
        print(metrics.metrics_line(f"eae/{kind} test reconstructions (the ceiling)", ceiling))
        seconds = time.time() - t0 + floor_seconds
        records[kind] = {"command": command, "seed": args.seed, "samples": result, "real_floor": floor,
                         "reconstruction": recon, "latent": latent,
                         "by_temperature": sorted(by_temperature, key=lambda r: r["temperature"]),
                         "by_prior": by_prior, "reconstruction_ceiling": ceiling,
                         "prior_fit": prior_record(api.model_dir(kind)), "seconds": seconds}
    if args.write_card:
        for kind, record in records.items():
            (api.model_dir(kind) / "metrics.json").write_text(json.dumps(record, indent=2))
        for kind in api.MODELS:  # every card compares all three
            if (api.model_dir(kind) / "config.json").is_file():
                print(f"  wrote {write_card(kind, api.model_dir(kind))}")
    return 0


def add_prior_arguments(p) -> None:
    p.add_argument("--model", dest="kind", default="all", choices=["all", "eae", "ae-bn", "vae"], help="model")
    p.add_argument("--components", type=int, default=10, help="mixture components (default 10, as Ghosh et al.)")


def fit_prior(args, command: str) -> int:
    """``python -m playground prior eae``: fit the ex-post mixture prior of each model to its training
    codes and store it beside the weights (``prior-gmm.safetensors``)."""
    from . import api

    for kind in api.MODELS if args.kind == "all" else (args.kind,):
        record = api.fit_prior(kind, components=args.components, seed=args.seed, data_dir=args.data_dir,
                               command=command)
        print(f"eae/{kind}: {record['components']} components on {record['codes']:,} codes, mean log-likelihood "
              f"{record['mean_log_likelihood']:.2f} nats per code, {record['cpu_seconds']:.0f} CPU s -> {record['file']}")
    return 0


def bench_cases() -> list:
    from ..data import load_fashion_mnist
    from . import api

    test_images = list(load_fashion_mnist("test")[0][:16])
    cases = []
    for kind in api.MODELS:
        cases.append((f"eae/{kind} generate n=64 (PIL)", lambda k=kind: api.generate(64, seed=0, model=k)))
        cases.append((f"eae/{kind} interpolate 8 frames", lambda k=kind: api.interpolate(0, 1, steps=8, model=k)))
        cases.append((f"eae/{kind} reconstruct 16 images", lambda k=kind: api.reconstruct(test_images, model=k)))
    return cases


def add_sample_arguments(p) -> None:
    p.add_argument("--model", dest="kind", default="eae", choices=["eae", "ae-bn", "vae"], help="which model")
    p.add_argument("--temperature", type=float, default=1.0, help="latent standard deviation")


def sample(args) -> tuple:
    """(images, name) for ``python -m playground sample eae``."""
    from . import api

    images = api.generate(n=args.n, seed=args.seed, model=args.kind, temperature=args.temperature, output_type="np")
    return images, f"eae/{args.kind}"


def add_sweep_arguments(p) -> None:
    p.add_argument("--steps", type=int, default=2500, help="training steps per configuration")
    p.add_argument("--n", type=int, default=5000, help="samples scored per configuration")
    p.add_argument("--part", default="0/1", help="i/m: run every m-th configuration starting at i")
    p.add_argument("--out", default="runs/eae-sweep")
    p.add_argument("--collect", default=None, metavar="JSON", help="only gather the results into this file")


def sweep(args, command: str) -> int:
    """The EAE card's hyperparameter sweep (``python -m playground sweep eae``)."""
    from . import sweep as sweeps

    if args.collect:
        print(f"wrote {sweeps.collect(args.out, args.collect)}")
        return 0
    part, parts = (int(v) for v in args.part.split("/"))
    sweeps.run(args.out, steps=args.steps, part=part, parts=parts, n=args.n, data_dir=args.data_dir, command=command)
    return 0


def image_models() -> list:
    """The three autoencoders under each prior, for the Compare tab (``images.ImageModel``)."""
    from ..checkpoints import read_json
    from ..images import ImageModel, parameter_count
    from . import api
    from .prior import read_record

    def record(kind: str, prior: str) -> dict:
        folder = api.model_dir(kind)
        m, t = read_json(folder / "metrics.json"), read_json(folder / "training.json")
        if prior == "normal":
            s = dict(m["samples"], classes=m["samples"]["class_histogram"])
        else:
            rows = [r for r in m.get("by_prior", []) if (r["prior"], r["temperature"]) == (prior, 1.0)]
            if not rows:
                raise ValueError(f"{folder.name}/metrics.json has no {prior} row: run "
                                 f"`python -m playground eval eae --model {kind} --write-card`")
            s = dict(rows[0], classes=rows[0]["class_histogram"])
        params = parameter_count(api.load_model(kind).decoder)
        minutes = t["cpu_minutes"]
        if prior == "gmm":
            gmm = api.load_prior(kind)
            params += gmm.weights.numel() + gmm.means.numel() + gmm.components * gmm.latent_dim * (gmm.latent_dim + 1) // 2
            minutes = round(minutes + read_record(folder).get("cpu_seconds", 0) / 60, 2)
        return {"fd": s["fd"], "kid": s["kid"], "precision": s["precision"], "recall": s["recall"], "n": s["n"],
                "classes": s["classes"], "parameters": params, "train_cpu_minutes": minutes,
                "settings": f"{prior} prior, temperature 1",
                "source": [f"checkpoints/{folder.name}/metrics.json", f"checkpoints/{folder.name}/training.json"]}

    how = {"normal": "z ~ N(0, I) -> decoder", "gmm": "z ~ the mixture fitted to the training codes -> decoder"}
    return [ImageModel(f"eae/{kind} · {prior}", "autoencoder",
                       lambda n, seed, k=kind, p=prior: api.generate(n, seed=seed, model=k, output_type="np", prior=p),
                       lambda k=kind, p=prior: record(k, p), how=how[prior])
            for kind in api.MODELS for prior in api.PRIORS]
