"""Issue 9: every endpoint a client can call by name, every parameter, every kind of bad value.

The cases are generated from one table (``ENDPOINTS``): per endpoint, small valid arguments and,
per parameter, its kind. Each kind has its bad values (``VALUES``); each case replaces one
argument with one of them. A case passes when the call either fails with a ``gr.Error`` whose
message names the parameter and says what is allowed (no traceback, no exception dump, no
Gradio "raised an exception" placeholder, not a 100,000-character echo), or, for the values
the table marks valid for that parameter, succeeds with well-formed output. After every case
the server must still answer ``/system_status``.

Transport: ``gradio_client`` for every value it can carry. It cannot carry NaN (its JSON
encoder refuses non-finite floats) nor a lone surrogate (it sends UTF-8), so those cases go
through Gradio's REST route (``/gradio_api/call/<api_name>``) with the JSON a non-Python client
can send: ``NaN`` and ``"\\ud800"``. The same route reaches the "private" events (hidden from
the API page and from gradio_client, but still served by name); they are covered too.
"""

from __future__ import annotations

import json
import re
import struct
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx
import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
NAN = float("nan")
LONE = "\ud800"  # a lone surrogate: valid in a Python str and in JSON ("\ud800"), not in UTF-8
LONG = "x" * 100_000
PASSWD = "/etc/passwd"
SERVER_PNG = str(ROOT / "assets" / "screenshot.png")  # a real image on the server's disk, not uploaded
URL = "http://example.invalid/x.png"
CASE_TIMEOUT = 180


class Upload:
    """A local file the client uploads (gradio_client: ``handle_file``), or one the ``local_files``
    fixture makes at run time: "sample" (a small valid PNG), "bomb" (a PNG header claiming
    30,000 x 30,000 pixels: Pillow's decompression-bomb guard)."""

    def __init__(self, path: str = "sample"):
        self.path = path

    def __repr__(self):
        return f"Upload({self.path!r})"


class Named(dict):
    """A FileData payload naming a path without uploading it, as a hand-written client can send.
    (gradio_client would upload a file it finds on its own disk, here the same disk as the
    server's: these go through the REST route as they are.)"""


def file_data(path: str) -> Named:
    return Named(path=path, meta={"_type": "gradio.FileData"})


SAMPLE = Upload()

NUMBER = {"none": None, "str": "abc", "nan_str": "NaN", "empty": "", "long": LONG, "neg": -1, "zero": 0, "huge": 1e12,
          "nan": NAN}
TEXT = {"none": None, "int": 123, "nan": NAN, "empty": "", "long": LONG, "surrogate": LONE}
IMAGE = {"none": None, "int": 123, "empty": "", "long": LONG, "surrogate": LONE, "path_str": PASSWD, "url_str": URL,
         "path_dict": {"path": PASSWD}, "server_png_dict": {"path": SERVER_PNG},
         "path_filedata": file_data(PASSWD), "server_png_filedata": file_data(SERVER_PNG),
         "traversal_filedata": file_data("/tmp/gradio/../../etc/passwd"), "url_filedata": handle_file(URL),
         "upload_text": Upload(PASSWD), "upload_bomb": Upload("bomb")}
FILES = {**IMAGE, "list_int": [123], "list_path_str": [PASSWD], "list_server_png_dict": [{"path": SERVER_PNG}],
         "list_path_filedata": [file_data(PASSWD)], "list_url_filedata": [handle_file(URL)],
         "list_upload_text": [Upload(PASSWD)], "list_upload_bomb": [Upload("bomb")]}
INDEX = {**NUMBER, "past_end": 99}
VALUES = {"number": NUMBER, "text": TEXT, "choice": TEXT, "image": IMAGE, "files": FILES, "index": INDEX}


@dataclass
class P:
    kind: str
    default: Any
    valid: tuple[str, ...] = ()  # value ids that are valid for this parameter
    name: str | None = None  # regex the error message must contain (default: the parameter's name)


