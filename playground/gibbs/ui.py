"""The Gibbs tab: widgets wired to ``playground.gibbs.chain`` (streamed live) and ``sample``, with
the sampler (Gibbs, Metropolis-Hastings, Mask-Predict) one radio away, plus the model card. Every handler takes the raw widget values (``preprocess=False``) and lets the API
validate them."""

from __future__ import annotations

import html
import random
import time
import uuid
import warnings
from pathlib import Path

import gradio as gr
import pandas as pd

from ..checks import MAX_SEED, check_choice
from ..uikit import DEVICE_EVENT, card_markdown, first_result, read_log, scratch_dir, shared_doc, ui_errors
from . import api

UI_MAX_CHAINS = 16
UI_MAX_STEPS = 2000
STREAM_EVERY_S = 0.08  # at most ~12 updates a second reach the browser; the last step always does
EXAMPLES = [
    ["科学技术____生产力。"],
    ["____是中国的首都。"],
    ["今天天气________。"],
    ["[MASK][MASK]大学[MASK][MASK]系"],
    [""],
]
ANNEAL_CHOICES = [("none: constant temperature", "none"), ("linear to 0.1", "linear:0.1"),
                  ("linear to 0 (greedy at the end)", "linear:0"), ("geometric to 0.05", "geometric:0.05")]
CSS_CLASS = "gibbs-chains"
METHOD_CHOICES = [("Gibbs (the write-up)", "gibbs"), ("Metropolis-Hastings", "mh"),
                  ("MH, raw-logit energy", "mh-raw"), ("Mask-Predict (fast, ~10 passes)", "mask-predict")]
# what choosing a method sets: (steps, burn-in); the write-up's Gibbs preset is random order at temperature 1
METHOD_PRESETS = {"gibbs": (200, 50), "mh": (200, 50), "mh-raw": (200, 50), "mask-predict": (10, 0)}


DOMAIN_CHOICES = [("News (People's Daily, 1998)", "news"), ("Reviews (hotels, products)", "review")]


def _arguments(template, length, n, steps, burn_in, temperature, top_k, order, anneal, seed, method,
               domain=None) -> dict:
    """The raw widget values as ``api.sample`` arguments (the API checks the numbers and parses
    ``anneal``, "linear:0.1", as the CLI's ``--anneal`` is parsed)."""
    if template is not None and not isinstance(template, str):
        raise ValueError(f"template must be text, not {type(template).__name__}")
    if isinstance(n, (int, float)) and not isinstance(n, bool) and n > UI_MAX_CHAINS:
        raise ValueError(f"chains must be at most {UI_MAX_CHAINS} in the app (the Python API takes up to "
                         f"{api.MAX_CHAINS})")
    if isinstance(steps, (int, float)) and not isinstance(steps, bool) and steps > UI_MAX_STEPS:
        raise ValueError(f"steps must be at most {UI_MAX_STEPS} in the app (the Python API takes up to "
                         f"{api.MAX_STEPS})")
    if anneal is not None and not isinstance(anneal, str):
        raise ValueError(f"anneal must be text such as 'linear:0.1' or 'none', not {type(anneal).__name__}")
    return dict(template=(template or None), length=length, n=n, steps=steps, burn_in=burn_in,
                temperature=temperature, top_k=top_k, order=check_choice("order", order, api.ORDERS),
                anneal=anneal, seed=seed, method=api.check_method(method), domain=api.check_domain(None if domain == "" else domain))


def _samples_file(texts: list[str], settings: dict) -> str:
    path = scratch_dir() / f"gibbs-{uuid.uuid4().hex[:8]}.txt"
    header = "# " + ", ".join(f"{k}={v}" for k, v in settings.items()) + "\n"
    path.write_text(header + "\n".join(texts) + "\n", encoding="utf-8")
    return str(path)


def _warn(caught: list) -> None:
    for w in caught:
        gr.Warning(str(w.message))


