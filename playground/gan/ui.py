"""The GAN tab: widgets wired to ``playground.gan.generate`` / ``interpolate``."""

from __future__ import annotations

import json
import random
from pathlib import Path

import gradio as gr
import pandas as pd

from ..checks import MAX_SEED, check_int
from ..uikit import (DEVICE_EVENT, LATENT_WALK_ARGS, LATENT_WALK_RETURNS, card_markdown, first_result, image_files,
                     latent_walk_widgets, read_log, shared_doc, ui_errors)
from . import api

UI_MAX_N = 256
ARCH_CHOICES = [("dcgan: convolutional, non-saturating + R1 (default)", "dcgan"),
                ("su2017: the write-up's MLP WGAN-GP", "su2017")]


@ui_errors
def gan_generate(arch: str, seed: float, n: float):
    """Generate ``n`` images (up to 256 here; 10,000 through the Python API): 28x28 greyscale
    Fashion-MNIST samples. The same ``arch`` and ``seed`` always give the same images.
    A public server may refuse a request over its work budget (see the System panel).

    Args:
        arch: the generator, "dcgan" (convolutional, non-saturating + R1; the default) or "su2017" (MLP WGAN-GP).
        seed: an integer from 0 to 4294967295 (2**32 - 1); None draws a random one. Default 0.
        n: the number of images, an integer from 1 to 256 (default 64).

    Returns:
        the images as PNG files (a gallery), each recording its model, seed and index in a PNG text chunk
    """
    if check_int("n", n, 1, api.MAX_N) > UI_MAX_N:
        raise ValueError(f"n must be at most {UI_MAX_N} in the app (the Python API takes up to {api.MAX_N})")
    images = api.generate(n=n, seed=seed, arch=arch)
    return image_files(images, f"gan-{arch}-seed{json.loads(images[0].info['parameters'])['seed']}")


@ui_errors
@shared_doc(LATENT_WALK_ARGS, LATENT_WALK_RETURNS)
def gan_interpolate(arch: str, seed_a: float, seed_b: float, steps: float):
    """Frames walking from seed A's latent to seed B's, and the same as a looping GIF. The first frame
    is seed A's first image, the last seed B's (dcgan's Gaussian latents joined by slerp, su2017's by a line).
    A public server may refuse a request over its work budget (see the System panel).

    Args:
        arch: the generator, "dcgan" (the default) or "su2017".
    """
    frames = api.interpolate(seed_a, seed_b, steps=steps, arch=arch)
    params = json.loads(frames[0].info["parameters"])  # the seeds actually used (None draws one)
    name = f"gan-{arch}-{params['seed_a']}-{params['seed_b']}"
    paths = image_files(frames, name)
    gif = Path(paths[0]).with_name(f"{name}.gif")
    api.interpolation_gif(frames, gif)
    return paths, str(gif)


def first_samples() -> list[str]:
    """The tab's first result: the default generator's 64 samples for seed 0 (the defaults)."""
    return image_files(api.generate(64, seed=0, arch=api.DEFAULT_ARCH), f"gan-{api.DEFAULT_ARCH}-seed0", keep=True)


def gan_random_seed() -> int:
    """A random seed for the Seed box (no arguments).

    Returns:
        an integer from 0 to 4294967295 (2**32 - 1)
    """
    return random.randint(0, MAX_SEED)


@ui_errors
def gan_model_card(arch: str):
    """The checkpoint's model card (Markdown) and its training-loss curve.

    Args:
        arch: the generator whose card to show, "dcgan" (the default) or "su2017".

    Returns:
        the model card as Markdown (the Hub front matter and image links left out)
        the training losses (d_loss and g_loss against step) for a line plot
    """
    folder = api.model_dir(arch)
    return card_markdown(folder), loss_frame(folder / "loss.csv")


def loss_frame(path: Path) -> pd.DataFrame:
    """loss.csv (step, d_loss, g_loss, ...) -> long format for gr.LinePlot."""
    rows = read_log(path, lambda r: [{"step": int(r["step"]), "loss": float(r[key]), "series": key}
                                     for key in ("d_loss", "g_loss")])
    return pd.DataFrame(rows, columns=["step", "loss", "series"])


def build():
    """The tab's widgets and events; returns its first result's loader and output for ``demo.load``."""
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            arch = gr.Radio(ARCH_CHOICES, value=api.DEFAULT_ARCH, label="Architecture", elem_id="gan-arch")
            with gr.Row():
                seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed", elem_id="gan-seed", scale=3)
                dice = gr.Button("Random", elem_id="gan-random-seed", scale=1, min_width=60)
            n = gr.Slider(1, UI_MAX_N, value=64, step=1, label="Number of images", elem_id="gan-n")
            go = gr.Button("Generate", variant="primary", elem_id="gan-generate")
        with gr.Column(scale=3):
            gallery = gr.Gallery(label="Samples", columns=8, height="auto", format="png", object_fit="contain",
                                 buttons=["download", "download_all", "fullscreen"], elem_id="gan-gallery",
                                 elem_classes="pixelated")
    with gr.Accordion("Latent interpolation", open=True):
        seed_a, seed_b, steps, walk, strip, gif = latent_walk_widgets("gan")
    with gr.Accordion("Model card", open=False):
        try:
            first_card, first_loss = gan_model_card(api.DEFAULT_ARCH)
        except gr.Error as e:  # a missing or unreachable checkpoint must not stop the app from starting
            first_card, first_loss = f"No model card: {e.message}", loss_frame(Path("/nonexistent"))
        card = gr.Markdown(first_card, elem_id="gan-card")
        loss = gr.LinePlot(first_loss, x="step", y="loss", color="series", title="Training loss", height=260)

    # preprocess=False: inputs reach the handlers as sent, and the Python API validates them,
    # so a None, a string or a NaN from an API client gets the API's clear message.
    go.click(gan_generate, [arch, seed, n], gallery, api_name="gan_generate", preprocess=False, **DEVICE_EVENT)
    walk.click(gan_interpolate, [arch, seed_a, seed_b, steps], [strip, gif], api_name="gan_interpolate",
               preprocess=False, **DEVICE_EVENT)
    dice.click(gan_random_seed, None, seed, api_name="gan_random_seed")
    arch.change(gan_model_card, arch, [card, loss], api_name="gan_model_card", preprocess=False)
    return first_result(first_samples, "GAN"), gallery
