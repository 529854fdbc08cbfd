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
    guided = any("guidance" in r for r in rows)
    lines = ["| sampler | steps | " + ("guidance | " if guided else "") + "n | FD | real floor FD (same n) "
             "| KID x 1000 | precision | recall | s / 16 images |",
             "|---|---|" + ("---|" if guided else "") + "---|---|---|---|---|---|---|"]
    for r in rows:
        floor = floors.get(str(r["n"]), {})
        lines.append(f"| {r['sampler']}{' eta ' + format(r['eta'], 'g') if r.get('eta') else ''} | {r['steps']} "
                     + (f"| {r['guidance']:g} " if guided else "")
                     + f"| {r['n']} | {_fmt(r['fd'])} | {_fmt(floor.get('fd'))} | {_fmt(1000 * r['kid'])} "
                     f"| {_fmt(r['precision'], 3)} | {_fmt(r['recall'], 3)} | {_fmt(r.get('seconds_per_16'))} |")
    return lines


def guidance_table(curve: dict) -> list[str]:
    from .conditional import FASHION_MNIST_CLASSES

    lines = ["| guidance | FD | precision | recall | class accuracy | " + " | ".join(FASHION_MNIST_CLASSES) + " |",
             "|---|---|---|---|---|" + "---|" * len(FASHION_MNIST_CLASSES)]
    for p in curve["points"]:
        best = " (default)" if p["guidance"] == curve["best"] else ""
        best += f" (>= {curve['accuracy_bar']:.0%} class accuracy)" if p["guidance"] == curve.get("faithful") else ""
        lines.append(f"| {p['guidance']:g}{best} | {p['fd']:.2f} | {p['precision']:.3f} | {p['recall']:.3f} "
                     f"| {p['accuracy']:.3f} | " + " | ".join(f"{a:.2f}" for a in p["class_accuracy"]) + " |")
    return lines