def chains_html(step: dict, steps: int, method: str = "gibbs") -> str:
    """The chains at one step, the slots each chain just redrew highlighted: green when the character
    changed, grey when the same one was drawn again, red (struck through) where Metropolis-Hastings
    refused its proposal; Mask-Predict highlights every slot its pass re-masked."""
    rows, refused = [], 0
    for text, pos, changed, accepted in zip(step["texts"], step["positions"], step["changed"],
                                            step.get("accepted", [True] * len(step["texts"]))):
        hits = dict(zip(pos, changed)) if isinstance(pos, list) else {pos: changed}
        refused += not accepted
        cells = []
        for i, ch in enumerate(text):
            if i in hits:
                cls = "hit rejected" if not accepted else "hit changed" if hits[i] else "hit"
            else:
                cls = "masked" if ch == "_" else ""
            cells.append(f'<span class="{cls}">{html.escape(ch)}</span>' if cls else html.escape(ch))
        rows.append(f"<li>{''.join(cells)}</li>")
    phase = "burn-in" if step["burn_in"] else "sampling"
    unit = "pass" if method == "mask-predict" else "step"
    extra = (f" · {len(rows) - refused}/{len(rows)} proposals accepted" if method in ("mh", "mh-raw") else
             f" · {max((len(p) for p in step['positions']), default=0)} slots redrawn" if method == "mask-predict"
             else "")
    domain = f" · domain: {step['domain']}" if step.get("domain") else ""
    return (f'<div class="{CSS_CLASS}"><div class="meta">{method} · {unit} {step["step"]} / {steps} · {phase} · '
            f'temperature {step["temperature"]:.3g}{extra}{domain}</div><ol>{"".join(rows)}</ol></div>')


STYLE = f"""<style>
.{CSS_CLASS} ol {{ font-size: 1.35em; line-height: 1.7; letter-spacing: 0.05em; }}
.{CSS_CLASS} .meta {{ color: #777; font-size: 0.9em; }}
.{CSS_CLASS} .hit {{ background: #ddd; border-radius: 3px; }}
.{CSS_CLASS} .hit.changed {{ background: #9be39b; }}
.{CSS_CLASS} .hit.rejected {{ background: #f4b4b4; text-decoration: line-through; }}
.{CSS_CLASS} .masked {{ color: #bbb; }}
</style>"""


# The arguments gibbs_sample and gibbs_chain share (their docstrings, via ``shared_doc``).
GIBBS_ARGS = """
template: text where _ or [MASK] marks a free slot, the rest fixed (at most 128 slots); "" or None: none.
length: the free slots when template is "" or None, an integer from 1 to 128 (checked anyway; default 16).
n: the number of chains (texts returned), an integer from 1 to 16 (default 4).
steps: Gibbs steps, an integer from 1 to 2000, at least the number of free slots (default 200).
burn_in: steps at ``temperature`` before any annealing, an integer from 0 to steps - 1 (default 50).
temperature: the sampling temperature, a number above 0 and at most 10 (default 1).
top_k: draw among the top_k most likely characters only, an integer from 0 (all; the default) to 1000.
order: "random" (a random slot per step; the default) or "sequential" (left to right, cycling).
anneal: "none" (or "", None), "linear:f" or "f" (default "linear:0.1") or "geometric:f"; 0 <= f <= temperature.
seed: an integer from 0 to 4294967295 (2**32 - 1); None draws a random one. Default 0.
method: "gibbs" (the write-up's sampler; the default, as is None), "mh" (Metropolis-Hastings: each step proposes
    one slot per chain from the same conditional and accepts it by an energy, the sum of log-probabilities from
    one unmasked pass; twice Gibbs's time), "mh-raw" (the same with raw logits) or "mask-predict" (steps are
    parallel passes, about 10: every slot drawn at once, then the least confident re-drawn; order plays no part).
domain: the register to write in, "news" (the People's Daily; the default) or "review" (hotel and product reviews),
    read by a model trained with the domain token; "" or None: the model's default (none for a model without it).
"""


