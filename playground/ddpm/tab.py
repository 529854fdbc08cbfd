"""The DDPM tab's entries for the registry (``playground.tabs``): main endpoint, train, eval, bench."""

from __future__ import annotations

import math

from ..cliargs import Training
from ..limits import Cost, units

MAIN = ("ddpm_generate", ("dpm++", 25, 0.0, 0, 16), 16)  # api_name, the UI's default inputs, images returned
TABLE = "ddpm:1000@500,dpm++:25@500,ddim:10,ddim:25,ddim:50,dpm++:10,dpm++:25,dpm++:50"
ACCURACY_BAR = 0.9  # the curve also reports the lowest scale at which this share of samples shows its class

def _passes(model=None, label=None, guidance=None) -> int:
    """U-Net evaluations per image per step: 2 when classifier-free guidance runs both halves (a
    class-conditional model at a scale other than 0 or 1), else 1. ``guidance=None`` is the model's
    measured default: a shipped model's is read from its folder; any other model's counts as guided."""
    from ..checkpoints import read_json
    from .api import DEFAULT_MODEL, MODELS, SHIPPED, model_dir

    model = model or DEFAULT_MODEL
    if model == SHIPPED:
        return 1
    if guidance is None and model in MODELS:
        guidance = read_json(model_dir(model) / "model_index.json").get("guidance_scale", 1.0)
    return 1 if guidance is not None and units(guidance) in (0, 1) else 2


def _sampling_units(sampler, steps, eta, seed, n, model=None, label=None, guidance=None) -> float:
    return units(steps) * units(n) * _passes(model, label, guidance)


COST = Cost(
    # one U-Net call on one 28x28 image (bench --costs: 0.0074 s at 16 images)
    unit="U-Net evaluations of one image", seconds_per_unit=0.0075,
    endpoints={
        "ddpm_generate": ("steps x n (x 2 with guidance)", _sampling_units),
        "ddpm_frames": ("steps x n (x 2 with guidance)", _sampling_units),
        # DDIM over the whole schedule, only the steps below t0 run, for each mix
        "ddpm_interpolate": ("(steps x t0 / 1000 + 1) x points", lambda a, b, t0, steps, points, seed=0: (
            math.ceil(units(steps) * units(t0) / 1000) + 1) * units(points)),
        # one image per (sampler, steps) cell: the steps of a row summed over the five samplers
        "ddpm_sampler_grid": ("5 x (5 + 10 + 25 + 50) (x 2 with guidance)",
                              lambda seed, model=None, label=None, guidance=None: 5 * 90 * _passes(model, label,
                                                                                                  guidance)),
    },
    fewer="fewer steps or images (dpm++ at 25 steps is as good as the faithful 1000)",
    probe=("ddpm_generate", ("dpm++", 25, 0.0, 0, 16)),
    unlimited="playground.ddpm.generate(n=..., steps=..., sampler=...) in Python",
)


def training() -> Training:
    from .models import PREDICTIONS, SCHEDULES, SIZES
    from .train import TrainConfig, train

    return Training(TrainConfig, train, out="runs/ddpm-{schedule}",
                    choices={"schedule": list(SCHEDULES), "size": list(SIZES), "prediction": list(PREDICTIONS),
                             "classes": [0, 10]})


def add_eval_arguments(p) -> None:
    p.add_argument("--pipeline", default=None, help="a pipeline folder or Hub id (default: the shipped one)")
    p.add_argument("--n", type=int, default=10_000, help="samples per row without @n (default 10000)")
    p.add_argument("--table", default=TABLE, help="rows 'sampler:steps[@n]', comma-separated (default: %(default)s)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--compare-schedules", default=None, metavar="OUT",
                   help="score every folder of --pipeline A,B and write the comparison to OUT")
    p.add_argument("--compare-recipes", default=None, metavar="OUT",
                   help="as --compare-schedules, the folders labelled by their recipe (prediction, min-SNR gamma)")
    p.add_argument("--guidance", type=float, default=None,
                   help="a class-conditional model: the guidance scale of the --table rows (default: its own)")
    p.add_argument("--guidance-curve", default=None, metavar="G,G,...",
                   help="a class-conditional model: FD and class accuracy at each guidance scale, --curve-n samples "
                        "given their class (a tenth per class), dpm++ 25 steps; with --write-card the best scale "
                        "becomes the model's default")
    p.add_argument("--curve-n", type=int, default=2000, help="samples per --guidance-curve point (default 2000)")