@dataclass
class E:
    params: dict[str, P] = field(default_factory=dict)
    check: Callable[[Any], bool] = lambda out: out is not None
    private: bool = False  # not callable through gradio_client: REST only
    documented: bool = True  # listed on the app's API page (else callable by name, but undocumented)
    stream: bool = False  # endless stream: a valid call is checked on its first output, then cancelled


def _gallery(out, n=None) -> bool:
    return isinstance(out, list) and (n is None or len(out) == n) and all(
        Path(item["image"]).is_file() for item in out)


def _view(out) -> bool:  # the xiangqi tab's (history, board, moves, candidates, status)
    return isinstance(out, (list, tuple)) and len(out) == 5 and isinstance(out[0], str) and "<svg" in out[1]


SEED = P("number", 0, valid=("none", "zero"))
GAN_ARCH = P("choice", "dcgan", name="arch")
EAE_MODEL = P("choice", "eae", name="model")
EAE_PRIOR = P("choice", "gmm", name="prior")
SIDE = P("choice", "red", name="side")
XQ_TEMP = P("number", 0, valid=("zero",), name="temperature")
XQ_SEARCH = P("choice", "none", valid=("none",), name="search")  # None: the model's default


def _history(default: str) -> P:
    """A game so far: "" (a new game) or ICCS moves; errors name the history or the faulty ply."""
    return P("text", default, valid=("empty",), name="history|ply")


DDPM_CONDITION = {"model": P("choice", "ddpm-fashion-cfg", valid=("none",)),  # None: the default model
                  "label": P("choice", "Trouser", valid=("none",)),  # None: a class per image
                  "guidance": P("number", 2.0, valid=("none", "zero"))}  # None: the model's measured best
DDPM_SAMPLING = {"sampler": P("choice", "dpm++"), "steps": P("number", 2), "eta": P("number", 0, valid=("zero",)),
                 "seed": SEED, "n": P("number", 1), **DDPM_CONDITION}
GIBBS = {"template": P("text", "__", valid=("none", "empty")), "length": P("number", 2),
         "n": P("number", 1, name=r"\bn\b|chains"), "steps": P("number", 2),
         "burn_in": P("number", 0, valid=("zero",), name="burn.in"),
         "temperature": P("number", 1.0), "top_k": P("number", 0, valid=("zero",)),
         "order": P("choice", "random"), "anneal": P("choice", "none", valid=("none", "empty")), "seed": SEED,
         "method": P("choice", "mask-predict", valid=("none",)),
         "domain": P("choice", "review", valid=("none", "empty"))}