@ui_errors
@shared_doc(GIBBS_ARGS)
def gibbs_sample(template, length, n, steps, burn_in, temperature, top_k, order, anneal, seed, method="gibbs",
                 domain=None):
    """Run the chains and return the final texts (one per line) and a text file of them.
    Sampling Chinese text from a BERT masked LM: each Gibbs step redraws one free slot in every chain; after
    the burn-in, ``anneal`` lowers the temperature to f at the last step (f = 0: greedy; geometric needs f > 0).
    A public server may refuse a request over its work budget (see the System panel).

    Returns:
        the final texts, one per line
        a .txt file of them, after a header line of the settings
    """
    kwargs = _arguments(template, length, n, steps, burn_in, temperature, top_k, order, anneal, seed, method, domain)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        texts = api.sample(**kwargs)
    _warn(caught)
    return "\n".join(texts), _samples_file(texts, kwargs)


@ui_errors
@shared_doc(GIBBS_ARGS)
def gibbs_chain(template, length, n, steps, burn_in, temperature, top_k, order, anneal, seed, method="gibbs",
                domain=None, progress=gr.Progress()):
    """Stream the chains: the live view after each step (throttled), then the final texts and a file.
    Sampling Chinese text from a BERT masked LM: each Gibbs step redraws one free slot in every chain; after
    the burn-in, ``anneal`` lowers the temperature to f at the last step (f = 0: greedy; geometric needs f > 0).
    A public server may refuse a request over its work budget (see the System panel).

    Returns:
        the chains at the latest step (HTML; at most about 12 updates a second, the last step always sent)
        at the end only: the final texts, one per line
        at the end only: a .txt file of them, after a header line of the settings
    """
    kwargs = _arguments(template, length, n, steps, burn_in, temperature, top_k, order, anneal, seed, method, domain)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stream = api.chain(**kwargs)
    _warn(caught)
    total = int(kwargs["steps"])
    last_sent, step = 0.0, None
    for step in stream:
        progress((step["step"], total), desc=f"step {step['step']}/{total}")
        now = time.monotonic()
        if now - last_sent >= STREAM_EVERY_S or step["step"] == total:
            last_sent = now
            yield chains_html(step, total, kwargs["method"]), gr.skip(), gr.skip()
    texts = step["texts"]
    yield chains_html(step, total, kwargs["method"]), "\n".join(texts), _samples_file(texts, kwargs)


def gibbs_random_seed() -> int:
    """A random seed for the Seed box (no arguments).

    Returns:
        an integer from 0 to 4294967295 (2**32 - 1)
    """
    return random.randint(0, MAX_SEED)


@ui_errors
def gibbs_method_preset(method):
    """What choosing a sampler sets: Mask-Predict's ~10 passes without burn-in, or the chains' 200
    steps with 50 of burn-in (the write-up's Gibbs preset, with random order and temperature 1).

    Returns:
        steps, burn-in, order, temperature
    """
    steps, burn_in = METHOD_PRESETS[check_choice("method", method, api.METHODS)]
    return steps, burn_in, "random", 1.0


def first_samples() -> str:
    """The tab's first result: the default template's 4 chains, 200 steps, annealed, seed 0."""
    return "\n".join(api.sample("科学技术____生产力。", n=4, steps=200, burn_in=50, anneal=0.1, seed=0))


def loss_frame(path: Path) -> pd.DataFrame:
    rows = read_log(path, lambda r: [{"step": int(r["step"]), "loss": float(r["loss"])}])
    return pd.DataFrame(rows, columns=["step", "loss"])


def gibbs_model_card() -> tuple[str, pd.DataFrame]:
    try:
        folder = api.model_dir()
    except ValueError as e:
        return f"No model card: {e}", loss_frame(Path("/nonexistent"))
    return card_markdown(folder), loss_frame(folder / "loss.csv")


def _known_domains() -> tuple[str, ...]:
    """The shipped model's domains (none when it cannot load: its calls will say why)."""
    try:
        return api.domains()
    except ValueError:
        return ()


