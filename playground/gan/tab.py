"""The GAN tab's entries for the registry (``playground.tabs``): main endpoint, train, eval, bench, sample."""

from __future__ import annotations

from ..cliargs import Training
from ..limits import Cost, units

MAIN = ("gan_generate", ("dcgan", 0, 64), 64)  # api_name, the UI's default inputs, images returned

COST = Cost(
    unit="generator evaluations of one image", seconds_per_unit=0.001,  # bench --costs: 0.0011 (PNGs included)
    endpoints={
        "gan_generate": ("n", lambda arch, seed, n: units(n)),
        "gan_interpolate": ("steps", lambda arch, seed_a, seed_b, steps: units(steps)),
    },
    fewer="fewer images or frames",
    probe=("gan_generate", ("dcgan", 0, 256)),
    unlimited='playground.gan.generate(n=..., arch=...) in Python, or python -m playground sample gan',
)


def training() -> Training:
    """``python -m playground train gan``: the architecture picks the defaults (``TrainConfig.for_arch``)."""
    from .models import ARCHITECTURES
    from .train import TrainConfig, train

    def make_config(arch="dcgan", **fields):
        return TrainConfig.for_arch(arch, **fields)

    return Training(TrainConfig, train, out="runs/gan-{arch}", make_config=make_config,
                    choices={"arch": sorted(ARCHITECTURES)})


def add_eval_arguments(p) -> None:
    p.add_argument("--arch", default="all", choices=["all", "dcgan", "su2017"], help="architecture")
    p.add_argument("--n", type=int, default=10_000, help="samples (default 10000)")


def evaluate(args, command: str) -> int:
    """FD, KID, precision and recall of ``--n`` samples beside the real floor."""
    import json
    import time

    from .. import metrics
    from . import api
    from .card import write_card

    archs = api.ARCHS if args.arch == "all" else (args.arch,)
    t0 = time.time()
    floor = metrics.real_floor(n=min(args.n, 10_000), data_dir=args.data_dir)
    floor_seconds = time.time() - t0
    print(metrics.metrics_line("real floor (train vs test)", floor))
    for arch in archs:
        t0 = time.time()
        samples = api.generate(n=args.n, seed=args.seed, arch=arch, output_type="np")
        result = metrics.score_images(samples, data_dir=args.data_dir)
        seconds = time.time() - t0 + floor_seconds
        print(metrics.metrics_line(f"gan/{arch}", result))
        if args.write_card:
            folder = api.model_dir(arch)
            record = {"command": command, "seed": args.seed, "samples": result, "real_floor": floor, "seconds": seconds}
            (folder / "metrics.json").write_text(json.dumps(record, indent=2))
            print(f"  wrote {write_card(arch, folder)}")
    return 0


def bench_cases() -> list:
    from . import api

    cases = []
    for arch in api.ARCHS:
        cases.append((f"gan/{arch} generate n=64 (PIL)", lambda a=arch: api.generate(64, seed=0, arch=a)))
        cases.append((f"gan/{arch} interpolate 10 frames", lambda a=arch: api.interpolate(0, 1, steps=10, arch=a)))
    return cases


def add_sample_arguments(p) -> None:
    p.add_argument("--arch", default="dcgan", choices=["dcgan", "su2017"], help="architecture")


def sample(args) -> tuple:
    """(images, name) for ``python -m playground sample gan``."""
    from . import api

    return api.generate(n=args.n, seed=args.seed, arch=args.arch, output_type="np"), f"gan/{args.arch}"


def image_models() -> list:
    """The shipped generators, for the Compare tab (``images.ImageModel``)."""
    from ..checkpoints import read_json
    from ..images import ImageModel, parameter_count
    from . import api

    def record(arch: str) -> dict:
        folder = api.model_dir(arch)
        m, t = read_json(folder / "metrics.json"), read_json(folder / "training.json")
        s = m["samples"]
        return {"fd": s["fd"], "kid": s["kid"], "precision": s["precision"], "recall": s["recall"], "n": s["n"],
                "classes": s["class_histogram"], "parameters": parameter_count(api.load_generator(arch)),
                "train_cpu_minutes": t["cpu_minutes"], "settings": "z ~ N(0, I)",
                "source": [f"checkpoints/{folder.name}/metrics.json", f"checkpoints/{folder.name}/training.json"]}

    return [ImageModel(f"gan/{arch}", "GAN", lambda n, seed, a=arch: api.generate(n, seed=seed, arch=a, output_type="np"),
                       lambda a=arch: record(a), how="z ~ N(0, I) -> generator, one pass")
            for arch in api.ARCHS]