ENDPOINTS: dict[str, E] = {
    "gan_generate": E({"arch": GAN_ARCH, "seed": SEED, "n": P("number", 1)}, lambda out: _gallery(out, 1)),
    "gan_interpolate": E({"arch": GAN_ARCH, "seed_a": SEED, "seed_b": SEED, "steps": P("number", 2)},
                         lambda out: _gallery(out[0], 2) and Path(out[1]).is_file()),
    "gan_random_seed": E(check=lambda out: 0 <= out < 2**32),
    "gan_model_card": E({"arch": GAN_ARCH}, lambda out: isinstance(out[0], str)),
    "ddpm_preset": E({"preset": P("choice", "balanced")}, lambda out: out[0] in ("ddpm", "ddim", "dpm++")),
    "ddpm_frames": E(DDPM_SAMPLING, lambda out: _gallery(out[2], 1)),
    "ddpm_generate": E(DDPM_SAMPLING, lambda out: _gallery(out, 1)),
    "ddpm_interpolate": E({"image_a": P("image", SAMPLE, name="image.?a"),
                           "image_b": P("image", SAMPLE, name="image.?b"),
                           "t0": P("number", 500), "steps": P("number", 2), "points": P("number", 2), "seed": SEED},
                          lambda out: _gallery(out[0], 2) and Path(out[1]).is_file()),
    "ddpm_random_seed": E(check=lambda out: 0 <= out < 2**32),
    "ddpm_sampler_grid": E({"seed": SEED, **DDPM_CONDITION}, lambda out: _gallery(out, 20)),
    "ddpm_model_changed": E({"model": P("choice", "ddpm-fashion-cfg")}),
    # ``saved`` and ``selected`` are gr.State: the server uses the session's value, whatever is sent
    "ddpm_scrub": E({"index": P("number", 1, valid=tuple(NUMBER)), "saved": P("text", None, valid=tuple(TEXT))},
                    private=True),  # nothing saved in a new session: a no-op
    # a gallery click; sent without event data (nothing clicked): a no-op once the target is valid
    "ddpm_pick": E({"target": P("choice", "A")}, private=True),
    "eae_generate": E({"model": EAE_MODEL, "seed": SEED, "n": P("number", 1), "temperature": P("number", 1.0),
                       "prior": EAE_PRIOR}, lambda out: _gallery(out, 1)),
    "eae_reconstruct": E({"model": EAE_MODEL, "files": P("files", None, valid=("none",), name="upload|files"),
                          "count": P("number", 1), "seed": SEED}, lambda out: _gallery(out[0], 1)),
    "eae_interpolate": E({"model": EAE_MODEL, "seed_a": SEED, "seed_b": SEED, "steps": P("number", 2),
                          "prior": EAE_PRIOR},
                         lambda out: _gallery(out[0], 2) and Path(out[1]).is_file()),
    "eae_latent_report": E({"model": EAE_MODEL}),  # every bad model is refused before the (slow) report
    "eae_random_seed": E(check=lambda out: 0 <= out < 2**32),
    "eae_model_card": E({"model": EAE_MODEL}, lambda out: isinstance(out[0], str)),
    "xiangqi_move": E({"history": _history(""), "move": P("text", "h2e2"), "side": SIDE,
                       "temperature": XQ_TEMP, "search": XQ_SEARCH}, _view),
    "xiangqi_move_1": E({"history": _history(""), "move": P("text", "h2e2"), "side": SIDE,
                         "temperature": XQ_TEMP, "search": XQ_SEARCH}, private=True),
    "xiangqi_new_game": E({"side": SIDE, "temperature": XQ_TEMP, "search": XQ_SEARCH}, _view),
    "xiangqi_new_game_1": E({"side": SIDE, "temperature": XQ_TEMP, "search": XQ_SEARCH}, private=True),
    "xiangqi_evaluation": E({"history": _history("h2e2")}, lambda out: "xiangqi-eval" in out),
    "xiangqi_undo": E({"history": _history("h2e2 h9g7"), "side": SIDE}, _view),
    "xiangqi_export": E({"history": _history("h2e2"), "side": SIDE},
                        lambda out: Path(out).is_file()),
    "xiangqi_candidates": E({"history": _history(""), "k": P("number", 2)},
                            lambda out: len(out["data"]) == 2),
    "xiangqi_watch": E({"opponent": P("choice", "random mover"), "model_side": P("choice", "red", name="side"),
                        "delay": P("number", 0, valid=("zero",)), "games": P("number", 2),
                        "search": XQ_SEARCH}, stream=True),
    "xiangqi_click": E({"history": _history(""), "selected": P("text", "", valid=tuple(TEXT), name="selected"),
                        "side": SIDE, "temperature": XQ_TEMP}, private=True),
    "xiangqi_reply": E({"history": _history("h2e2"), "side": SIDE,
                        "temperature": XQ_TEMP, "search": XQ_SEARCH}, private=True),
    "gibbs_chain": E(GIBBS, lambda out: len(out[1].splitlines()) == 1 and Path(out[2]).is_file()),
    "gibbs_sample": E(GIBBS, lambda out: len(out[0].splitlines()) == 1 and Path(out[1]).is_file()),
    "gibbs_random_seed": E(check=lambda out: 0 <= out < 2**32),
    # choosing a sampler sets its steps, burn-in, order and temperature
    "gibbs_method_preset": E({"method": P("choice", "mask-predict")}, lambda out: list(out) == [10, 0, "random", 1.0],
                             private=True),
    "compare_generate": E({"seed": SEED, "count": P("number", 1)}, lambda out: _gallery(out[0]) and len(out[0]) >= 9),
    "compare_columns": E({"count": P("number", 1)}, private=True),  # the gallery's columns after a draw
    "compare_table": E(check=lambda out: len(out[0]["data"]) >= 9),
    "compare_nearest": E({"image": P("image", SAMPLE), "k": P("number", 1)}, lambda out: _gallery(out[0], 1)),
    # a gallery click's follow-up (the clicked sample's neighbours): the same handler, by another name
    "compare_pick_nearest": E({"image": P("image", SAMPLE), "k": P("number", 1)}, private=True),
    "load_example": E({"index": P("index", 0, valid=("zero",), name="example")},
                      lambda out: isinstance(out, dict), documented=False),
    "system_status": E(check=lambda out: "device" in out),
    "system_status_on_load": E(check=lambda out: "device" in out, documented=False),
    # the tabs' page-load results
    "gan_first_result": E(check=lambda out: _gallery(out, 64), documented=False),
    "ddpm_first_result": E(check=lambda out: _gallery(out, 16), documented=False),
    "eae_first_result": E(check=lambda out: _gallery(out, 64), documented=False),
    "xiangqi_first_result": E(check=lambda out: len(out["data"]) == 5, documented=False),
    "compare_first_result": E(check=lambda out: _gallery(out[0]) and len(out[0]) >= 72, documented=False),
    "gibbs_first_result": E(check=lambda out: isinstance(out, str) and len(out.splitlines()) == 4, documented=False),
}
# Not in the table: events without a function (Cancel buttons) and the lambdas that clear a
# textbox, which take no input.


