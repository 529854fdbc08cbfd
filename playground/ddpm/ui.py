"""The DDPM tab: widgets wired to ``playground.ddpm.frames`` (streamed live), ``generate``
and ``interpolate``, plus the model card."""

from __future__ import annotations

import json
import random
import uuid
import warnings
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image

from ..checkpoints import read_json
from ..checks import MAX_SEED, check_choice, check_int, short_repr
from ..images import grid, open_image, save_gif, tag
from ..uikit import (DEVICE_EVENT, SelectEvent, card_markdown, first_result, image_files, is_app_file, read_log,
                     scratch_dir, shared_doc, ui_errors)
from . import api

UI_MAX_N = 256  # quick batch (no preview)
GRID_SAMPLERS = ("ddpm", "ddim", "dpm++", "sde-dpm++", "unipc")  # the sampler grid's rows
GRID_STEPS = (5, 10, 25, 50)  # and its columns
MODEL_CHOICES = [("class-conditional, classifier-free guidance (ddpm-fashion-cfg)", api.CONDITIONAL),
                 ("the write-up's, unconditional (ddpm-fashion)", api.SHIPPED)]
LABEL_CHOICES = [("any (a class per image)", "any")] + [(name, name) for name in api.CLASSES]
MAX_SAVED_FRAMES = 100  # frames kept for scrubbing and the GIF
PRESET_CHOICES = [("fast: DPM-Solver++, 10 steps", "fast"), ("balanced: DPM-Solver++, 25 steps", "balanced"),
                  ("faithful: ancestral DDPM, 1000 steps (the write-up's loop)", "faithful")]


def _grid(images: np.ndarray, scale: int = 3) -> Image.Image:
    """A square-ish grid of uint8 images, upscaled (nearest) so the panel shows pixels."""
    n = len(images)
    g = grid(images, nrow=max(1, int(np.ceil(np.sqrt(n)))), padding=2, pad_value=0) if images.ndim == 3 else \
        Image.fromarray(np.concatenate(list(images), axis=1))
    return g.resize((g.width * scale, g.height * scale), Image.NEAREST)


def _upload_path(value, name: str) -> str:
    """A Gradio file payload (a dict whose ``path`` Gradio checked: uploaded, or an output of
    this app) -> its path. Bare strings are refused: a client must upload with handle_file."""
    if isinstance(value, dict) and isinstance(value.get("path"), str):
        return value["path"]
    if value is None:
        raise ValueError(f"{name}: pick a sample (click it, then 'use as {name[-1]}') or upload an image")
    raise ValueError(f"{name} must be an image file (from gradio_client: handle_file(path)), not {type(value).__name__}")


def _upload_image(value, name: str) -> Image.Image:
    """The image of a Gradio file payload (see ``_upload_path``), opened here so that a file that
    is not an image is named by its input, not by its path in Gradio's cache."""
    path = _upload_path(value, name)
    try:
        return open_image(path)
    except ValueError:
        raise ValueError(f"{name}: {short_repr(Path(path).name)} is not a readable image file; upload an image "
                         "(PNG, JPEG, GIF, WebP...)") from None


@ui_errors
def ddpm_preset(preset: str):
    """The sampler and step count of a preset (the Preset choice fills the Sampler and Steps boxes).

    Args:
        preset: "fast" (dpm++, 10 steps), "balanced" (dpm++, 25 steps; the default) or "faithful" (ddpm, 1000 steps).

    Returns:
        the sampler: "dpm++" or "ddpm"
        the number of steps: 10, 25 or 1000
    """
    sampler, steps = api.PRESETS[check_choice("preset", preset, api.PRESETS)]
    return sampler, steps