def parse_table(spec: str, n: int) -> list[tuple[str, int, int]]:
    """"sampler:steps[@n],..." -> [(sampler, steps, n)]."""
    rows = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        try:
            head, _, count = item.partition("@")
            sampler, steps = head.rsplit(":", 1)
            rows.append((sampler, int(steps), int(count) if count else n))
        except ValueError:
            raise ValueError(f"--table entries look like 'dpm++:25' or 'ddpm:1000@500', not {item!r}") from None
    return rows


def evaluate(args, command: str) -> int:
    """The sampler x steps table: FD, KID, precision, recall and seconds per 16 images, each
    FD beside the real floor at the same n. With ``--compare-schedules OUT`` (or
    ``--compare-recipes OUT``) every pipeline of a comma-separated ``--pipeline`` list is scored
    and the comparison written to OUT. ``--guidance-curve``: FD and class accuracy against the
    guidance scale of a class-conditional model."""
    import json
    from pathlib import Path

    import torch

    from . import api
    from .card import RECIPE_KEYS, recipe_name, schedule_comparison, write_card

    floors: dict = {}
    compare = args.compare_schedules or args.compare_recipes
    if compare:
        if not args.pipeline:
            raise ValueError("--compare-schedules and --compare-recipes need --pipeline A,B (the folders to compare)")
        key = "schedule" if args.compare_schedules else "recipe"
        results = []
        for folder in args.pipeline.split(","):
            training = json.loads((Path(folder) / "training.json").read_text())
            rows = table_rows(args, folder, floors)
            config = training["config"]
            results.append({key: config["schedule"] if key == "schedule" else recipe_name(config),
                            "train_steps": training["step"], "cpu_minutes": training["cpu_minutes"],
                            "folder": folder, "rows": rows, "config": {k: config.get(k) for k in RECIPE_KEYS}})
        out = schedule_comparison(results, floors, command, key=key)
        Path(compare).write_text(json.dumps(out, indent=2))
        print(out["verdict"])
        print(f"  wrote {compare}")
        return 0
    curve = guidance_curve(args, args.pipeline, floors) if args.guidance_curve else None
    if curve and args.guidance is None:
        args.guidance = curve["best"]  # the table at the scale the curve found best
    rows = table_rows(args, args.pipeline, floors)
    record = {"command": command, "model": args.pipeline or api.DEFAULT_MODEL, "seed": args.seed, "rows": rows,
              "real_floor": floors, "threads": torch.get_num_threads()}
    if curve:
        record["guidance"] = curve
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2))
        print(f"  wrote {args.json}")
    if args.write_card:
        folder = api.model_dir(args.pipeline)
        if record.get("guidance"):
            set_default_guidance(folder, record["guidance"]["best"])
        (folder / "metrics.json").write_text(json.dumps(record, indent=2))
        print(f"  wrote {write_card(folder)}")
    return 0


def _parse_scales(spec: str) -> list[float]:
    try:
        scales = [float(g) for g in spec.split(",") if g.strip()]
    except ValueError:
        raise ValueError(f"--guidance-curve takes scales such as 0,1,2,3, not {spec!r}") from None
    if not scales or any(not 0 <= g <= 20 for g in scales):
        raise ValueError(f"--guidance-curve takes scales from 0 to 20, not {spec!r}")
    return scales