def _cases():
    for api, e in ENDPOINTS.items():
        if not e.params:
            yield pytest.param(api, None, "no_arguments", id=f"{api}-no_arguments")
        for name, p in e.params.items():
            for vid in VALUES[p.kind]:
                yield pytest.param(api, name, vid, id=f"{api}-{name}-{vid}")


CASES = list(_cases())
LEAKS = re.compile(r"Traceback|File \"|\b\w+(Error|Exception|Warning):|raised an exception|show_error|"
                   r"validation error for|pydantic", re.I)
SAYS_WHAT_IS_ALLOWED = re.compile(r"must|one of|between|at most|at least|pick|upload|handle_file|expected|only|"
                                  r"give|mark|use |e\.g\.", re.I)


# --------------------------------------------------------------------------- transport
def _json_safe(args) -> bool:
    """Can gradio_client send ``args``? (strict JSON, UTF-8)"""
    try:
        json.dumps(args, allow_nan=False, ensure_ascii=False).encode("utf-8")
        return True
    except (ValueError, UnicodeEncodeError):
        return False


def _has_named(value) -> bool:
    return isinstance(value, Named) or (isinstance(value, list) and any(_has_named(v) for v in value))


def _materialise(value, upload: Callable[[str], dict]):
    """``Upload`` placeholders -> file payloads (``upload(path)``), anywhere in ``value``."""
    if isinstance(value, Upload):
        return upload(value.path)
    if isinstance(value, list):
        return [_materialise(v, upload) for v in value]
    return value


def _rest_upload(app_url: str, path: str) -> dict:
    """Upload a file the way gradio_client does, for a REST call: a FileData payload in Gradio's cache."""
    with open(path, "rb") as f:
        r = httpx.post(f"{app_url.rstrip('/')}/gradio_api/upload", files={"files": (Path(path).name, f)}, timeout=30)
    r.raise_for_status()
    return file_data(r.json()[0])


def _rest(app_url: str, api: str, args: list, timeout: float = CASE_TIMEOUT) -> tuple[str, Any]:
    """Call ``api`` through Gradio's REST route with ``args`` as JSON a non-Python client may send
    (NaN, "\\ud800"). Returns ("ok", output) or ("error", message)."""
    url = f"{app_url.rstrip('/')}/gradio_api/call/{api}"
    body = json.dumps({"data": args}, allow_nan=True)  # ensure_ascii: a lone surrogate goes as \ud800
    r = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=30)
    if r.status_code != 200:
        return "error", f"HTTP {r.status_code}: {r.text[:500]}"
    event_id = r.json()["event_id"]
    event = None
    with httpx.stream("GET", f"{url}/{event_id}", timeout=timeout) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = json.loads(line[5:])
                if event == "complete":
                    return "ok", data
                return "error", (data.get("error") if isinstance(data, dict) else data) or ""
    return "error", "the stream ended without a result"


