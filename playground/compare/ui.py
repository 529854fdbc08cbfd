"""The Compare tab: one seed, a row of samples from every shipped image model, the models' measured
figures in one sortable table, their class coverage, and a memorisation check for a clicked sample.
Widgets wired to ``playground.compare``."""

from __future__ import annotations

import gradio as gr
import pandas as pd
from PIL import Image

from ..checks import MAX_SEED, check_int, short_repr, validate_seed
from ..images import tag
from ..uikit import DEVICE_EVENT, SelectEvent, first_result, image_files, is_app_file, ui_errors
from . import api

INTRO = """Every image model the playground ships, from **one seed**: GANs (one generator pass), diffusion
(25 denoising steps), autoencoders (a decoder pass, with z from N(0, I) as their write-up does, or from a
Gaussian mixture fitted to the training codes afterwards). The table below is each model's own card
(`metrics.json`, `training.json`): the same metric for all, the 128-d features of the project's
Fashion-MNIST classifier against the 10,000 test images. Click a sample to find its nearest training images."""
TIMES_COLUMNS = ["model", "family", "how it samples", "seconds", "note"]


def _row_items(row: dict, count: int, seed: int, keep: bool = False) -> list:
    """One model's samples as gallery items (PNG path, caption); the first caption carries its time."""
    if row["images"] is None:
        return []
    name = row["name"].replace("/", "-").replace(" · ", "-")
    images = [tag(Image.fromarray(im), {"model": row["name"], "seed": seed, "count": count, "index": i})
              for i, im in enumerate(row["images"])]
    paths = image_files(images, f"compare-{name}-seed{seed}", keep=keep)
    return [(path, f"{row['name']} #{i}" + (f" · {row['seconds']:.2f} s" if i == 0 else ""))
            for i, path in enumerate(paths)]


def _times(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{"model": r["name"], "family": r["family"], "how it samples": r["how"],
                          "seconds": r["seconds"], "note": r["error"] or ""} for r in rows], columns=TIMES_COLUMNS)


def _in_order(rows: list[dict]) -> list[dict]:
    """Rows in the registry's order (GANs, diffusion, autoencoders), whatever order they were drawn in."""
    order = {m.name: i for i, m in enumerate(api.models())}
    return sorted(rows, key=lambda r: order.get(r["name"], len(order)))


@ui_errors
def compare_generate(seed: float, count: float):
    """The same seed through every shipped image model: ``count`` samples each, a row per model (GANs,
    diffusion, the autoencoders under each prior), and each model's generation time. The page shows the
    fast models first and the diffusion models' rows when they are ready; a client gets the full result.
    A model that fails shows its error in the times table; the others still draw.

    Args:
        seed: an integer from 0 to 4294967295 (2**32 - 1); None draws a random one. Default 0.
        count: samples per model, an integer from 1 to 16 (default 8).

    Returns:
        the samples (a gallery), model after model, each captioned with its model and index
        the models' generation times in seconds (a table: model, family, how it samples, seconds, note)
    """
    seed = validate_seed(seed)
    count = check_int("count", count, 1, api.MAX_COUNT)
    rows = api.generate(seed, count, slow=False)
    items = {row["name"]: _row_items(row, count, seed) for row in rows}
    yield [it for row in rows for it in items[row["name"]]], _times(rows)
    slow = api.generate(seed, count, slow=True)
    if slow:
        items.update({row["name"]: _row_items(row, count, seed) for row in slow})
        rows = _in_order(rows + slow)
        yield [it for row in rows for it in items[row["name"]]], _times(rows)


@ui_errors
def compare_columns(count: float):
    """The gallery shows one model per row: as many columns as samples per model."""
    return gr.Gallery(columns=check_int("count", count, 1, api.MAX_COUNT))


def compare_table():
    """Every shipped image model's measured figures, read from its model card's records (no arguments).

    Returns:
        the figures (a table): model, family, FD, KID x 1000, precision, recall, samples scored, parameters (of the network that samples), training CPU minutes, sampling settings, note
        the class coverage (a table): per model, the share of its scored samples the metric classifier puts in each of the 10 classes (the test set: 10% each), and the smallest share
    """
    return pd.DataFrame(api.table()), pd.DataFrame(api.coverage())


@ui_errors
def compare_pick(evt: SelectEvent):
    """A clicked sample becomes the memorisation check's query (only an image this app made)."""
    image = evt.value.get("image") if isinstance(evt.value, dict) else None
    path = image.get("path") if isinstance(image, dict) else None
    if path is None:
        return gr.skip()
    if not is_app_file(path):
        raise ValueError(f"the selected sample must be one of this app's images, not {short_repr(path)}")
    return path


