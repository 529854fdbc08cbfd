"""Helpers the tabs' UIs share: the device concurrency group, error translation, the CSS,
and a scratch folder for files handed to Gradio. Tabs import from here; this module
imports nothing from the tabs (app -> tabs -> shared helpers -> device manager)."""

from __future__ import annotations

import functools
import inspect
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

import gradio as gr

from . import limits
from .checks import MAX_SEED, check_int, short_repr
from .device import manager
from .images import save_png

TITLE = "Generative Model Playground"
# Events that use a model share one Gradio concurrency group of ``PLAYGROUND_WORKERS`` (default
# 32) handlers at once. Who computes is the device manager's business: its slots
# (``PLAYGROUND_CONCURRENCY``, default 1 on a CPU) are granted first come, first served and
# long runs take one per step. So one request's image encoding and file writes overlap another's
# device work, and a short request is served between the steps of a long one rather than after it.
DEVICE_CONCURRENCY_ID = "device"
WORKERS = max(1, int(os.environ.get("PLAYGROUND_WORKERS") or 32))
DEVICE_EVENT = {"concurrency_id": DEVICE_CONCURRENCY_ID, "concurrency_limit": WORKERS}
# Files the app hands out (PNGs, GIFs, text) are written here, one folder per request, and served
# as they are (a Gradio static path: not hashed, copied or re-encoded). Names are random; files
# older than an hour are swept; ``first-results`` (the tabs' page-load samples) is kept a week.
OUTPUT_DIR = Path(tempfile.gettempdir()) / "playground-outputs"
KEEP_DIR = OUTPUT_DIR / "first-results"
_last_sweep = 0.0

INTRO = """# Generative Model Playground
Classic generative models, each reproducing a well-known write-up and then going further,
trained here on a 2-core CPU. Every tab is also a Python function (`playground.<tab>`) and a
Gradio API endpoint (see *Use via API* at the bottom of the page)."""


# Generated images are 28x28: show their pixels, not a blurred upscale.
CSS = """
.pixelated img, .pixelated canvas { image-rendering: pixelated; }
"""


# The latent-interpolation endpoints' shared argument and return lines (their docstrings, via ``shared_doc``).
LATENT_WALK_ARGS = """
seed_a: the start's seed, an integer from 0 to 4294967295; None draws a random one. Default 0.
seed_b: the end's seed, an integer from 0 to 4294967295; None draws a random one. Default 1.
steps: the number of frames, both ends included: an integer from 2 to 64 (default 10).
"""
LATENT_WALK_RETURNS = """
the frames as PNG files (a gallery)
the looping GIF of the frames (a file)
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


_FIRST_RESULTS: dict = {}  # tab -> its page-load loader (the last app built), warmed up once the port is open


def first_result(fn, tab: str):
    """A tab's first result, shown on page load without a click (``build_demo`` wires the
    returned function to ``demo.load``): ``fn()`` runs once, on the first page load or in the
    warm-up ``launch`` starts when the port is open, whichever comes first; every visitor then
    gets the same value (files under ``KEEP_DIR``). A ``ValueError`` (a missing or broken
    checkpoint) is not kept: the page shows a warning naming the tab, its widgets stay empty,
    and the next page load tries again. The app starts either way."""
    lock, done = threading.Lock(), []

    def load():
        with lock:  # the first caller computes; the others wait for its result
            if not done:
                try:
                    done.append(fn())
                except ValueError as e:
                    print(f"{tab} tab: no first result ({e})")
                    gr.Warning(f"{tab} tab: {e}")
                    return gr.skip()
            return done[0]

    load.__name__ = f"{tab.lower()}_first_result"
    _FIRST_RESULTS[tab] = load
    return load


def warm_up() -> None:
    """Compute every tab's first result (in the background after launch)."""
    for load in list(_FIRST_RESULTS.values()):
        try:
            load()
        except Exception as e:  # never let the warm-up thread die noisily; the page load retries
            print(f"warm-up: {load.__name__}: {type(e).__name__}: {e}")