def guidance_curve(args, model, floors: dict) -> dict:
    """FD, precision, recall and class accuracy at each guidance scale: ``--curve-n`` samples,
    a tenth asked for each class (dpm++, 25 steps). ``best`` (the model's default): the lowest-FD
    scale, as FID-against-guidance curves pick it; ``faithful``: the lowest scale whose samples show
    the class asked for at least ``ACCURACY_BAR`` of the time (None if none does)."""
    import numpy as np

    from .. import metrics
    from . import api

    scales = _parse_scales(args.guidance_curve)
    if not api.is_conditional(api.load_unet(model)):
        raise ValueError(f"--guidance-curve needs a class-conditional model, and {model or api.DEFAULT_MODEL} is not")
    per_class = max(1, args.curve_n // len(api.CLASSES))
    n = per_class * len(api.CLASSES)
    if str(n) not in floors:
        floors[str(n)] = metrics.headline(metrics.real_floor(n=n, data_dir=args.data_dir))
        print(metrics.metrics_line(f"real floor n={n}", floors[str(n)]), flush=True)
    points = []
    for g in scales:
        images = np.concatenate([api.generate(per_class, steps=25, sampler="dpm++", seed=args.seed + c, model=model,
                                              output_type="np", label=c, guidance=g)
                                 for c in range(len(api.CLASSES))])
        asked = np.repeat(np.arange(len(api.CLASSES)), per_class)
        feats, preds = metrics.classifier_outputs(images)
        scored = metrics.score_features(feats, preds, metrics.reference_features(args.data_dir))
        hits = preds == asked
        point = dict(guidance=g, **metrics.headline(scored), accuracy=round(float(hits.mean()), 4),
                     class_accuracy=[round(float(hits[asked == c].mean()), 4) for c in range(len(api.CLASSES))])
        points.append(point)
        print(metrics.metrics_line(f"guidance {g:g} (class given)", scored) + f"  class accuracy {hits.mean():.3f}",
              flush=True)
    best = min(points, key=lambda p: p["fd"])["guidance"]
    faithful = min((p["guidance"] for p in points if p["accuracy"] >= ACCURACY_BAR), default=None)
    print(f"best guidance (lowest FD): {best:g}; class accuracy >= {ACCURACY_BAR:g} from: "
          + ("none of these scales" if faithful is None else f"{faithful:g}"))
    return {"sampler": "dpm++", "steps": 25, "n": n, "points": points, "best": best, "faithful": faithful,
            "accuracy_bar": ACCURACY_BAR}


def set_default_guidance(folder, scale: float) -> None:
    """Write the measured best guidance scale into the pipeline's ``model_index.json``."""
    import json
    from pathlib import Path

    path = Path(folder) / "model_index.json"
    index = json.loads(path.read_text())
    index["guidance_scale"] = scale
    path.write_text(json.dumps(index, indent=2) + "\n")


def table_rows(args, model, floors: dict) -> list[dict]:
    import statistics
    import time
    from pathlib import Path

    from .. import metrics
    from . import api

    conditional = api.is_conditional(api.load_unet(model))
    if args.guidance is not None and not conditional:
        raise ValueError(f"--guidance needs a class-conditional model, and {model or api.DEFAULT_MODEL} is not")
    cond = {"guidance": args.guidance} if conditional else {}  # classes drawn per image
    rows = []
    for sampler, steps, n in parse_table(args.table, args.n):
        if str(n) not in floors:
            floors[str(n)] = metrics.headline(metrics.real_floor(n=n, data_dir=args.data_dir))
            print(metrics.metrics_line(f"real floor n={n}", floors[str(n)]), flush=True)
        api.generate(16, steps=steps, sampler=sampler, seed=args.seed, model=model, output_type="np", **cond)  # warm
        times = []
        for _ in range(1 if steps > 100 else 3):
            t0 = time.perf_counter()
            api.generate(16, steps=steps, sampler=sampler, seed=args.seed, model=model, output_type="np", **cond)
            times.append(time.perf_counter() - t0)
        t0 = time.time()
        images = api.generate(n, steps=steps, sampler=sampler, seed=args.seed, model=model, output_type="np", **cond)
        minutes = (time.time() - t0) / 60
        scored = metrics.score_images(images, data_dir=args.data_dir)
        row = dict(sampler=sampler, steps=steps, **metrics.headline(scored),
                   seconds_per_16=round(statistics.median(times), 3), sampling_minutes=round(minutes, 2),
                   classes=scored["class_histogram"])
        if conditional:
            row["guidance"] = args.guidance if args.guidance is not None else api.load_unet(model).default_guidance
        rows.append(row)
        print(metrics.metrics_line(f"{Path(model).name if model else 'ddpm'} {sampler} {steps}", scored)
              + f"  floor FD={floors[str(n)]['fd']:.3f}  {row['seconds_per_16']:.2f} s/16"
              + (f"  guidance {row['guidance']:g}" if conditional else ""), flush=True)
    return rows


def bench_cases() -> list:
    from . import api

    if not (api.model_dir(api.SHIPPED) / "model_index.json").is_file():
        print(f"ddpm: no pipeline in {api.model_dir(api.SHIPPED)}, skipped")
        return []
    cases = [(f"ddpm {sampler} {steps} steps n=16 (PIL)",
              lambda s=sampler, k=steps: api.generate(16, steps=k, sampler=s, seed=0, model=api.SHIPPED))
             for sampler, steps in (("dpm++", 10), ("dpm++", 25), ("ddim", 50))]
    if (api.model_dir(api.CONDITIONAL) / "model_index.json").is_file():
        guided = api.load_unet(api.CONDITIONAL).default_guidance
        cases += [(f"ddpm-cfg {sampler} {steps} steps n=16 guidance {g:g} (PIL)",
                   lambda s=sampler, k=steps, g=g: api.generate(16, steps=k, sampler=s, seed=0, model=api.CONDITIONAL,
                                                                guidance=g))
                  for sampler, steps, g in sorted({("dpm++", 25, guided), ("dpm++", 25, 1.0), ("dpm++", 25, 2.0),
                                                   ("unipc", 10, guided)})]
    return cases


def add_bench_arguments(p) -> None:
    p.add_argument("--stock", action="store_true",
                   help="ddpm: also time diffusers' DDPMPipeline at 1000 steps (about a minute)")


def bench_extra(args) -> None:
    """``--stock``: diffusers' own ``DDPMPipeline`` at its default 1000 steps on the shipped
    weights, 16 images, against our dpm++ at 25 steps (one timed run each, warm)."""
    import time

    import torch
    from diffusers import DDPMPipeline

    from . import api

    if not args.stock or not (api.model_dir(api.SHIPPED) / "model_index.json").is_file():
        return
    pipe = DDPMPipeline.from_pretrained(api.model_dir(api.SHIPPED), use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    pipe(batch_size=2, num_inference_steps=5, generator=torch.Generator().manual_seed(0))  # warm
    t0 = time.perf_counter()
    pipe(batch_size=16, num_inference_steps=1000, generator=torch.Generator().manual_seed(0))
    stock = time.perf_counter() - t0
    api.generate(16, steps=25, sampler="dpm++", seed=0, model=api.SHIPPED)
    t0 = time.perf_counter()
    api.generate(16, steps=25, sampler="dpm++", seed=0, model=api.SHIPPED)
    ours = time.perf_counter() - t0
    print(f"{'stock DDPMPipeline 1000 steps n=16':44s} {stock:7.2f} s")
    print(f"{'ddpm dpm++ 25 steps n=16 (ours)':44s} {ours:7.2f} s   ratio {stock / ours:.0f}x")


def image_models() -> list:
    """The shipped diffusion models, for the Compare tab (``images.ImageModel``), sampled as the
    tab's default does: DPM-Solver++ in 25 steps (the class-conditional one at its measured best
    guidance, a class drawn per image)."""
    from ..checkpoints import read_json
    from ..images import ImageModel, parameter_count
    from . import api

    sampler, steps = "dpm++", 25

    def record(model: str) -> dict:
        folder = api.model_dir(model)
        m, t = read_json(folder / "metrics.json"), read_json(folder / "training.json")
        rows = [r for r in m["rows"] if (r["sampler"], r["steps"]) == (sampler, steps)]
        if not rows:
            raise ValueError(f"{folder.name}/metrics.json has no {sampler} {steps}-step row")
        r = max(rows, key=lambda r: r["n"])
        guided = f", guidance {r['guidance']:g}" if "guidance" in r else ""
        return {"fd": r["fd"], "kid": r["kid"], "precision": r["precision"], "recall": r["recall"], "n": r["n"],
                "classes": r["classes"], "parameters": parameter_count(api.load_unet(model)),
                "train_cpu_minutes": t["cpu_minutes"], "settings": f"{sampler}, {steps} steps{guided}",
                "source": [f"checkpoints/{folder.name}/metrics.json", f"checkpoints/{folder.name}/training.json"]}

    models = [ImageModel(f"ddpm/{api.SHIPPED}", "diffusion",
                         lambda n, seed: api.generate(n, steps=steps, sampler=sampler, seed=seed, model=api.SHIPPED,
                                                      output_type="np"),
                         lambda: record(api.SHIPPED), how=f"noise -> U-Net, {sampler} in {steps} steps", slow=True)]
    if (api.model_dir(api.CONDITIONAL) / "model_index.json").is_file():
        models.append(ImageModel(
            f"ddpm/{api.CONDITIONAL}", "diffusion",
            lambda n, seed: api.generate(n, steps=steps, sampler=sampler, seed=seed, model=api.CONDITIONAL,
                                         output_type="np"),
            lambda: record(api.CONDITIONAL),
            how=f"noise + a class per image -> U-Net with classifier-free guidance, {sampler} in {steps} steps",
            slow=True))
    return models