# The arguments ddpm_generate and ddpm_frames share (their docstrings, via ``shared_doc``).
SAMPLER_ARGS = """
sampler: "ddpm" (ancestral, the write-up's loop), "ddim", "dpm++" (DPM-Solver++; the default), "sde-dpm++" (its stochastic form) or "unipc" (UniPC, order 3, for 5-10 steps).
steps: denoising steps, an integer from 1 to 1000 (the schedule's T); default 25.
eta: DDIM's stochasticity, a number from 0 (deterministic; the default) to 1; the other samplers ignore it.
seed: an integer from 0 to 4294967295 (2**32 - 1); None draws a random one. Default 0.
"""
CONDITION_ARGS = """
model: "ddpm-fashion-cfg" (class-conditional, classifier-free guidance) or "ddpm-fashion" (the write-up's unconditional model); None: the default model.
label: the class to draw, a Fashion-MNIST class name ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot") or its index 0-9, or "any" (or None): a class drawn per image. The class-conditional model only.
guidance: the classifier-free guidance scale, a number from 0 (the unconditional prediction) through 1 (the conditional one) to 20; None: the model's measured best. Ignored by the unconditional model.
"""


def _condition(model, label, guidance) -> tuple[str, str | int | None, float | None]:
    """The widgets' (model, label, guidance) -> the API's: "any" is None; the unconditional model
    takes no guidance (its slider is disabled) and no class."""
    model = check_choice("model", api.DEFAULT_MODEL if model is None else model, api.MODELS)
    if isinstance(label, str) and label.strip().lower() == "any":
        label = None
    if not api.is_conditional(api.load_unet(model)):
        if label is not None:
            raise ValueError(f"model {model} is unconditional: pick the class-conditional model "
                             f"({api.CONDITIONAL}) to choose a class, or label 'any'")
        guidance = None
    return model, label, guidance


@ui_errors
@shared_doc(SAMPLER_ARGS + CONDITION_ARGS)
def ddpm_generate(sampler: str, steps: float, eta: float, seed: float, n: float, model: str | None = None,
                  label: str | None = None, guidance: float | None = None):
    """``n`` samples (up to 256 here; 10,000 through the Python API), no preview: 28x28 greyscale
    Fashion-MNIST images from a shipped DDPM. The same arguments always give the same images.
    A public server may refuse a request over its work budget (see the System panel).

    Args:
        n: the number of images, an integer from 1 to 256 (default 16).

    Returns:
        the samples as PNG files (a gallery), each recording its model, sampler, steps, eta, seed, index and class
        (captioned with its class by the class-conditional model)
    """
    if check_int("n", n, 1, api.MAX_N) > UI_MAX_N:
        raise ValueError(f"n must be at most {UI_MAX_N} in the app (the Python API takes up to {api.MAX_N})")
    model, label, guidance = _condition(model, label, guidance)
    images = api.generate(n=n, steps=steps, sampler=sampler, eta=eta, seed=seed, model=model, label=label,
                          guidance=guidance)
    p = json.loads(images[0].info["parameters"])
    paths = image_files(images, f"{model}-{p['sampler'].replace('+', 'p')}-{p['steps']}-seed{p['seed']}")
    if "label" not in p:
        return paths
    return [(path, json.loads(im.info["parameters"])["label"]) for path, im in zip(paths, images)]


