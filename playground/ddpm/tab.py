"""The DDPM tab's entries for the registry (``playground.tabs``): main endpoint, train, eval, bench."""

from __future__ import annotations

import math

from ..cliargs import Training
from ..limits import Cost, units

MAIN = ("ddpm_generate", ("dpm++", 25, 0.0, 0, 16), 16)  # api_name, the UI's default inputs, images returned
TABLE = "ddpm:1000@500,dpm++:25@500,ddim:10,ddim:25,ddim:50,dpm++:10,dpm++:25,dpm++:50"

COST = Cost(
    # one U-Net call on one 28x28 image (bench --costs: 0.0074 s at 16 images)
    unit="U-Net evaluations of one image", seconds_per_unit=0.0075,
    endpoints={
        "ddpm_generate": ("steps x n", lambda sampler, steps, eta, seed, n: units(steps) * units(n)),
        "ddpm_frames": ("steps x n", lambda sampler, steps, eta, seed, n: units(steps) * units(n)),
        # DDIM over the whole schedule, only the steps below t0 run, for each mix
        "ddpm_interpolate": ("(steps x t0 / 1000 + 1) x points", lambda a, b, t0, steps, points, seed=0: (
            math.ceil(units(steps) * units(t0) / 1000) + 1) * units(points)),
    },
    fewer="fewer steps or images (dpm++ at 25 steps is as good as the faithful 1000)",
    probe=("ddpm_generate", ("dpm++", 25, 0.0, 0, 16)),
    unlimited="playground.ddpm.generate(n=..., steps=..., sampler=...) in Python",
)


def training() -> Training:
    from .models import SCHEDULES, SIZES
    from .train import TrainConfig, train

    return Training(TrainConfig, train, out="runs/ddpm-{schedule}",
                    choices={"schedule": list(SCHEDULES), "size": list(SIZES)})


