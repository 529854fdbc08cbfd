"""The Compare tab's entries for the registry (``playground.tabs``): main endpoint, bench, work costs.

It trains and evaluates nothing: it shows the other tabs' models (``tabs.image_models``) and their records."""

from __future__ import annotations

from ..limits import Cost, units

MAIN = ("compare_generate", (0, 8), None)  # api_name, the UI's default inputs; images: count x the models shipped

COST = Cost(
    # one sample from every shipped model: the diffusion model's 25 U-Net calls dominate (bench --costs)
    unit="samples from every image model", seconds_per_unit=0.2,
    endpoints={
        "compare_generate": ("count", lambda seed, count: units(count)),
        # one image against the 60,000 training images (and, once, 1,000 test images for the yardstick)
        "compare_nearest": ("1", lambda image, k=8: 1),
    },
    fewer="fewer samples per model",
    probe=("compare_generate", (0, 8)),
    unlimited="playground.compare.generate(seed=..., count=...) in Python (at most 16 per model)",
)


def bench_cases() -> list:
    from . import api

    sample = api.generate(0, 1, slow=False)[0]["images"][0]
    return [("compare generate 8 per model (all models)", lambda: api.generate(0, 8)),
            ("compare generate 8 per model (all but diffusion)", lambda: api.generate(0, 8, slow=False)),
            ("compare table + coverage (records)", lambda: (api.table(), api.coverage())),
            ("compare nearest 8 training images", lambda: api.nearest(sample, 8))]