@ui_errors
@shared_doc(SAMPLER_ARGS + CONDITION_ARGS)
def ddpm_frames(sampler: str, steps: float, eta: float, seed: float, n: float, model: str | None = None,
                label: str | None = None, guidance: float | None = None, progress=gr.Progress()):
    """Stream the denoising: after each step the noisy images x_t and the model's estimate of
    the clean images, side by side; at the end the samples, the scrubbable frames and a GIF.
    Long runs stream about 100 of their steps. The last x_t equals ddpm_generate's images for the same arguments.
    A public server may refuse a request over its work budget (see the System panel).

    Args:
        n: the number of images, an integer from 1 to 64 (default 16).

    Returns:
        the grid of the noisy images x_t (PNG), updated at each streamed step
        the grid of the model's estimates of the clean images x0 (PNG), likewise
        at the end only: the samples as PNG files (a gallery), the denoising GIF (a file) and the scrub slider
    """
    model, label, guidance = _condition(model, label, guidance)
    stream = api.frames(n=n, steps=steps, sampler=sampler, eta=eta, seed=seed, output_type="np", model=model,
                        label=label, guidance=guidance)
    saved, xt, x0, total, info = [], None, None, 1, {}
    keep_every = 1
    for frame in stream:
        total = frame["steps"]
        keep_every = max(1, -(-total // MAX_SAVED_FRAMES))
        xt, x0 = frame["x_t"], frame["x0"]
        info = {"step": frame["step"], "steps": total, "t": frame["t"], "seed": frame["seed"], "model": model}
        if frame["step"] % keep_every == 0 or frame["step"] == total:
            saved.append((info, xt, x0))
        progress((frame["step"], total), desc=f"step {frame['step']}/{total}, t = {frame['t']}")
        # stream a frame every step while cheap, fewer for the 1000-step loop
        if frame["step"] % keep_every == 0 or frame["step"] == total:
            yield (_tagged_grid(xt, info, "x_t"), _tagged_grid(x0, info, "x0"), gr.skip(), gr.skip(), gr.skip(),
                   gr.skip())
    labels = frame["labels"]
    samples = [(tag(Image.fromarray(a), {"model": f"ddpm/{model}", "sampler": sampler, "steps": total, "eta": eta,
                                         "seed": info["seed"], "index": i,
                                         **({"label": labels[i], "guidance": guidance} if labels else {})}),
                labels[i] if labels else None) for i, a in enumerate(xt)]
    gif = scratch_dir() / f"ddpm-{info['seed']}-{uuid.uuid4().hex[:8]}.gif"
    frames_for_gif = [Image.fromarray(np.concatenate([np.asarray(_grid(a, 2)), np.asarray(_grid(b, 2))], axis=1))
                      for _, a, b in saved]
    save_gif(frames_for_gif, gif, scale=1, frame_ms=80, comment=str(info))
    scrub = gr.Slider(1, max(2, len(saved)), value=len(saved), step=1, interactive=True,  # Gradio needs min < max
                      label=f"Scrub the saved steps ({len(saved)} of {total})")
    yield (_tagged_grid(xt, info, "x_t"), _tagged_grid(x0, info, "x0"), samples, str(gif), scrub,
           [(s, a, b) for s, a, b in saved])


def _tagged_grid(images: np.ndarray, info: dict, what: str) -> Image.Image:
    return tag(_grid(images), {"image": what, **info, "model": f"ddpm/{info.get('model', api.SHIPPED)}"})


@ui_errors
@shared_doc(CONDITION_ARGS)
def ddpm_sampler_grid(seed: float, model: str | None = None, label: str | None = None,
                      guidance: float | None = None):
    """One seed across the samplers and step counts: the same starting noise (and class) denoised by
    ddpm, ddim, dpm++, sde-dpm++ and unipc in 5, 10, 25 and 50 steps, one image each.
    A public server may refuse a request over its work budget (see the System panel).

    Args:
        seed: an integer from 0 to 4294967295 (2**32 - 1); None draws a random one. Default 0.

    Returns:
        the 20 images as PNG files (a gallery, a row per sampler), each captioned with its sampler and steps
    """
    model, label, guidance = _condition(model, label, guidance)
    cells = api.sampler_grid(seed=seed, samplers=GRID_SAMPLERS, steps=GRID_STEPS, model=model, label=label,
                             guidance=guidance)
    paths = image_files([c["image"] for c in cells], f"{model}-grid")
    return [(path, f"{c['sampler']}, {c['steps']} steps" + (f" ({c['label']})" if c.get("label") else ""))
            for path, c in zip(paths, cells)]


@ui_errors
def ddpm_model_changed(model: str):
    """The class and guidance widgets for a model: enabled, with its measured best scale, for a
    class-conditional model; disabled for an unconditional one.

    Args:
        model: "ddpm-fashion-cfg" or "ddpm-fashion".

    Returns:
        the class picker (its interactivity)
        the guidance slider (its value and interactivity)
    """
    unet = api.load_unet(check_choice("model", model, api.MODELS))
    if not api.is_conditional(unet):
        return gr.update(interactive=False, value="any"), gr.update(interactive=False)
    return gr.update(interactive=True), gr.update(interactive=True, value=unet.default_guidance)


@ui_errors
def ddpm_scrub(index: float, saved: list):
    """The x_t and x0 panels of one saved step (1 to the number saved)."""
    if not saved:
        return gr.skip(), gr.skip()
    info, xt, x0 = saved[check_int("step", index, 1, len(saved)) - 1]
    return _tagged_grid(xt, info, "x_t"), _tagged_grid(x0, info, "x0")


@ui_errors
def ddpm_interpolate(image_a, image_b, t0: float, steps: float, points: float, seed: float):
    """Noise both images to t0, mix them in ``points`` proportions, denoise each; and a GIF.
    Both get the same noise; denoising is DDIM (eta 0) by the write-up's model (ddpm-fashion). Images become
    28x28 greyscale, light on black. Each image must be a file uploaded to this app (gradio_client: handle_file(path); MCP: a ``data:`` base64
    URL); http(s) URLs are not fetched. A public server may refuse a request over its work budget (see the
    System panel).

    Args:
        image_a: image A (PNG, JPEG, GIF, WebP...), uploaded to this app; required.
        image_b: image B (PNG, JPEG, GIF, WebP...), uploaded to this app; required.
        t0: how far to noise, a timestep from 1 to 999 of T = 1000 (default 500, the write-up's T/2).
        steps: DDIM steps over the whole schedule (those at or below t0 run), an integer from 1 to 1000; default 25.
        points: the number of mixes, both ends included: an integer from 2 to 32 (default 8).
        seed: the noise's seed, an integer from 0 to 4294967295 (2**32 - 1); None draws a random one. Default 0.

    Returns:
        the mixes from A to B as PNG files (a gallery)
        the looping GIF of the mixes (a file)
    """
    a, b = _upload_image(image_a, "image A"), _upload_image(image_b, "image B")
    mixes = api.interpolate(a, b, t0=t0, steps=steps, points=points, seed=seed)
    paths = image_files(mixes, "ddpm-mix")
    gif = Path(paths[0]).with_name("ddpm-mix.gif")
    save_gif(mixes, gif, scale=4, frame_ms=150)
    return paths, str(gif)


@ui_errors
def ddpm_pick(target: str, evt: SelectEvent):
    """A clicked sample goes to image A or B. Only a file of this app's (a sample it made, an
    upload) is handed back: the event data comes from the client, and may name any path or URL."""
    target = check_choice("target", target, ("A", "B"))
    image = evt.value.get("image") if isinstance(evt.value, dict) else None
    path = image.get("path") if isinstance(image, dict) else None
    if path is None:  # nothing (a click between samples, a request without event data)
        return gr.skip(), gr.skip()
    if not is_app_file(path):
        raise ValueError(f"the selected sample must be one of this app's images, not {short_repr(path)}")
    return (path, gr.skip()) if target == "A" else (gr.skip(), path)


def ddpm_random_seed() -> int:
    """A random seed for the Seed box (no arguments).

    Returns:
        an integer from 0 to 4294967295 (2**32 - 1)
    """
    return random.randint(0, MAX_SEED)


def first_samples() -> list[str]:
    """The tab's first result: 16 samples, dpm++ 25 steps, seed 0 (the defaults)."""
    return image_files(api.generate(16, steps=25, sampler="dpm++", seed=0), "ddpm-dpmpp-25-seed0", keep=True)


def loss_frame(path: Path) -> pd.DataFrame:
    rows = read_log(path, lambda r: [{"step": int(r["step"]), "loss": float(r["loss"])}])
    return pd.DataFrame(rows, columns=["step", "loss"])


def sampler_table(model: str | None = None) -> pd.DataFrame:
    """The sampler x steps table of a shipped model's ``metrics.json`` (empty if unmeasured)."""
    try:
        m = read_json(api.model_dir(model) / "metrics.json")
        floors = m.get("real_floor", {})
        rows = [{"sampler": r["sampler"], "steps": r["steps"], "n": r["n"], "FD": r["fd"],
                 "real floor FD": floors.get(str(r["n"]), {}).get("fd"), "KID x 1000": round(1000 * r["kid"], 2),
                 "precision": r["precision"], "recall": r["recall"], "s / 16 images": r.get("seconds_per_16"),
                 **({"guidance": r["guidance"]} if "guidance" in r else {})}
                for r in m.get("rows", [])]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        print(f"DDPM tab: no metrics ({type(e).__name__}: {e})")
        rows = []
    return pd.DataFrame(rows)


def model_card(model: str | None = None) -> tuple[str, pd.DataFrame]:
    try:
        folder = api.model_dir(model)
    except ValueError as e:
        return f"No model card: {e}", loss_frame(Path("/nonexistent"))
    return card_markdown(folder), loss_frame(folder / "loss.csv")


def build():
    """The tab's widgets and events; returns its first result's loader and output for ``demo.load``."""
    try:  # warm the default model; a corrupt or unreachable one leaves the app up, its calls then say why
        default = api.load_unet(api.DEFAULT_MODEL)
        conditional, default_guidance = api.is_conditional(default), default.default_guidance
    except ValueError as e:
        warnings.warn(f"DDPM tab: {e}")
        conditional, default_guidance = api.DEFAULT_MODEL == api.CONDITIONAL, 1.0
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            model = gr.Dropdown(MODEL_CHOICES, value=api.DEFAULT_MODEL, label="Model", elem_id="ddpm-model")
            with gr.Row():
                label = gr.Dropdown(LABEL_CHOICES, value="any", label="Class", elem_id="ddpm-label",
                                    interactive=conditional)
                guidance = gr.Slider(0, 10, value=default_guidance if conditional else 1.0, step=0.25,
                                     label="Guidance (0 unconditional, 1 conditional, >1 guided)",
                                     elem_id="ddpm-guidance", interactive=conditional)
            preset = gr.Radio(PRESET_CHOICES, value="balanced", label="Preset", elem_id="ddpm-preset")
            with gr.Row():
                sampler = gr.Dropdown(list(api.SAMPLERS), value="dpm++", label="Sampler", elem_id="ddpm-sampler")
                steps = gr.Slider(1, 1000, value=25, step=1, label="Steps", elem_id="ddpm-steps")
            eta = gr.Slider(0, 1, value=0, step=0.05, label="eta (DDIM only: 0 deterministic, 1 ancestral-like)",
                            elem_id="ddpm-eta")
            with gr.Row():
                seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed", elem_id="ddpm-seed",
                                 scale=3)
                dice = gr.Button("Random", elem_id="ddpm-random-seed", scale=1, min_width=60)
            n = gr.Slider(1, UI_MAX_N, value=16, step=1, label="Number of images (live preview: up to 64)",
                          elem_id="ddpm-n")
            with gr.Row():
                go = gr.Button("Generate", variant="primary", elem_id="ddpm-generate")
                cancel = gr.Button("Cancel", variant="stop", elem_id="ddpm-cancel")
            quick = gr.Button("Quick batch, no preview (up to 256)", size="sm", elem_id="ddpm-quick")
        with gr.Column(scale=3):
            with gr.Row():
                xt = gr.Image(label="x_t: the images being denoised", type="pil", format="png", height=300,
                              elem_id="ddpm-xt", elem_classes="pixelated", buttons=["download"])
                x0 = gr.Image(label="x0: the model's estimate of the clean images", type="pil", format="png",
                              height=300, elem_id="ddpm-x0", elem_classes="pixelated", buttons=["download"])
            with gr.Row():
                scrub = gr.Slider(1, 2, value=1, step=1, label="Scrub the saved steps (after a run)",
                                  interactive=False, elem_id="ddpm-scrub", scale=3)
                gif = gr.File(label="Denoising GIF", elem_id="ddpm-gif", scale=1)
            gallery = gr.Gallery(label="Samples (click one to use it for interpolation)",
                                 columns=8, height="auto", format="png", object_fit="contain",
                                 buttons=["download", "download_all", "fullscreen"], elem_id="ddpm-gallery",
                                 elem_classes="pixelated")
    saved = gr.State([])
    with gr.Accordion("Interpolation (the write-up's model): noise two images to t0, mix, denoise", open=False):
        with gr.Row():
            target = gr.Radio(["A", "B"], value="A", label="A clicked sample becomes image", scale=1)
            image_a = gr.Image(label="Image A", type="filepath", height=140, elem_id="ddpm-image-a",
                               elem_classes="pixelated", scale=1)
            image_b = gr.Image(label="Image B", type="filepath", height=140, elem_id="ddpm-image-b",
                               elem_classes="pixelated", scale=1)
            with gr.Column(scale=2):
                t0 = gr.Slider(1, 999, value=500, step=1, label="t0 (how far to noise; the write-up: T/2)")
                mix_steps = gr.Slider(2, 200, value=25, step=1, label="DDIM steps over the whole schedule")
                points = gr.Slider(2, 32, value=8, step=1, label="Mixes (both ends included)")
                mix_seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Noise seed")
                mix_go = gr.Button("Interpolate", elem_id="ddpm-interpolate")
        with gr.Row():
            strip = gr.Gallery(label="A → B", columns=8, rows=1, height="auto", format="png", object_fit="contain",
                               elem_id="ddpm-strip", elem_classes="pixelated", scale=3)
            mix_gif = gr.Image(label="Animation (GIF)", type="filepath", format="gif", elem_id="ddpm-mix-gif",
                               buttons=["download"], elem_classes="pixelated", scale=1)
    with gr.Accordion("One seed across samplers and step counts", open=False):
        gr.Markdown("The same starting noise (and class), denoised by each sampler in 5, 10, 25 and 50 steps: "
                    "a row per sampler. Uses the model, class, guidance and seed above.")
        grid_go = gr.Button("Draw the grid", elem_id="ddpm-grid-go")
        grid_out = gr.Gallery(label="Samplers (rows) x steps (columns)", columns=len(GRID_STEPS), height="auto",
                              format="png", object_fit="contain", elem_id="ddpm-grid", elem_classes="pixelated")
    for name, shipped in MODEL_CHOICES:
        with gr.Accordion(f"Samplers compared and the model card: {name}", open=False):
            gr.Markdown("`python -m playground eval ddpm --write-card`: samples against the 10,000 test images in "
                        "the metric classifier's feature space, each FD beside the real floor at the same n.")
            suffix = "" if shipped == api.SHIPPED else "-cfg"  # the write-up's model keeps its element ids
            gr.Dataframe(sampler_table(shipped), interactive=False, elem_id=f"ddpm-metrics{suffix}")
            card, loss = model_card(shipped)
            gr.Markdown(card, elem_id=f"ddpm-card{suffix}")
            gr.LinePlot(loss, x="step", y="loss", title="Training loss (mean over 50 steps)", height=260)

    preset.change(ddpm_preset, preset, [sampler, steps], api_name="ddpm_preset", preprocess=False)
    condition = [model, label, guidance]
    model.change(ddpm_model_changed, model, [label, guidance], api_name="ddpm_model_changed", preprocess=False)
    run = go.click(ddpm_frames, [sampler, steps, eta, seed, n, *condition], [xt, x0, gallery, gif, scrub, saved],
                   api_name="ddpm_frames", preprocess=False, **DEVICE_EVENT)
    cancel.click(None, None, None, cancels=[run], api_visibility="private")
    quick.click(ddpm_generate, [sampler, steps, eta, seed, n, *condition], gallery, api_name="ddpm_generate",
                preprocess=False, **DEVICE_EVENT)
    grid_go.click(ddpm_sampler_grid, [seed, *condition], grid_out, api_name="ddpm_sampler_grid", preprocess=False,
                  **DEVICE_EVENT)
    scrub.release(ddpm_scrub, [scrub, saved], [xt, x0], api_visibility="private", preprocess=False)
    mix_go.click(ddpm_interpolate, [image_a, image_b, t0, mix_steps, points, mix_seed], [strip, mix_gif],
                 api_name="ddpm_interpolate", preprocess=False, **DEVICE_EVENT)
    gallery.select(ddpm_pick, target, [image_a, image_b], api_visibility="private", preprocess=False)
    dice.click(ddpm_random_seed, None, seed, api_name="ddpm_random_seed")
    return first_result(first_samples, "DDPM"), gallery