def _call(client, app_url: str, api: str, e: E, args: list, local_files: dict) -> tuple[str, Any]:
    """One call of ``api`` with ``args``: ("ok", output) or ("error", message)."""
    if e.private or not _json_safe(_materialise(args, lambda path: {})) or _has_named(args):
        return _rest(app_url, api, _materialise(args, lambda path: _rest_upload(app_url, local_files.get(path, path))))
    job = client.submit(*_materialise(args, lambda path: handle_file(local_files.get(path, path))), api_name=f"/{api}")
    try:
        if e.stream:  # wait for the first output (or the error), then stop the stream
            deadline = time.time() + CASE_TIMEOUT
            while not job.done() and not job.outputs() and time.time() < deadline:
                time.sleep(0.05)
            if job.outputs():
                job.cancel()
                return "ok", job.outputs()[0]
        return "ok", job.result(timeout=CASE_TIMEOUT)
    except AppError as err:
        return "error", str(err)


@pytest.fixture(scope="module")
def local_files(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("bad-input")
    Image.fromarray(np.tile(np.arange(28, dtype=np.uint8) * 9, (28, 1))).save(folder / "sample.png")

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 30_000, 30_000, 8, 0, 0, 0, 0)  # 8-bit greyscale
    (folder / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b""))
                                      + chunk(b"IEND", b""))
    return {"sample": str(folder / "sample.png"), "bomb": str(folder / "bomb.png")}


# --------------------------------------------------------------------------- the test
def test_the_table_covers_every_endpoint_a_client_can_name(client):
    """Every public and undocumented endpoint (callable by api_name) is in the table, with its parameters;
    the app's API page lists exactly the table's documented endpoints, with the same parameters (so an
    endpoint renamed, dropped or hidden fails here)."""
    info = client.view_api(print_info=False, return_format="dict")
    public = {name.lstrip("/"): [p["parameter_name"] for p in ep["parameters"]]
              for name, ep in info["named_endpoints"].items()}
    config = httpx.get(f"{client.src.rstrip('/')}/config", timeout=30).json()
    callable_by_name = {d["api_name"] for d in config["dependencies"]
                        if d.get("api_name") and d.get("backend_fn") and d.get("api_visibility") != "private"}
    private_with_inputs = {d["api_name"] for d in config["dependencies"]
                           if d.get("api_name") and d.get("backend_fn") and d.get("api_visibility") == "private"
                           and d["inputs"]}
    assert callable_by_name - set(ENDPOINTS) == set()
    assert private_with_inputs - set(ENDPOINTS) == set()
    assert set(ENDPOINTS) - callable_by_name - private_with_inputs == set()  # no stale entries
    assert set(public) == {api for api, e in ENDPOINTS.items() if e.documented and not e.private}
    for api, params in public.items():
        assert list(ENDPOINTS[api].params) == params, api
    assert len(CASES) >= 60


@pytest.mark.parametrize("api, param, vid", CASES)
def test_bad_input(client, app_url, local_files, api, param, vid):
    e = ENDPOINTS[api]
    args = [p.default for p in e.params.values()]
    valid = param is None
    if param is not None:
        p = e.params[param]
        args[list(e.params).index(param)] = VALUES[p.kind][vid]
        valid = vid in p.valid
    status, out = _call(client, app_url, api, e, args, local_files)
    try:
        if valid:
            assert status == "ok", f"a valid value was refused: {out!r:.500}"
            assert e.private or e.check(out), f"malformed output: {out!r:.500}"
        else:
            assert status == "error", f"accepted: {out!r:.300}"
            message = str(out)
            assert message and message != "Error", "an error without a message"
            assert not LEAKS.search(message), f"internals leak: {message[:500]!r}"
            assert len(message) < 1000, f"the message echoes too much: {message[:200]!r}... ({len(message)} chars)"
            name = p.name or rf"\b{re.escape(param)}\b"
            assert re.search(name, message, re.I), f"the message does not name {param!r}: {message!r}"
            assert SAYS_WHAT_IS_ALLOWED.search(message), f"the message does not say what is allowed: {message!r}"
            assert "root:" not in message  # no server file content
    finally:
        # the server answers the next request
        assert "device" in client.submit(api_name="/system_status").result(timeout=60)


