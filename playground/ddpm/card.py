"""The model card (README.md) of a DDPM pipeline folder, written from measured records only:
``training.json`` (the export), ``metrics.json`` (``python -m playground eval ddpm --write-card``)
and ``schedules.json`` (the schedule comparison), whichever exist."""

from __future__ import annotations

from pathlib import Path

from ..checkpoints import FASHION_MNIST, hub_metadata, read_json

SCHEDULE_TEXT = {
    "su": "the write-up's: beta_t = 0.02 t / T, linear from 2e-5 to 0.02, T = 1000",
    "linear": "the DDPM paper's: linear from 1e-4 to 0.02, T = 1000",
    "cosine": "Nichol & Dhariwal's cosine (`squaredcos_cap_v2`), T = 1000",
}


def _fmt(x, digits=2) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def metrics_table(rows: list[dict], floors: dict) -> list[str]:
    lines = ["| sampler | steps | n | FD | real floor FD (same n) | KID x 1000 | precision | recall | s / 16 images |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        floor = floors.get(str(r["n"]), {})
        lines.append(f"| {r['sampler']}{' eta ' + format(r['eta'], 'g') if r.get('eta') else ''} | {r['steps']} "
                     f"| {r['n']} | {_fmt(r['fd'])} | {_fmt(floor.get('fd'))} | {_fmt(1000 * r['kid'])} "
                     f"| {_fmt(r['precision'], 3)} | {_fmt(r['recall'], 3)} | {_fmt(r.get('seconds_per_16'))} |")
    return lines


def render(folder: Path) -> str:
    folder = Path(folder)
    training = read_json(folder / "training.json")
    metrics = read_json(folder / "metrics.json")
    schedules = read_json(folder / "schedules.json")
    config = training.get("config", {})
    schedule = config.get("schedule", "?")
    unet = read_json(folder / "unet" / "config.json")
    lines = [
        *hub_metadata("diffusers", ["ddpm", "diffusion", "fashion-mnist"], datasets=[FASHION_MNIST],
                      pipeline_tag="unconditional-image-generation"),
        "",
        f"# DDPM on Fashion-MNIST ({schedule} schedule)",
        "",
        "A denoising diffusion model (Ho et al. 2020; the write-up \"DDPM = autoregressive VAE\", "
        "kexue.fm 9152) trained on the 60,000 Fashion-MNIST training images, 28x28 greyscale, "
        "on a 2-core CPU. A diffusers pipeline folder: `DDPMPipeline.from_pretrained` loads it as it is.",
        "",
        "![Samples](samples.png)",
        "",
        "## Model",
        "",
        f"- `UNet2DModel`, {training.get('parameters', 0) / 1e6:.2f} M parameters, at 28x28 (no padding): "
        f"levels of {unet.get('block_out_channels')} channels at 28, 14 and 7 pixels, "
        f"{unet.get('layers_per_block')} residual block(s) per level, GroupNorm, self-attention only at 7x7; "
        "it predicts the noise eps.",
        f"- Noise schedule: {SCHEDULE_TEXT.get(schedule, schedule)}.",
        "- Sampled by our own loop (`playground/ddpm/pipeline.py`) with diffusers' `DDPMScheduler` (ancestral), "
        "`DDIMScheduler` and `DPMSolverMultistepScheduler` (DPM-Solver++ 2M) swapped over the same U-Net.",
        "",
        "## Training",
        "",
    ]
    if training:
        lines += [
            f"- {training['step']:,} steps of batch {config.get('batch_size')} (Adam, learning rate {config.get('lr'):g} "
            f"after a {config.get('warmup')}-step warm-up, constant; EMA of the weights with decay warming up to "
            f"{config.get('ema_decay')}; bfloat16 autocast {'on' if config.get('bf16') else 'off'}); "
            "the shipped weights are the EMA.",
            f"- Time: {training['wall_minutes']:.1f} wall minutes, {training['cpu_minutes']:.1f} CPU minutes, "
            f"{training['threads']} torch thread(s) per process, {training['processes']} process(es).",
        ]
        if training.get("command"):
            lines.append(f"- Command: `{training['command']}`")
        for note in training.get("notes", []):
            lines.append(f"- {note}")
    if schedules:
        lines += ["", "## Noise schedules compared", "", schedules.get("text", ""), "",
                  "| schedule | steps | sampler | n | FD | precision | recall |", "|---|---|---|---|---|---|---|"]
        for r in schedules.get("rows", []):
            lines.append(f"| {r['schedule']} | {r['train_steps']} | {r['sampler']} {r['steps']} | {r['n']} "
                         f"| {r['fd']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} |")
        if schedules.get("verdict"):
            lines += ["", schedules["verdict"]]
    lines += ["", "## Evaluation", ""]
    if metrics:
        lines += [f"Measured with `{metrics.get('command', 'python -m playground eval ddpm --write-card')}`: samples "
                  "against the 10,000 Fashion-MNIST test images in the 128-d feature space of the shipped classifier "
                  "(`checkpoints/fmnist-classifier`): FD (FID's formula in that space), KID, k-NN precision/recall "
                  "(k = 3). The real floor scores the same number of training images.", ""]
        lines += metrics_table(metrics.get("rows", []), metrics.get("real_floor", {}))
        for note in metrics.get("notes", []):
            lines += ["", note]
    else:
        lines.append("Not measured yet: run `python -m playground eval ddpm --write-card`.")
    lines += ["", "## Training curve", "", "`loss.csv`: step, mean loss over the last 50 steps, learning rate, "
              "EMA decay, minutes.", ""]
    return "\n".join(lines)


def write_card(folder: Path) -> Path:
    path = Path(folder) / "README.md"
    path.write_text(render(folder))
    return path



def schedule_comparison(results: list[dict], floors: dict, command: str) -> dict:
    """The noise schedules compared at equal training steps: a table and a verdict computed
    from the first row (sampler, steps) every result shares."""
    rows = []
    for r in results:
        for row in r["rows"]:
            rows.append({"schedule": r["schedule"], "train_steps": r["train_steps"], "cpu_minutes": r["cpu_minutes"],
                         **{k: row[k] for k in ("sampler", "steps", "n", "fd", "kid", "precision", "recall")}})
    first = results[0]["rows"][0]
    key = (first["sampler"], first["steps"], first["n"])
    head = sorted((row for row in rows if (row["sampler"], row["steps"], row["n"]) == key), key=lambda row: row["fd"])
    best, rest = head[0], head[1:]
    verdict = (f"At {best['train_steps']:,} training steps, with {key[0]} at {key[1]} steps on {key[2]:,} samples, "
               f"the `{best['schedule']}` schedule scores FD {best['fd']:.2f}"
               + "".join(f"; `{r['schedule']}` {r['fd']:.2f} ({r['fd'] / best['fd']:.2f}x)" for r in rest)
               + f". Best: `{best['schedule']}`.")
    text = (f"Each schedule trained with the same network, data order, optimiser and seed for "
            f"{best['train_steps']:,} steps (measured by `{command}`; real floor FD at {key[2]:,} samples: "
            f"{floors.get(str(key[2]), {}).get('fd', float('nan')):.2f}).")
    return {"command": command, "best": best["schedule"], "rows": rows, "real_floor": floors, "text": text,
            "verdict": verdict}
