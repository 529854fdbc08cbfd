"""The EAE tab: widgets wired to ``playground.eae`` (generate, reconstruct, interpolate,
latent_report), plus the three models' metrics and model cards."""

from __future__ import annotations

import json
import random
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image

from ..checkpoints import read_json
from ..checks import MAX_SEED, check_choice, check_int, short_repr, validate_seed
from ..images import open_image, save_tagged_gif, tag
from ..uikit import (DEVICE_EVENT, LATENT_WALK_ARGS, LATENT_WALK_RETURNS, card_markdown, first_result, image_files,
                     latent_walk_widgets, read_log, shared_doc, ui_errors)
from . import api

UI_MAX_N = 256
UI_MAX_RECON = 64
PRIOR_CHOICES = [("N(0, I): the write-up's", "normal"),
                 ("Gaussian mixture fitted to the training codes (Ghosh et al. 2020)", "gmm")]
PRIOR_ARG = """
prior: where latents come from: "normal" (z ~ N(0, I), the write-up's; the default) or "gmm" (the 10-component Gaussian mixture fitted after training to the model's training codes).
"""
MODEL_CHOICES = [("eae: BatchNorm + maximum entropy (default)", "eae"), ("ae-bn: BatchNorm alone (lambda = 0)", "ae-bn"),
                 ("vae: variational autoencoder", "vae")]


def _shipped(model) -> str:
    """The app serves the shipped models only (the Python API also takes exported folders)."""
    return check_choice("model", model, api.MODELS)


@ui_errors
@shared_doc(PRIOR_ARG)
def eae_generate(model: str, seed: float, n: float, temperature: float, prior: str = "normal"):
    """Generate ``n`` images (up to 256 here; 10,000 through the Python API) at a temperature:
    z from the prior through the decoder, 28x28 greyscale Fashion-MNIST samples.
    A public server may refuse a request over its work budget (see the System panel).

    Args:
        model: "eae" (BatchNorm + maximum entropy; the default), "ae-bn" (BatchNorm alone) or "vae".
        seed: an integer from 0 to 4294967295 (2**32 - 1); None draws a random one. Default 0.
        n: the number of images, an integer from 1 to 256 (default 64).
        temperature: the latent's spread, a number above 0 and at most 10 (default 1; below 1: cleaner): N(0, T² I), or each mixture component's standard deviations times T.

    Returns:
        the images as PNG files (a gallery), each recording its model, prior, seed, temperature and index
    """
    model = _shipped(model)
    if check_int("n", n, 1, api.MAX_N) > UI_MAX_N:
        raise ValueError(f"n must be at most {UI_MAX_N} in the app (the Python API takes up to {api.MAX_N})")
    images = api.generate(n=n, seed=seed, model=model, temperature=temperature, prior=prior)
    return image_files(images, f"eae-{model}-seed{json.loads(images[0].info['parameters'])['seed']}")


def _uploaded_paths(files) -> list[str]:
    """Gradio file payloads (dicts with a checked ``path`` in Gradio's cache) -> paths."""
    if files is None:
        return []
    if isinstance(files, dict):
        files = [files]
    if not isinstance(files, list):
        raise ValueError("uploads must be image files (from gradio_client: handle_file(path)), not "
                         f"{type(files).__name__}")
    paths = []
    for f in files:
        if not isinstance(f, dict) or not isinstance(f.get("path"), str):
            raise ValueError("each upload must be an image file (from gradio_client: handle_file(path))")
        paths.append(f["path"])
    return paths


def _open_upload(path: str) -> Image.Image:
    """An uploaded image, opened here so that a file that is not an image is named by its own
    name, not by its path in Gradio's cache."""
    try:
        return open_image(path)
    except ValueError:
        raise ValueError(f"files: {short_repr(Path(path).name)} is not a readable image file; upload images "
                         "(PNG, JPEG, GIF, WebP...)") from None


def _pair(original: Image.Image, recon: Image.Image, params: dict) -> Image.Image:
    """Original and reconstruction side by side, 2 px apart."""
    pair = Image.new("L", (58, 28), 255)
    pair.paste(original, (0, 0))
    pair.paste(recon, (30, 0))
    return tag(pair, params)


