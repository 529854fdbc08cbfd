"""The Gradio app: one tab per model, a System panel, nothing else.

Every tab lives beside its model (``playground/<tab>/ui.py``) and only wires widgets to
the tab's Python API. This module assembles the tabs and holds the small helpers they share.
"""

from __future__ import annotations

import functools
import os

import gradio as gr

from .device import manager

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


def system_status() -> dict:
    """The device manager's state: device, loaded models, memory."""
    return manager.status()


def build_demo() -> gr.Blocks:
    from .gan import ui as gan_ui

    # every output file is unique (request ids), so Gradio's cache is swept hourly
    with gr.Blocks(title=TITLE, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("GAN · Fashion-MNIST", id="gan"):
                gan_ui.build()
        with gr.Accordion("System", open=False):
            status = gr.JSON(label="Device manager", elem_id="system-status")
            refresh = gr.Button("Refresh", size="sm")
        refresh.click(system_status, None, status, api_name="system_status")
        demo.load(system_status, None, status, api_name="system_status_on_load", api_visibility="undocumented")
    demo.queue(default_concurrency_limit=DEVICE_CONCURRENCY)
    return demo