def add_eval_arguments(p) -> None:
    p.add_argument("--pipeline", default=None, help="a pipeline folder or Hub id (default: the shipped one)")
    p.add_argument("--n", type=int, default=10_000, help="samples per row without @n (default 10000)")
    p.add_argument("--table", default=TABLE, help="rows 'sampler:steps[@n]', comma-separated (default: %(default)s)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--compare-schedules", default=None, metavar="OUT",
                   help="score every folder of --pipeline A,B and write the comparison to OUT")


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
    FD beside the real floor at the same n. With ``--compare-schedules OUT`` every pipeline
    of a comma-separated ``--pipeline`` list is scored and the comparison written to OUT."""
    import json
    from pathlib import Path

    import torch

    from . import api
    from .card import schedule_comparison, write_card

    floors: dict = {}
    if args.compare_schedules:
        if not args.pipeline:
            raise ValueError("--compare-schedules needs --pipeline A,B (the pipeline folders to compare)")
        results = []
        for folder in args.pipeline.split(","):
            training = json.loads((Path(folder) / "training.json").read_text())
            rows = table_rows(args, folder, floors)
            results.append({"schedule": training["config"]["schedule"], "train_steps": training["step"],
                            "cpu_minutes": training["cpu_minutes"], "folder": folder, "rows": rows})
        out = schedule_comparison(results, floors, command)
        Path(args.compare_schedules).write_text(json.dumps(out, indent=2))
        print(out["verdict"])
        print(f"  wrote {args.compare_schedules}")
        return 0
    rows = table_rows(args, args.pipeline, floors)
    record = {"command": command, "model": args.pipeline or "shipped", "seed": args.seed, "rows": rows,
              "real_floor": floors, "threads": torch.get_num_threads()}
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2))
        print(f"  wrote {args.json}")
    if args.write_card:
        folder = api.model_dir(args.pipeline)
        (folder / "metrics.json").write_text(json.dumps(record, indent=2))
        print(f"  wrote {write_card(folder)}")
    return 0


def table_rows(args, model, floors: dict) -> list[dict]:
    import statistics
    import time
    from pathlib import Path

    from .. import metrics
    from . import api

    rows = []
    for sampler, steps, n in parse_table(args.table, args.n):
        if str(n) not in floors:
            floors[str(n)] = metrics.headline(metrics.real_floor(n=n, data_dir=args.data_dir))
            print(metrics.metrics_line(f"real floor n={n}", floors[str(n)]), flush=True)
        api.generate(16, steps=steps, sampler=sampler, seed=args.seed, model=model, output_type="np")  # warm
        times = []
        for _ in range(1 if steps > 100 else 3):
            t0 = time.perf_counter()
            api.generate(16, steps=steps, sampler=sampler, seed=args.seed, model=model, output_type="np")
            times.append(time.perf_counter() - t0)
        t0 = time.time()
        images = api.generate(n, steps=steps, sampler=sampler, seed=args.seed, model=model, output_type="np")
        minutes = (time.time() - t0) / 60
        scored = metrics.score_images(images, data_dir=args.data_dir)
        row = dict(sampler=sampler, steps=steps, **metrics.headline(scored),
                   seconds_per_16=round(statistics.median(times), 3), sampling_minutes=round(minutes, 2),
                   classes=scored["class_histogram"])
        rows.append(row)
        print(metrics.metrics_line(f"{Path(model).name if model else 'ddpm'} {sampler} {steps}", scored)
              + f"  floor FD={floors[str(n)]['fd']:.3f}  {row['seconds_per_16']:.2f} s/16", flush=True)
    return rows


def bench_cases() -> list:
    from . import api

    if not (api.model_dir() / "model_index.json").is_file():
        print(f"ddpm: no pipeline in {api.model_dir()}, skipped")
        return []
    return [(f"ddpm {sampler} {steps} steps n=16 (PIL)",
             lambda s=sampler, k=steps: api.generate(16, steps=k, sampler=s, seed=0))
            for sampler, steps in (("dpm++", 10), ("dpm++", 25), ("ddim", 50))]


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

    if not args.stock or not (api.model_dir() / "model_index.json").is_file():
        return
    pipe = DDPMPipeline.from_pretrained(api.model_dir(), use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    pipe(batch_size=2, num_inference_steps=5, generator=torch.Generator().manual_seed(0))  # warm
    t0 = time.perf_counter()
    pipe(batch_size=16, num_inference_steps=1000, generator=torch.Generator().manual_seed(0))
    stock = time.perf_counter() - t0
    api.generate(16, steps=25, sampler="dpm++", seed=0)
    t0 = time.perf_counter()
    api.generate(16, steps=25, sampler="dpm++", seed=0)
    ours = time.perf_counter() - t0
    print(f"{'stock DDPMPipeline 1000 steps n=16':44s} {stock:7.2f} s")
    print(f"{'ddpm dpm++ 25 steps n=16 (ours)':44s} {ours:7.2f} s   ratio {stock / ours:.0f}x")


def image_models() -> list:
    """The shipped diffusion model(s), for the Compare tab (``images.ImageModel``), sampled as the
    tab's default does: DPM-Solver++ in 25 steps."""
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
        return {"fd": r["fd"], "kid": r["kid"], "precision": r["precision"], "recall": r["recall"], "n": r["n"],
                "classes": r["classes"], "parameters": parameter_count(api.load_unet(model)),
                "train_cpu_minutes": t["cpu_minutes"], "settings": f"{sampler}, {steps} steps",
                "source": [f"checkpoints/{folder.name}/metrics.json", f"checkpoints/{folder.name}/training.json"]}

    return [ImageModel(f"ddpm/{api.SHIPPED}", "diffusion",
                       lambda n, seed: api.generate(n, steps=steps, sampler=sampler, seed=seed, output_type="np"),
                       lambda: record(api.SHIPPED), how=f"noise -> U-Net, {sampler} in {steps} steps", slow=True)]
