"""The Gradio app: one tab per model, a System panel, nothing else.

Every tab lives beside its model (``playground/<tab>/ui.py``) and only wires widgets to
the tab's Python API. This module assembles the tabs; the helpers they share live in ``uikit``.
"""

from __future__ import annotations

import gradio as gr

from .device import manager
from .uikit import DEVICE_CONCURRENCY, INTRO, TITLE, launch  # noqa: F401  (launch: app.py and the CLI use it)


def system_status() -> dict:
    """The device manager's state: device, loaded models, memory."""
    return manager.status()


def build_demo() -> gr.Blocks:
    from .ddpm import ui as ddpm_ui
    from .eae import ui as eae_ui
    from .gan import ui as gan_ui
    from .gibbs import ui as gibbs_ui
    from .xiangqi import ui as xiangqi_ui

    # every output file is unique (request ids), so Gradio's cache is swept hourly
    with gr.Blocks(title=TITLE, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("GAN · Fashion-MNIST", id="gan"):
                gan_ui.build()
            with gr.Tab("DDPM · diffusion", id="ddpm"):
                ddpm_ui.build()
            with gr.Tab("EAE · entropic autoencoder", id="eae"):
                eae_ui.build()
            with gr.Tab("Xiangqi · 象棋 GPT", id="xiangqi"):
                xiangqi_ui.build()
            with gr.Tab("Gibbs · BERT 中文", id="gibbs"):
                gibbs_ui.build()
        with gr.Accordion("System", open=False):
            status = gr.JSON(label="Device manager", elem_id="system-status")
            refresh = gr.Button("Refresh", size="sm")
        refresh.click(system_status, None, status, api_name="system_status")
        demo.load(system_status, None, status, api_name="system_status_on_load", api_visibility="undocumented")
    demo.queue(default_concurrency_limit=DEVICE_CONCURRENCY)
    return demo
