"""Helpers the tabs' UIs share: the device concurrency group, error translation, the CSS,
and a scratch folder for files handed to Gradio. Tabs import from here; this module
imports nothing from the tabs (app -> tabs -> shared helpers -> device manager)."""

from __future__ import annotations

import functools
import os
import tempfile
import time
from pathlib import Path

import gradio as gr

from .device import MAX_SEED, manager

TITLE = "Generative Model Playground"
# Device-bound events share one queue slot group, so a burst of requests cannot
# oversubscribe the CPU or the GPU. ``PLAYGROUND_CONCURRENCY`` raises the limit.
DEVICE_CONCURRENCY_ID = "device"
DEVICE_CONCURRENCY = int(os.environ.get("PLAYGROUND_CONCURRENCY", "1" if manager.device.type == "cpu" else "2"))
DEVICE_EVENT = {"concurrency_id": DEVICE_CONCURRENCY_ID, "concurrency_limit": DEVICE_CONCURRENCY}

INTRO = """# Generative Model Playground
Classic generative models, each reproducing a well-known write-up and then going further,
trained here on a 2-core CPU. Every tab is also a Python function (`playground.<tab>`) and a
Gradio API endpoint (see *Use via API* at the bottom of the page)."""


# Generated images are 28x28: show their pixels, not a blurred upscale.
CSS = """
.pixelated img, .pixelated canvas { image-rendering: pixelated; }
"""


def latent_walk_widgets(prefix: str):
    """The latent-interpolation controls every sampling tab shows: seeds A and B, a frame
    count and a button, then the frame strip and its GIF. Returns
    ``(seed_a, seed_b, steps, button, strip, gif)`` for the tab to wire to its endpoint."""
    with gr.Row():
        seed_a = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed A")
        seed_b = gr.Number(value=1, precision=0, minimum=0, maximum=MAX_SEED, label="Seed B")
        steps = gr.Slider(2, 64, value=10, step=1, label="Frames")
        button = gr.Button("Interpolate", elem_id=f"{prefix}-interpolate")
    with gr.Row():
        strip = gr.Gallery(label="Frames (A → B)", columns=10, rows=1, height="auto", format="png",
                           object_fit="contain", elem_id=f"{prefix}-strip", elem_classes="pixelated", scale=3)
        gif = gr.Image(label="Animation (GIF)", type="filepath", format="gif", elem_id=f"{prefix}-gif",
                       buttons=["download"], elem_classes="pixelated", scale=1)
    return seed_a, seed_b, steps, button, strip, gif


def launch(demo: gr.Blocks, **kwargs):
    """``demo.launch`` with the playground's CSS (Gradio 6 takes CSS at launch)."""
    return demo.launch(css=CSS, **kwargs)


def ui_errors(fn):
    """Turn the API's ``ValueError`` (bad input, broken checkpoint) into a ``gr.Error``."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValueError as e:
            raise gr.Error(str(e)) from None
        except RuntimeError as e:  # e.g. out of memory on the device
            raise gr.Error(f"generation failed on {manager.device}: {e}") from None

    return wrapper


def card_markdown(folder: Path) -> str:
    """A checkpoint's model card (README.md) for display in the app: the Hub front matter and
    the image links (they resolve on the Hub, not here) left out."""
    card = Path(folder) / "README.md"
    text = card.read_text() if card.is_file() else f"No model card found in `{folder}`."
    if text.startswith("---"):  # Hub metadata
        text = text.split("---", 2)[-1]
    return "\n".join(line for line in text.splitlines() if not line.startswith("!["))


def scratch_dir(max_age_s: float = 3600) -> Path:
    """Where files (GIFs) wait for Gradio to copy them into its cache; old ones are pruned."""
    folder = Path(tempfile.gettempdir()) / "playground-scratch"
    folder.mkdir(exist_ok=True)
    now = time.time()
    for old in folder.iterdir():
        try:
            if now - old.stat().st_mtime > max_age_s:
                old.unlink()
        except OSError:
            pass
    return folder