@ui_errors
def eae_reconstruct(model: str, files, count: float, seed: float):
    """Reconstruct uploaded images, or, with no upload, ``count`` random test images picked by ``seed``.
    Images become 28x28 greyscale, light on black. Each file must be uploaded to this app (gradio_client:
    handle_file(path) for each; MCP: a ``data:`` base64 URL each); http(s) URLs are not fetched.
    A public server may refuse a request over its work budget (see the System panel).

    Args:
        model: "eae" (BatchNorm + maximum entropy; the default), "ae-bn" (BatchNorm alone) or "vae".
        files: a list of 1 to 64 image files (PNG, JPEG, GIF, WebP...) uploaded to this app; None or []: test images.
        count: with no upload, how many random Fashion-MNIST test images: an integer from 1 to 64 (default 16).
        seed: with no upload, picks the test images: an integer from 0 to 4294967295; None draws one. Default 0.

    Returns:
        the (original | reconstruction) pairs as images, each captioned with its summed squared error (SSE)
        a Markdown summary: the number of images, their source and the mean SSE (pixels in [0, 1])
    """
    model = _shipped(model)
    paths = _uploaded_paths(files)
    if paths:
        if len(paths) > UI_MAX_RECON:
            raise ValueError(f"at most {UI_MAX_RECON} uploads at a time in the app")
        source, images = "upload", [_open_upload(p) for p in paths]
    else:
        from ..data import load_fashion_mnist

        count = check_int("count", count, 1, UI_MAX_RECON)
        seed = validate_seed(seed)
        test, _ = load_fashion_mnist("test")
        idx = np.random.default_rng(seed).choice(len(test), count, replace=False)
        source, images = f"test images (seed {seed})", np.asarray(test)[idx]
    originals, recons = api.reconstruct(images, model=model, output_type="np")
    errors = ((originals.astype(np.float64) - recons) / 255.0) ** 2
    sse = errors.reshape(len(errors), -1).sum(1)
    pairs = [(_pair(Image.fromarray(o), Image.fromarray(r), {"model": f"eae/{model}", "source": source, "index": i,
                                                              "sse": round(float(e), 3)}), f"SSE {e:.2f}")
             for i, (o, r, e) in enumerate(zip(originals, recons, sse))]
    summary = (f"**{len(pairs)} {source}** through `{model}`: mean summed squared error {sse.mean():.2f} per image "
               f"(pixels in [0, 1]). Left: the input as the model sees it (28x28 greyscale, light on black); "
               "right: the reconstruction.")
    return pairs, summary


@ui_errors
@shared_doc(LATENT_WALK_ARGS + PRIOR_ARG, LATENT_WALK_RETURNS)
def eae_interpolate(model: str, seed_a: float, seed_b: float, steps: float, prior: str = "normal"):
    """Frames from seed A's latent to seed B's, and a looping GIF: on the great circle under N(0, I), on
    the straight line under the mixture. The first frame is seed A's first image (as eae_generate gives
    it at temperature 1 under the same prior), the last seed B's.
    A public server may refuse a request over its work budget (see the System panel).

    Args:
        model: "eae" (BatchNorm + maximum entropy; the default), "ae-bn" (BatchNorm alone) or "vae".
    """
    model = _shipped(model)
    frames = api.interpolate(seed_a, seed_b, steps=steps, model=model, prior=prior)
    params = json.loads(frames[0].info["parameters"])
    name = f"eae-{model}-{params['prior']}-{params['seed_a']}-{params['seed_b']}"
    paths = image_files(frames, name)
    gif = Path(paths[0]).with_name(f"{name}.gif")
    save_tagged_gif(frames, gif)
    return paths, str(gif)