# --------------------------------------------------------------------------- event data and session state
def _queue_call(app_url: str, api: str, data: list, event_data=None, session: str | None = None) -> tuple[str, Any]:
    """Call the event named ``api`` the way the page does (queue/join by fn_index, in ``session``),
    with ``event_data`` (what a click reports): ("ok", output) or ("error", message)."""
    base = f"{app_url.rstrip('/')}/gradio_api"
    config = httpx.get(f"{app_url.rstrip('/')}/config", timeout=30).json()
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == api)
    session = session or uuid.uuid4().hex
    r = httpx.post(f"{base}/queue/join", json={"data": data, "event_data": event_data, "fn_index": fn_index,
                                               "trigger_id": None, "session_hash": session}, timeout=30)
    r.raise_for_status()
    with httpx.stream("GET", f"{base}/queue/data", params={"session_hash": session}, timeout=CASE_TIMEOUT) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed":
                    out = msg["output"]
                    return ("ok", out["data"]) if msg.get("success") else ("error", out.get("error") or "")
    return "error", "the stream ended without a result"


def test_a_gallery_click_hands_back_only_the_apps_own_files(client, app_url):
    """ddpm_pick puts the clicked sample's path into image A: the path comes from the client's event
    data, so a server file or a URL there is refused, never served or fetched."""
    status, out = _rest(app_url, "gan_generate", ["dcgan", 0, 1])
    own = out[0][0]["image"]["path"]  # a file the app made
    cases = {
        "own file": ({"index": 0, "value": {"image": {"path": own}}}, "ok"),
        "server file": ({"index": 0, "value": {"image": {"path": SERVER_PNG}}}, "not in the cache|this app's images"),
        "url": ({"index": 0, "value": {"image": {"path": URL}}}, "this app's images"),
        "traversal": ({"index": 0, "value": {"image": {"path": f"{Path(own).parent}/../../../etc/passwd"}}},
                      "not in the cache|this app's images"),
        "junk": ({"index": 0, "value": "junk"}, "ok"),
        "nothing": (None, "ok"),
    }
    for what, (event_data, expected) in cases.items():
        status, out = _queue_call(app_url, "ddpm_pick", ["A"], event_data)
        if expected == "ok":
            assert status == "ok", (what, out)
        else:
            assert status == "error" and re.search(expected, out) and not LEAKS.search(out), (what, out)
        assert "device" in client.predict(api_name="/system_status")
    status, out = _queue_call(app_url, "ddpm_pick", ["A"], cases["own file"][0])
    assert Path(out[0]["path"]).is_file() and out[1] == {"__type__": "update"}  # image A set, B left alone
    for event_data in ({"value": 5}, {"value": "z9"}, {"index": None}, None):  # a board click: a square or nothing
        assert _queue_call(app_url, "xiangqi_click", ["", "", "red", 0], event_data)[0] == "ok"


def test_scrubbing_checks_the_step_of_a_real_run(client, app_url):
    """ddpm_scrub reads the session's saved steps (gr.State): after a real run, a bad step is refused."""
    session = uuid.uuid4().hex
    status, out = _queue_call(app_url, "ddpm_frames", ["dpm++", 3, 0, 0, 1, "ddpm-fashion-cfg", "any", 1.0],
                              session=session)  # the page sends every input, the model's three included
    assert status == "ok", out
    for index in (1, 2.0, 3):
        assert _queue_call(app_url, "ddpm_scrub", [index, None], session=session)[0] == "ok"
    for index in (None, "abc", "", LONG, 0, -1, 4, 1e12, 1.5):
        status, message = _queue_call(app_url, "ddpm_scrub", [index, None], session=session)
        assert status == "error" and "step must be" in message and len(message) < 1000, (index, message)
    assert "device" in client.predict(api_name="/system_status")