def mcp_enabled() -> bool:
    """Serve every documented endpoint as an MCP tool (``/gradio_api/mcp/``), unless
    ``PLAYGROUND_MCP=0`` or the ``mcp`` package (``gradio[mcp]``) is missing."""
    if os.environ.get("PLAYGROUND_MCP", "1").strip().lower() in ("0", "off", "no", "false"):
        return False
    try:
        import mcp  # noqa: F401
    except ImportError:
        print("MCP tools off: the mcp package is not installed (pip install 'gradio[mcp]')")
        return False
    return True


def launch(demo: gr.Blocks, **kwargs):
    """``demo.launch`` with the playground's CSS (Gradio 6 takes CSS at launch), the upload size
    limit (``limits.max_file_size``) and the MCP server (``mcp_enabled``); once the port is open,
    the tabs' first results are computed in a background thread."""
    block = not kwargs.pop("prevent_thread_lock", False)
    kwargs.setdefault("max_file_size", limits.max_file_size())
    kwargs.setdefault("mcp_server", mcp_enabled())
    result = demo.launch(css=CSS, prevent_thread_lock=True, **kwargs)
    threading.Thread(target=warm_up, name="playground-warm-up", daemon=True).start()
    if block:
        demo.block_thread()
    return result


def shared_doc(args: str = "", returns: str = ""):
    """Add the ``Args:`` lines (``name: text``, one a line) that several handlers share to the
    decorated one's docstring, and set its ``Returns:`` lines if ``returns`` is given, so shared text
    is written once: Gradio's API page and MCP tools read a handler's description, arguments and
    returns from its docstring (``gradio.utils.get_function_description``). The handler's own
    argument lines stay; all are listed in its signature's order. Put it below ``@ui_errors``,
    whose ``functools.wraps`` copies the docstring when it wraps."""

    def lines(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip()]

    def decorate(fn):
        head, _, own_returns = inspect.cleandoc(fn.__doc__ or "").partition("\nReturns:")
        description, _, own_args = head.partition("\nArgs:")
        names = list(inspect.signature(fn).parameters)
        rank = {name: i for i, name in enumerate(names)}
        merged = sorted(lines(own_args) + lines(args), key=lambda line: rank.get(line.split(":")[0], len(names)))
        doc = description.rstrip() + "\n\nArgs:\n" + "".join(f"    {line}\n" for line in merged)
        if results := lines(returns or own_returns):
            doc += "\nReturns:\n" + "".join(f"    {line}\n" for line in results)
        fn.__doc__ = doc
        return fn

    return decorate


def ui_errors(fn):
    """Turn the API's ``ValueError`` (bad input, broken checkpoint) into a ``gr.Error``, and a
    ``RuntimeError`` (out of memory on the device...) into one that says where it happened.

    Wraps plain handlers and generator handlers (streamed events) alike: a generator's errors are
    translated whenever they happen, before its first step or at any later one."""

    def translated(e: Exception) -> gr.Error:
        if isinstance(e, gr.Error):  # already meant for the page (gr.Error is a ValueError)
            return e
        if isinstance(e, ValueError):
            return gr.Error(str(e))
        return gr.Error(f"generation failed on {manager.device}: {e}")

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def stream(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except (ValueError, RuntimeError) as e:
                raise translated(e) from None

        return stream

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, RuntimeError) as e:
            raise translated(e) from None

    return wrapper


UPLOAD_HINT = "from gradio_client: handle_file(local path)"
_URL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http://, https://, file:, data: ...


def is_app_file(path) -> bool:
    """Is ``path`` (named by a client) a file uploaded to this app (Gradio's upload folder) or one
    the app handed out (a static path, see ``serve_outputs``)? The rule Gradio applies to uploads;
    anything else on the server's disk, and any URL, is not."""
    from gradio import utils

    if not isinstance(path, str) or _URL.match(path):
        return False
    try:
        return utils.is_in_or_equal(path, utils.get_upload_folder()) or utils.is_static_file(path)
    except (OSError, ValueError):  # a NUL byte, a lone surrogate: not a path of ours
        return False


_FILE_ROUTE = "/gradio_api/file="