@ui_errors
def eae_latent_report(model: str):
    """How Gaussian the aggregate code of the test set is: a summary and a QQ plot. The 10,000
    Fashion-MNIST test images are encoded (the VAE: one posterior sample each); about 13 s on a 2-core CPU.
    A public server may refuse a request over its work budget (see the System panel).

    Args:
        model: "eae" (BatchNorm + maximum entropy; the default), "ae-bn" (BatchNorm alone) or "vae".

    Returns:
        the report (JSON): latent_dim, per-dimension mean and std, k-NN entropies, fd_to_n01, ks_* and prior_coverage; under "gmm", the fitted mixture's prior coverage and the test codes' log-likelihood under N(0, I) and under it
        the QQ-plot points: code quantiles against N(0, 1) quantiles, pooled and for the least normal dimension
    """
    report = api.latent_report(_shipped(model))
    qq = report.pop("qq")
    rows = [{"normal quantile": x, "code quantile": y, "series": "all dimensions pooled"}
            for x, y in zip(qq["normal"], qq["pooled"])]
    rows += [{"normal quantile": x, "code quantile": y, "series": f"least normal dimension ({report['ks_worst_dim']})"}
             for x, y in zip(qq["normal"], qq["worst_dim"])]
    rows += [{"normal quantile": x, "code quantile": x, "series": "N(0, 1)"} for x in qq["normal"]]
    return report, pd.DataFrame(rows)


def metrics_table() -> pd.DataFrame:
    """The three shipped models' measured metrics, read from their ``metrics.json``. A model whose
    folder or metrics cannot be read (offline Hub, partial file) is left out; the app still starts."""
    rows, floor = [], None
    for kind in api.MODELS:
        try:
            m = read_json(api.model_dir(kind) / "metrics.json")
            s, lat = m["samples"], m.get("latent", {})
            sse = m["reconstruction"]["sse"]
            floor = m.get("real_floor", floor)
        except (ValueError, OSError, KeyError, TypeError) as e:
            print(f"EAE tab: no metrics for {kind} ({type(e).__name__}: {e})")
            continue
        gmm = next((r for r in m.get("by_prior", []) if (r["prior"], r["temperature"]) == ("gmm", 1.0)), {})
        rows.append({"model": kind, "FD": s["fd"], "FD (gmm prior)": gmm.get("fd"),
                     "FD of test reconstructions": m.get("reconstruction_ceiling", {}).get("fd"),
                     "KID x 1000": round(1000 * s["kid"], 2), "precision": s["precision"],
                     "recall": s["recall"], "test SSE / image": sse,
                     "FD(code, N(0,I))": lat.get("fd_to_n01"), "prior coverage": lat.get("prior_coverage")})
    if rows and floor:
        rows.append({"model": "real floor", "FD": floor["fd"], "KID x 1000": round(1000 * floor["kid"], 2),
                     "precision": floor["precision"], "recall": floor["recall"]})
    return pd.DataFrame(rows)


@ui_errors
def eae_model_card(model: str):
    """The checkpoint's model card (Markdown) and its training curves.

    Args:
        model: the model whose card to show, "eae" (the default), "ae-bn" or "vae".

    Returns:
        the model card as Markdown (the Hub front matter and image links left out)
        the training curves against step: reconstruction SSE and the regulariser (entropy; kl for the vae)
    """
    folder = api.model_dir(_shipped(model))
    return card_markdown(folder), loss_frame(folder / "loss.csv")


def loss_frame(path) -> pd.DataFrame:
    def parse(r: dict) -> list[dict]:
        reg = "kl" if "kl" in r else "entropy"
        return [{"step": int(r["step"]), "value": float(r["sse"]), "series": "reconstruction SSE"},
                {"step": int(r["step"]), "value": float(r[reg]), "series": reg}]

    rows = read_log(path, parse)
    return pd.DataFrame(rows, columns=["step", "value", "series"])


def first_samples() -> list[str]:
    """The tab's first result: the default model's 64 samples for seed 0 (the defaults)."""
    return image_files(api.generate(64, seed=0), f"eae-{api.DEFAULT_MODEL}-seed0", keep=True)


def eae_random_seed() -> int:
    """A random seed for the Seed box (no arguments).

    Returns:
        an integer from 0 to 4294967295 (2**32 - 1)
    """
    return random.randint(0, MAX_SEED)


