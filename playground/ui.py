"""The Gradio app: one tab per model, a System panel, nothing else.

Every tab lives beside its model (``playground/<tab>/ui.py``) and only wires widgets to
the tab's Python API. This module assembles the tabs the registry (``playground.tabs``) lists;
the helpers they share live in ``uikit``.
"""

from __future__ import annotations

import gradio as gr

from . import limits
from .device import manager
from .uikit import DEVICE_EVENT, INTRO, TITLE, WORKERS, Blocks, launch, serve_outputs  # noqa: F401  (launch: app.py and the CLI use it)


def system_status() -> dict:
    """The device manager's state (device, loaded models, memory) and the limits in force."""
    return {**manager.status(), "limits": limits.describe()}


def build_demo() -> gr.Blocks:
    """The app: one tab for each tab in the registry (``playground.tabs``), in its order."""
    from . import tabs

    # transformers resolves its classes lazily, and two threads resolving them at once (the
    # warm-up and a first request) can fail with an ImportError: resolve them here, once
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer  # noqa: F401

    serve_outputs()
    # every output file is unique (request ids), so Gradio's cache is swept hourly
    # uikit.Blocks: a malformed file or example payload gets a clear gr.Error, not Gradio's bare "Error"
    # uikit.Blocks: a request over the work budget (limits) is refused before it runs
    with Blocks(title=TITLE, delete_cache=(3600, 3600), costs=tabs.costs()) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            # each tab returns its first result (loader, output), shown on page load without a click
            first = {}
            for tab in tabs.app_tabs():
                with gr.Tab(tab.title, id=tab.name):
                    first[tab.name] = tab.ui.build()
        with gr.Accordion("System", open=False):
            status = gr.JSON(label="Device manager", elem_id="system-status")
            refresh = gr.Button("Refresh", size="sm")
        refresh.click(system_status, None, status, api_name="system_status")
        demo.load(system_status, None, status, api_name="system_status_on_load", api_visibility="undocumented")
        for tab, (load, output) in first.items():
            demo.load(load, None, output, api_name=f"{tab}_first_result", api_visibility="undocumented",
                      **DEVICE_EVENT)
    demo.queue(default_concurrency_limit=WORKERS, max_size=limits.queue_size())
    return demo