@ui_errors
def compare_nearest(image, k: float):
    """The memorisation check: the ``k`` training images nearest to an image in pixel space (Euclidean
    distance over the 784 pixels in [0, 1]), beside the typical distance from a real test image to its
    nearest training image. A sample much closer than that is a near-copy of a training image.
    The image must be uploaded to this app (gradio_client: handle_file(path); MCP: a ``data:`` base64 URL);
    http(s) URLs are not fetched.

    Args:
        image: an image file (PNG, JPEG...) uploaded to this app, made 28x28 greyscale, light on black.
        k: how many neighbours, an integer from 1 to 16 (default 8).

    Returns:
        the nearest training images (a gallery), each captioned with its distance, class and index in the training set
        a Markdown summary: the nearest distance against the typical one
    """
    if image is None:
        raise ValueError("image: click a sample above (or upload an image) first")
    path = image.get("path") if isinstance(image, dict) else image
    if not isinstance(path, str):
        raise ValueError("image must be an image file uploaded to this app (gradio_client: handle_file(path))")
    k = check_int("k", k, 1, api.MAX_NEIGHBOURS)
    from ..images import open_image

    try:
        picture = open_image(path)
    except ValueError:
        raise ValueError("image: the file is not a readable image; upload a PNG, JPEG, GIF or WebP image") from None
    found = api.nearest(picture, k)
    items = [(Image.fromarray(im), f"{d:.2f} · {c} · #{i}")
             for im, d, c, i in zip(found["images"], found["distances"], found["classes"], found["indices"])]
    paths = image_files([tag(im, {"nearest_training_index": i}) for (im, _), i in zip(items, found["indices"])],
                        "compare-nearest")
    ratio = found["distances"][0] / found["typical"]
    verdict = ("a near-copy of a training image" if ratio < 0.5 else
               "closer to a training image than most real test images are" if ratio < 0.9 else
               "no closer to the training set than a real test image")
    summary = (f"Nearest training image at distance **{found['distances'][0]:.2f}**; a real test image's nearest "
               f"training image is typically at **{found['typical']:.2f}** (median over 1,000 test images): "
               f"{ratio:.2f}x, {verdict}.")
    return [(p, caption) for p, (_, caption) in zip(paths, items)], summary


def first_row():
    """The tab's first result: 8 samples of every model for seed 0 (the defaults)."""
    rows = api.generate(0, 8)
    return [it for row in rows for it in _row_items(row, 8, 0, keep=True)], _times(rows)


def build():
    """The tab's widgets and events; returns its first result's loader and outputs for ``demo.load``."""
    gr.Markdown(INTRO)
    with gr.Row():
        seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed", elem_id="compare-seed",
                         scale=2)
        count = gr.Slider(1, api.MAX_COUNT, value=8, step=1, label="Samples per model", elem_id="compare-count",
                          scale=3)
        go = gr.Button("Generate from every model", variant="primary", elem_id="compare-generate", scale=1)
    gallery = gr.Gallery(label="One row per model (click a sample for its nearest training images)", columns=8,
                         height="auto", format="png", object_fit="contain", elem_id="compare-gallery",
                         elem_classes="pixelated", buttons=["download", "fullscreen"])
    times = gr.Dataframe(headers=TIMES_COLUMNS, label="Generation time per model (this request, this machine)",
                         interactive=False, elem_id="compare-times")
    with gr.Accordion("Memorisation check: the clicked sample's nearest training images", open=True):
        with gr.Row():
            query = gr.Image(label="Sample", type="filepath", format="png", height=160, elem_id="compare-query",
                             elem_classes="pixelated", sources=["upload", "clipboard"], scale=1)
            with gr.Column(scale=4):
                k = gr.Slider(1, api.MAX_NEIGHBOURS, value=8, step=1, label="Neighbours")
                find = gr.Button("Find nearest training images", elem_id="compare-find")
                neighbours = gr.Gallery(label="Nearest training images (distance · class · index)", columns=8,
                                        height="auto", format="png", object_fit="contain",
                                        elem_id="compare-neighbours", elem_classes="pixelated")
                verdict = gr.Markdown(elem_id="compare-verdict")
    with gr.Accordion("Every model, measured (from the model cards; click a column to sort)", open=True):
        try:
            figures, classes = compare_table()
        except (ValueError, OSError) as e:  # the app starts even when a record cannot be read
            figures, classes = pd.DataFrame([{"note": f"no table: {e}"}]), pd.DataFrame()
        table = gr.Dataframe(figures, interactive=False, elem_id="compare-table")
        gr.Markdown("Class coverage: the share of each model's scored samples the metric classifier puts in each "
                    "class (the test set has 10% in each; the classifier is right on 92% of real test images). A "
                    "model that drops a class has a small *smallest* share.")
        coverage = gr.Dataframe(classes, interactive=False, elem_id="compare-coverage")
        refresh = gr.Button("Reload the records", size="sm", elem_id="compare-refresh")

    go.click(compare_generate, [seed, count], [gallery, times], api_name="compare_generate", preprocess=False,
             **DEVICE_EVENT).then(compare_columns, count, gallery, api_visibility="private", preprocess=False)
    refresh.click(compare_table, None, [table, coverage], api_name="compare_table")
    gallery.select(compare_pick, None, query, api_visibility="private", preprocess=False).success(
        compare_nearest, [query, k], [neighbours, verdict], preprocess=False, api_name="compare_pick_nearest",
        api_visibility="private", **DEVICE_EVENT)
    find.click(compare_nearest, [query, k], [neighbours, verdict], api_name="compare_nearest", preprocess=False,
               **DEVICE_EVENT)
    return first_result(first_row, "Compare"), [gallery, times]