def build():
    """The tab's widgets and events; returns its first result's loader and output for ``demo.load``."""
    gr.HTML(STYLE, padding=False)
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            template = gr.Textbox(value="科学技术____生产力。", label="Template (_ or [MASK] marks a free slot; "
                                  "empty: 'Length' free slots)", elem_id="gibbs-template")
            gr.Examples(EXAMPLES, template, label="Templates")
            with gr.Row():
                length = gr.Slider(1, 128, value=16, step=1, label="Length (no template)", elem_id="gibbs-length")
                n = gr.Slider(1, UI_MAX_CHAINS, value=4, step=1, label="Chains", elem_id="gibbs-n")
            with gr.Row():
                steps = gr.Slider(1, UI_MAX_STEPS, value=200, step=1, label="Steps", elem_id="gibbs-steps")
                burn_in = gr.Slider(0, UI_MAX_STEPS - 1, value=50, step=1, label="Burn-in (before annealing)",
                                    elem_id="gibbs-burn-in")
            with gr.Row():
                temperature = gr.Slider(0.05, 3, value=1.0, step=0.05, label="Temperature",
                                        elem_id="gibbs-temperature")
                top_k = gr.Slider(0, 200, value=0, step=1, label="Top-k (0: all)", elem_id="gibbs-top-k")
            method = gr.Radio(METHOD_CHOICES, value=api.DEFAULT_METHOD, label="Sampler", elem_id="gibbs-method")
            known = _known_domains()
            domain = gr.Radio(DOMAIN_CHOICES, value=api.DEFAULT_DOMAIN if known else None, label="Domain",
                              interactive=bool(known), elem_id="gibbs-domain",
                              info=None if known else "this model was trained without the domain token")
            with gr.Row():
                order = gr.Radio(list(api.ORDERS), value="random", label="Order", elem_id="gibbs-order")
                anneal = gr.Dropdown(ANNEAL_CHOICES, value="linear:0.1", label="Annealing", elem_id="gibbs-anneal",
                                     allow_custom_value=True)
            with gr.Row():
                seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed", scale=3,
                                 elem_id="gibbs-seed")
                dice = gr.Button("Random", scale=1, min_width=60, elem_id="gibbs-random-seed")
            with gr.Row():
                go = gr.Button("Sample", variant="primary", elem_id="gibbs-go")
                cancel = gr.Button("Cancel", variant="stop", elem_id="gibbs-cancel")
            quick = gr.Button("Quick sample, no live view", size="sm", elem_id="gibbs-quick")
        with gr.Column(scale=2):
            live = gr.HTML(label="The chains, live (the slot being resampled is highlighted)", elem_id="gibbs-live",
                           min_height=180)
            samples = gr.Textbox(label="Samples", lines=6, buttons=["copy"],
                                 elem_id="gibbs-samples")
            download = gr.File(label="Download the samples", elem_id="gibbs-file")
    with gr.Accordion("The model card", open=False):
        first_card, first_loss = gibbs_model_card()
        gr.Markdown(first_card, elem_id="gibbs-card")
        gr.LinePlot(first_loss, x="step", y="loss", title="Training loss (masked LM)", height=260)

    inputs = [template, length, n, steps, burn_in, temperature, top_k, order, anneal, seed, method, domain]
    run = go.click(gibbs_chain, inputs, [live, samples, download], api_name="gibbs_chain", preprocess=False,
                   **DEVICE_EVENT)
    quick.click(gibbs_sample, inputs, [samples, download], api_name="gibbs_sample", preprocess=False,
                **DEVICE_EVENT)
    cancel.click(None, None, None, cancels=[run], api_visibility="private")
    dice.click(gibbs_random_seed, None, seed, api_name="gibbs_random_seed")
    method.input(gibbs_method_preset, method, [steps, burn_in, order, temperature],
                 api_visibility="private", preprocess=False)
    return first_result(first_samples, "Gibbs"), samples