def own_file(url: str) -> str | None:
    """The path of a file of this app named by its URL (``.../gradio_api/file=<path>``: what Gradio's
    MCP upload tool returns for a file it uploaded), or None. The URL is never fetched: the path is
    read from it, and still has to be a file uploaded to this app or handed out by it."""
    from urllib.parse import unquote, urlsplit

    try:
        route = urlsplit(url).path
    except ValueError:
        return None
    if _FILE_ROUTE not in route:
        return None
    path = unquote(route.split(_FILE_ROUTE, 1)[1])
    return path if is_app_file(path) else None


def check_file_payload(name: str, value, what: str = "an image file", multiple: bool = False) -> None:
    """``value`` as sent for a file input: None, or a Gradio FileData payload (a list of them when
    ``multiple``) naming a file uploaded to this app or handed out by it. Else a ``gr.Error``
    saying what is accepted. A URL is refused (never fetched) unless it names a file of this app
    (``own_file``), and a server path never opened."""
    if value is None:
        return
    if multiple and not isinstance(value, list):
        raise gr.Error(f"{name} must be a list of uploaded files ({UPLOAD_HINT} for each), not {short_repr(value)}")
    for item in value if multiple else [value]:
        path = item.get("path") if isinstance(item, dict) else None
        if not isinstance(path, str) or (item.get("meta") or {}).get("_type") != "gradio.FileData":
            raise gr.Error(f"{name} must be {what} uploaded to this app ({UPLOAD_HINT}), not {short_repr(item)}")
        if _URL.match(path):
            own = own_file(path)
            if own is None:
                raise gr.Error(f"{name}: URLs are not fetched ({short_repr(path)}); download the file and upload "
                               f"it ({UPLOAD_HINT})")
            item["path"], item["url"] = own, None  # read where it lies, never fetched
            path = own
        if not is_app_file(path):
            raise gr.Error(f"{name}: {short_repr(path)} is not a file uploaded to this app; upload it ({UPLOAD_HINT})")


def check_payloads(block_fn, inputs: list) -> None:
    """What a client sent for an event's file inputs (``gr.Image``, ``gr.File``) and example
    pickers (``gr.Dataset``), checked before Gradio touches it (see ``Blocks``)."""
    names = list(getattr(block_fn, "input_parameter_names", None) or [])
    for i, (block, value) in enumerate(zip(block_fn.inputs, inputs)):
        name = (names[i] if i < len(names) else None) or getattr(block, "label", None) or f"input {i + 1}"
        if isinstance(block, gr.Dataset):
            try:
                check_int("example", value, 0, len(block.samples) - 1)
            except ValueError as e:
                raise gr.Error(f"{e} (the index of one of the {len(block.samples)} examples)") from None
        elif isinstance(block, gr.Image):
            check_file_payload(name, value, "an image file")
        elif isinstance(block, gr.File):
            what = "an image file" if "image" in (block.file_types or []) else "a file"
            check_file_payload(name, value, what, multiple=block.file_count != "single")


class SelectEvent(gr.EventData):
    """What a ``.select`` listener gets, like ``gr.SelectData`` (``index``, ``value``), but built
    from any payload: a hand-made request with no or odd event data gives ``None``s instead of
    an exception inside Gradio. Handlers check ``value`` themselves."""

    def __init__(self, target, data):
        super().__init__(target, data)
        self.index = data.get("index") if isinstance(data, dict) else None
        self.value = data.get("value") if isinstance(data, dict) else None