def build():
    """The tab's widgets and events; returns its first result's loader and output for ``demo.load``."""
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            model = gr.Radio(MODEL_CHOICES, value=api.DEFAULT_MODEL, label="Model", elem_id="eae-model")
            with gr.Row():
                seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed", elem_id="eae-seed",
                                 scale=3)
                dice = gr.Button("Random", elem_id="eae-random-seed", scale=1, min_width=60)
            n = gr.Slider(1, UI_MAX_N, value=64, step=1, label="Number of images", elem_id="eae-n")
            temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature (latent std)",
                                    info="z ~ N(0, T² I); below 1 trades variety for cleaner samples",
                                    elem_id="eae-temperature")
            prior = gr.Radio(PRIOR_CHOICES, value=api.DEFAULT_PRIOR, label="Prior", elem_id="eae-prior",
                             info="where z comes from; the mixture is fitted after training (RAE's ex-post prior)")
            go = gr.Button("Generate", variant="primary", elem_id="eae-generate")
        with gr.Column(scale=3):
            gallery = gr.Gallery(label="Samples", columns=8, height="auto",
                                 format="png", object_fit="contain", buttons=["download", "download_all", "fullscreen"],
                                 elem_id="eae-gallery", elem_classes="pixelated")
    with gr.Accordion("Reconstructions", open=True):
        with gr.Row():
            with gr.Column(scale=1, min_width=280):
                upload = gr.File(file_count="multiple", file_types=["image"], label="Your images (optional)",
                                 elem_id="eae-upload")
                count = gr.Slider(1, UI_MAX_RECON, value=16, step=1, label="Test images (when nothing is uploaded)")
                test_seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Test-image seed")
                recon_go = gr.Button("Reconstruct", elem_id="eae-reconstruct")
            with gr.Column(scale=3):
                pairs = gr.Gallery(label="Original | reconstruction", columns=8, height="auto", format="png",
                                   object_fit="contain", elem_id="eae-pairs", elem_classes="pixelated")
                recon_note = gr.Markdown()
    with gr.Accordion("Latent interpolation", open=False):
        seed_a, seed_b, steps, walk, strip, gif = latent_walk_widgets("eae")
    with gr.Accordion("Latent codes: how Gaussian is the aggregate code?", open=False):
        gr.Markdown("The 10,000 test images encoded (the VAE: one posterior sample each). A generator that "
                    "samples z ~ N(0, I) works only where the codes really fill N(0, I).")
        analyse = gr.Button("Analyse the codes", elem_id="eae-analyse")
        with gr.Row():
            qq = gr.LinePlot(x="normal quantile", y="code quantile", color="series", title="QQ plot against N(0, 1)",
                             height=320, elem_id="eae-qq")
            report = gr.JSON(label="Latent report", elem_id="eae-report")
    with gr.Accordion("The three models, measured", open=False):
        gr.Markdown("`python -m playground eval eae --write-card`: 10,000 samples each against the test set in "
                    "the metric classifier's feature space, under N(0, I) and under the fitted mixture; the FD of "
                    "the test images' reconstructions is the best any prior can reach with that decoder.")
        gr.Dataframe(metrics_table(), interactive=False, elem_id="eae-metrics")
    with gr.Accordion("Model card", open=False):
        try:
            first_card, first_loss = eae_model_card(api.DEFAULT_MODEL)
        except gr.Error as e:  # a missing or unreadable checkpoint must not stop the app from starting
            first_card, first_loss = f"No model card: {e.message}", loss_frame(Path("/nonexistent"))
        card = gr.Markdown(first_card, elem_id="eae-card")
        loss = gr.LinePlot(first_loss, x="step", y="value", color="series", title="Training curves", height=260)

    go.click(eae_generate, [model, seed, n, temperature, prior], gallery, api_name="eae_generate", preprocess=False,
             **DEVICE_EVENT)
    recon_go.click(eae_reconstruct, [model, upload, count, test_seed], [pairs, recon_note], api_name="eae_reconstruct",
                   preprocess=False, **DEVICE_EVENT)
    walk.click(eae_interpolate, [model, seed_a, seed_b, steps, prior], [strip, gif], api_name="eae_interpolate",
               preprocess=False, **DEVICE_EVENT)
    analyse.click(eae_latent_report, model, [report, qq], api_name="eae_latent_report", preprocess=False,
                  **DEVICE_EVENT)
    dice.click(eae_random_seed, None, seed, api_name="eae_random_seed")
    model.change(eae_model_card, model, [card, loss], api_name="eae_model_card", preprocess=False)
    return first_result(first_samples, "EAE"), gallery