def plot_guidance(curve: dict, path: Path) -> Path:
    """FD and class accuracy against the guidance scale, as a small PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = [p["guidance"] for p in curve["points"]]
    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    ax.plot(g, [p["fd"] for p in curve["points"]], "o-", color="tab:blue")
    ax.set_xlabel("guidance scale")
    ax.set_ylabel(f"FD ({curve['n']:,} samples)", color="tab:blue")
    right = ax.twinx()
    right.plot(g, [100 * p["accuracy"] for p in curve["points"]], "s--", color="tab:red")
    right.set_ylabel("class accuracy (%)", color="tab:red")
    ax.axvline(curve["best"], color="grey", lw=0.8)
    ax.set_title(f"{curve['sampler']}, {curve['steps']} steps, class given")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def render(folder: Path) -> str:
    folder = Path(folder)
    training = read_json(folder / "training.json")
    metrics = read_json(folder / "metrics.json")
    schedules = read_json(folder / "schedules.json")
    recipes = read_json(folder / "recipes.json")
    index = read_json(folder / "model_index.json")
    config = training.get("config", {})
    schedule = config.get("schedule", "?")
    unet = read_json(folder / "unet" / "config.json")
    conditional = bool(unet.get("num_class_embeds"))
    v = read_json(folder / "scheduler" / "scheduler_config.json").get("prediction_type") == "v_prediction"
    if conditional:
        title = f"Class-conditional DDPM on Fashion-MNIST with classifier-free guidance ({recipe_name(config)})"
        loading = ("A diffusers pipeline folder of our class `ClassConditionalDDPMPipeline` "
                   "(`playground/ddpm/conditional.py`, copied here as `pipeline.py`): with this project installed, "
                   "`ClassConditionalDDPMPipeline.from_pretrained(folder)`; with diffusers alone, "
                   "`DiffusionPipeline.from_pretrained(folder, custom_pipeline=folder, trust_remote_code=True)` "
                   "(the folder's `pipeline.py` is the code that runs). Then "
                   "`pipe(class_labels=[\"Trouser\"] * 8, guidance_scale=None, num_inference_steps=50)`; "
                   f"`guidance_scale=None` is the measured default, {index.get('guidance_scale', 1.0):g}.")
    else:
        title = f"DDPM on Fashion-MNIST ({schedule} schedule)"
        loading = "A diffusers pipeline folder: `DDPMPipeline.from_pretrained` loads it as it is."
    lines = [
        *hub_metadata("diffusers", ["ddpm", "diffusion", "fashion-mnist"]
                      + (["classifier-free-guidance"] if conditional else []), datasets=[FASHION_MNIST],
                      pipeline_tag="unconditional-image-generation"),
        "",
        f"# {title}",
        "",
        "A denoising diffusion model (Ho et al. 2020; the write-up \"DDPM = autoregressive VAE\", "
        "kexue.fm 9152) trained on the 60,000 Fashion-MNIST training images, 28x28 greyscale, "
        f"on a 2-core CPU. {loading}",
        "",
        "![Samples](samples.png)" + (" (the classes in turn, T-shirt/top to Ankle boot, guidance 1)" if conditional else ""),
        "",
        "## Model",
        "",
        f"- `UNet2DModel`, {training.get('parameters', 0) / 1e6:.2f} M parameters, at 28x28 (no padding): "
        f"levels of {unet.get('block_out_channels')} channels at 28, 14 and 7 pixels, "
        f"{unet.get('layers_per_block')} residual block(s) per level, GroupNorm, self-attention only at 7x7; "
        + ("it predicts v = sqrt(abar) eps - sqrt(1 - abar) x0 (v-prediction)." if v else "it predicts the noise eps."),
        f"- Noise schedule: {SCHEDULE_TEXT.get(schedule, schedule)}.",
    ]
    if conditional:
        lines.append(f"- Class-conditional: a learned embedding of the label (10 classes and a null class, index "
                     f"{unet['num_class_embeds'] - 1}) added to the time embedding; in training the label was the "
                     f"null class for {config.get('cond_drop', 0):.0%} of examples, so one network gives both the "
                     "conditional and the unconditional prediction, and classifier-free guidance (Ho & Salimans "
                     "2022) mixes them: uncond + w (cond - uncond), both halves from one batched U-Net call.")
    if config.get("snr_gamma"):
        lines.append(f"- Loss: min-SNR-{config['snr_gamma']:g} weighting (Hang et al. 2023, "
                     "`diffusers.training_utils.compute_snr`).")
    lines += [
        "- Sampled by our own loop (`playground/ddpm/pipeline.py`) with diffusers' `DDPMScheduler` (ancestral), "
        "`DDIMScheduler`, `DPMSolverMultistepScheduler` (DPM-Solver++ 2M, and its stochastic "
        "`sde-dpmsolver++` form) and `UniPCMultistepScheduler` (order 3) swapped over the same U-Net.",
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
        ]
        if config.get("init_from"):
            lines.append(f"- Started from the weights of `{config['init_from']}` (a new class embedding at zero).")
        lines.append(f"- Time: {training['wall_minutes']:.1f} wall minutes, {training['cpu_minutes']:.1f} CPU minutes, "
                     f"{training['threads']} torch thread(s) per process, {training['processes']} process(es).")
        if training.get("command"):
            lines.append(f"- Command: `{training['command']}`")
        for note in training.get("notes", []):
            lines.append(f"- {note}")
    for study, name in ((schedules, "Noise schedules compared"), (recipes, "Training recipes compared")):
        if not study:
            continue
        key = study.get("key", "schedule")
        lines += ["", f"## {name}", "", study.get("text", ""), "",
                  f"| {key} | steps | sampler | n | FD | precision | recall |", "|---|---|---|---|---|---|---|"]
        for r in study.get("rows", []):
            lines.append(f"| {r[key]} | {r['train_steps']} | {r['sampler']} {r['steps']}"
                         + (f", guidance {r['guidance']:g}" if "guidance" in r else "")
                         + f" | {r['n']} | {r['fd']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} |")
        if study.get("verdict"):
            lines += ["", study["verdict"]]
        for note in study.get("notes", []):
            lines += ["", note]
    lines += ["", "## Evaluation", ""]
    if metrics:
        lines += [f"Measured with `{metrics.get('command', 'python -m playground eval ddpm --write-card')}`: samples "
                  "against the 10,000 Fashion-MNIST test images in the 128-d feature space of the shipped classifier "
                  "(`checkpoints/fmnist-classifier`): FD (FID's formula in that space), KID, k-NN precision/recall "
                  "(k = 3). The real floor scores the same number of training images."
                  + (" Classes drawn per image." if conditional else ""), ""]
        lines += metrics_table(metrics.get("rows", []), metrics.get("real_floor", {}))
        curve = metrics.get("guidance")
        if curve:
            lines += ["", "### Guidance", "",
                      f"{curve['n']:,} samples per scale, a tenth asked for each class ({curve['sampler']}, "
                      f"{curve['steps']} steps); class accuracy: the share the metric classifier puts in the class "
                      "asked for (it puts 92% of the real test images in theirs). The default scale is the one "
                      "with the lowest FD (the optimum of FID-against-guidance curves); "
                      + (f"the class asked for shows in at least {curve['accuracy_bar']:.0%} of samples from scale "
                         f"{curve['faithful']:g} up, at a cost in FD and recall (pass `guidance={curve['faithful']:g}` "
                         "when the class matters more than variety)."
                         if curve.get("faithful") is not None else
                         f"no scale measured reaches {curve['accuracy_bar']:.0%} class accuracy."), "",
                      "![FD and class accuracy against guidance](guidance.png)", ""]
            lines += guidance_table(curve)
        for note in metrics.get("notes", []):
            lines += ["", note]
    else:
        lines.append("Not measured yet: run `python -m playground eval ddpm --write-card`.")
    lines += ["", "## Training curve", "", "`loss.csv`: step, mean loss over the last 50 steps, learning rate, "
              "EMA decay, minutes.", ""]
    return "\n".join(lines)


def write_card(folder: Path) -> Path:
    curve = read_json(Path(folder) / "metrics.json").get("guidance")
    if curve:
        plot_guidance(curve, Path(folder) / "guidance.png")
    path = Path(folder) / "README.md"
    path.write_text(render(folder))
    return path



RECIPE_KEYS = ("schedule", "prediction", "snr_gamma", "classes", "init_from", "size")


def recipe_name(config: dict) -> str:
    """A training recipe in a few words: "eps", "v + min-SNR 5"..."""
    name = "v" if config.get("prediction") == "v_prediction" else "eps"
    return name + (f" + min-SNR {config['snr_gamma']:g}" if config.get("snr_gamma") else "")


def schedule_comparison(results: list[dict], floors: dict, command: str, key: str = "schedule") -> dict:
    """The noise schedules (``key="schedule"``) or training recipes (``key="recipe"``) compared at
    equal training steps: a table and a verdict computed from the first row (sampler, steps)
    every result shares."""
    rows = []
    for r in results:
        for row in r["rows"]:
            rows.append({key: r[key], "train_steps": r["train_steps"], "cpu_minutes": r["cpu_minutes"],
                         **{k: row[k] for k in ("sampler", "steps", "n", "fd", "kid", "precision", "recall")},
                         **({"guidance": row["guidance"]} if "guidance" in row else {})})
    first = results[0]["rows"][0]
    head_key = (first["sampler"], first["steps"], first["n"])
    head = sorted((row for row in rows if (row["sampler"], row["steps"], row["n"]) == head_key),
                  key=lambda row: row["fd"])
    best, rest = head[0], head[1:]
    what = "schedule" if key == "schedule" else "recipe"
    verdict = (f"At {best['train_steps']:,} training steps, with {head_key[0]} at {head_key[1]} steps on "
               f"{head_key[2]:,} samples, the `{best[key]}` {what} scores FD {best['fd']:.2f}"
               + "".join(f"; `{r[key]}` {r['fd']:.2f} ({r['fd'] / best['fd']:.2f}x)" for r in rest)
               + f". Best: `{best[key]}`.")
    text = (f"Each {what} trained with the same network, data order, optimiser and seed for "
            f"{best['train_steps']:,} steps (measured by `{command}`; real floor FD at {head_key[2]:,} samples: "
            f"{floors.get(str(head_key[2]), {}).get('fd', float('nan')):.2f}).")
    return {"command": command, "best": best[key], "rows": rows, "real_floor": floors, "text": text,
            "verdict": verdict, "key": key}