class Blocks(gr.Blocks):
    """``gr.Blocks`` that checks what a client sends before Gradio does:

    * the file and example payloads (``check_payloads``). Gradio refuses malformed ones too, but a
      client only sees "Error" (and Gradio would fetch a URL); here each gets a ``gr.Error`` naming
      the parameter and saying what is accepted. Values Gradio never checks (numbers, text) are
      the handlers' business;
    * the work a request asks for, against the server's budget (``limits``; ``costs``: api_name ->
      the tab's ``limits.Cost``, from the registry), before any of it is done.

    A full queue answers with a message that says so (``limits.queue_full_message``)."""

    def __init__(self, *args, costs: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.costs = dict(costs or {})

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
        if not explicit_call:  # explicit calls: the app's own (example caching, demo(...))
            check_payloads(block_fn, inputs)
            check_work(block_fn.api_name, inputs, self.costs)
        return await super().preprocess_data(block_fn, inputs, state, explicit_call)

    def queue(self, *args, **kwargs):
        result = super().queue(*args, **kwargs)
        queue = self._queue
        push = queue.push

        async def push_or_say_full(*a, **kw):
            ok, detail, kind = await push(*a, **kw)
            if kind == "queue_full":
                detail = limits.queue_full_message(queue.max_size)
            return ok, detail, kind

        queue.push = push_or_say_full
        return result


def check_work(api_name: str | None, inputs: list, costs: dict) -> None:
    """A ``gr.Error`` for a request whose estimated work is over the budget (``limits.check``)."""
    if api_name not in costs:
        return
    try:
        limits.check(costs[api_name], api_name, list(inputs))
    except ValueError as e:
        raise gr.Error(str(e)) from None


def card_markdown(folder: Path) -> str:
    """A checkpoint's model card (README.md) for display in the app: the Hub front matter and
    the image links (they resolve on the Hub, not here) left out."""
    card = Path(folder) / "README.md"
    try:
        text = card.read_text(encoding="utf-8") if card.is_file() else f"No model card found in `{folder}`."
    except (OSError, ValueError) as e:  # ValueError: not UTF-8 text; a card never stops the app
        return f"The model card `{card}` cannot be read ({type(e).__name__}: {str(e)[:200]})."
    if text.startswith("---"):  # Hub metadata
        text = text.split("---", 2)[-1]
    return "\n".join(line for line in text.splitlines() if not line.startswith("!["))


def read_log(path: Path, parse) -> list[dict]:
    """The rows of a CSV log (a checkpoint's ``loss.csv``) for a plot: ``parse(record)`` turns each
    record (a dict) into a list of rows. Records that do not parse (a truncated last line) are
    skipped; a missing, unreadable or garbled file gives no rows. A plot never stops the app."""
    import csv

    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for record in csv.DictReader(f):
                try:
                    rows += parse(record)
                except (KeyError, TypeError, ValueError):
                    continue
    except FileNotFoundError:
        return []
    except (OSError, ValueError, csv.Error) as e:  # ValueError: not UTF-8 text
        print(f"cannot read {path}: {type(e).__name__}: {e}")
        return []
    return rows


def serve_outputs() -> None:
    """Let Gradio serve ``OUTPUT_DIR`` as it is (called once by ``build_demo``)."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    gr.set_static_paths([OUTPUT_DIR])


def scratch_dir(max_age_s: float = 3600, keep: bool = False) -> Path:
    """A fresh folder for one request's files under ``OUTPUT_DIR`` (``keep``: under ``KEEP_DIR``,
    kept a week). At most once a minute, folders older than ``max_age_s`` go."""
    global _last_sweep
    now = time.time()
    if now - _last_sweep > 60:
        _last_sweep = now
        kept = list(KEEP_DIR.glob("*")) if KEEP_DIR.is_dir() else []  # earlier runs' first results: a week
        for old, age in [(f, max_age_s) for f in OUTPUT_DIR.glob("*") if f != KEEP_DIR] + [(f, 7 * 86400) for f in kept]:
            try:
                if now - old.stat().st_mtime > age:
                    shutil.rmtree(old) if old.is_dir() else old.unlink()
            except OSError:
                pass
    folder = (KEEP_DIR if keep else OUTPUT_DIR) / uuid.uuid4().hex
    folder.mkdir(parents=True)
    return folder


def image_files(images: list, name: str, keep: bool = False) -> list[str]:
    """Write PIL images (tagged with their parameters, see ``images.tag``) as PNG files named
    ``name-000.png``... in a fresh folder and return their paths, for a ``gr.Gallery``.

    Done in the request's own thread after its device work: Gradio then serves the files as
    they are instead of encoding, hashing and copying each image itself."""
    folder = scratch_dir(keep=keep)
    paths = []
    for i, image in enumerate(images):
        path = folder / f"{name}-{i:03d}.png"
        save_png(image, path)
        paths.append(str(path))
    return paths
