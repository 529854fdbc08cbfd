"""Issue 24: what one visitor may ask of a public server (``playground.limits``).

The budget arithmetic per tab (unit tests), the settings read from the environment, and a real app
launched with tiny limits: a request just under each tab's budget runs and one just over is
refused with the message; an upload over the size limit is refused; MCP lists the endpoints as
tools and calls one under the same limits; a full queue answers with a message that says so.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import math
import re
import threading
import time

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from conftest import _free_port, start_app
from playground import limits, tabs

TEMPLATE = "科学技术____生产力。"


def cost(tab: str) -> limits.Cost:
    return importlib.import_module(f"playground.{tab}.tab").COST


@pytest.mark.parametrize("tab, api_name, inputs, units", [
    ("gan", "gan_generate", ["dcgan", 0, 64], 64),
    ("gan", "gan_interpolate", ["su2017", 0, 1, 10], 10),
    ("ddpm", "ddpm_generate", ["ddpm", 1000, 0.0, 0, 256], 256_000),
    ("ddpm", "ddpm_generate", ["dpm++", "25", 0.0, 0, 16.0], 400),  # numbers as a REST client may send them
    ("ddpm", "ddpm_frames", ["ddim", 10, 0.5, 3, 4], 40),
    ("ddpm", "ddpm_generate", ["dpm++", 25, 0.0, 0, 16, "ddpm-fashion-cfg", "Bag", 2.0], 800),  # guided: 2 halves
    ("ddpm", "ddpm_generate", ["dpm++", 25, 0.0, 0, 16, "ddpm-fashion-cfg", "Bag", 1.0], 400),  # conditional only
    ("ddpm", "ddpm_generate", ["dpm++", 25, 0.0, 0, 16, "ddpm-fashion-cfg", "any", None], 400),  # its default, 1
    ("ddpm", "ddpm_generate", ["dpm++", 25, 0.0, 0, 16, "runs/any-folder", "any", None], 800),  # unknown: guided
    ("ddpm", "ddpm_interpolate", [None, None, 500, 25, 8, 0], (13 + 1) * 8),  # 12.5 steps below t0 -> 13
    ("eae", "eae_generate", ["vae", 0, 100, 1.0], 100),
    ("eae", "eae_reconstruct", ["eae", None, 16, 0], 32),  # encoded and decoded
    ("eae", "eae_reconstruct", ["eae", [{"path": "a"}, {"path": "b"}], 16, 0], 4),  # the uploads, not count
    ("eae", "eae_interpolate", ["eae", 0, 1, 30], 30),
    ("eae", "eae_latent_report", ["ae-bn"], 13_000),
    ("gibbs", "gibbs_sample", [TEMPLATE, 16, 4, 200, 50, 1.0, 0, "random", "none", 0], 4 * 200 * len(TEMPLATE)),
    ("gibbs", "gibbs_chain", ["", 24, 8, 400, 0, 0.8, 50, "random", "none", 0], 8 * 400 * 24),
    ("xiangqi", "xiangqi_move", ["", "h2e2", "red", 0.0, "none"], 1),
    ("xiangqi", "xiangqi_move", ["", "h2e2", "red", 0.0, None], 4),  # the default: the one-ply lookahead
    ("xiangqi", "xiangqi_move", ["", "h2e2"], 4),  # arguments left out take the endpoint's defaults
    ("xiangqi", "xiangqi_candidates", ["h2e2", 5], 1),
    ("xiangqi", "xiangqi_watch", ["random mover", "red", 0.4, 2, "1-ply"], 2 * 150 * 4),
    ("xiangqi", "xiangqi_watch", ["fairy-stockfish depth 1", "black", 0, 3, "none"], 3 * 150),
    ("eae", "eae_generate", ["ae-bn", 0, 50, 1.0, "gmm"], 50),
    ("eae", "eae_interpolate", ["vae", 0, 1, 12, "gmm"], 12),
    ("compare", "compare_generate", [0, 8], 8),
    ("compare", "compare_nearest", [{"path": "a"}, 16], 1),
])
def test_the_work_a_request_asks_for(tab, api_name, inputs, units):
    found = limits.estimate(cost(tab), api_name, inputs)
    assert found.units == units
    assert math.isclose(found.seconds, units * cost(tab).seconds_per_unit)


@pytest.mark.parametrize("bad", [None, "abc", "NaN", float("nan"), float("inf"), -1, [], {"x": 1}, True])
def test_inputs_the_endpoint_refuses_are_left_to_it(bad):
    """A value that is not a usable count is not costed: the endpoint refuses it with its own message."""
    assert limits.estimate(cost("ddpm"), "ddpm_generate", ["dpm++", bad, 0.0, 0, 16]) is None
    limits.check(cost("ddpm"), "ddpm_generate", ["dpm++", bad, 0.0, 0, 16], budget=1e-9)  # no error


def test_over_the_budget_is_refused_with_what_to_do():
    with pytest.raises(ValueError) as e:
        limits.check(cost("ddpm"), "ddpm_generate", ["ddpm", 1000, 0.0, 0, 256], budget=60)
    message = str(e.value)
    for part in ("256,000 U-Net evaluations", "steps x n", "1,920 s", "allows at most 60 s", "about 8,000 of them", "PLAYGROUND_WORK_BUDGET",
                 "fewer steps or images", "playground.ddpm.generate("):
        assert part in message, (part, message)
    assert math.isclose(limits.check(cost("ddpm"), "ddpm_generate", ["ddpm", 1000, 0.0, 0, 8], budget=60).seconds, 60)
    assert limits.check(cost("ddpm"), "ddpm_random_seed", [], budget=1e-9) is None  # not costed


def test_settings_from_the_environment(monkeypatch):
    for name in ("SPACE_ID", "SYSTEM", "PLAYGROUND_WORK_BUDGET", "PLAYGROUND_QUEUE_SIZE", "PLAYGROUND_MAX_FILE_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert not limits.on_space()
    assert limits.work_budget() == limits.LOCAL_BUDGET_S and limits.queue_size() == limits.LOCAL_QUEUE_SIZE
    assert limits.max_file_size() == "5mb"
    monkeypatch.setenv("SYSTEM", "spaces")
    assert limits.on_space() and limits.work_budget() == limits.SPACE_BUDGET_S
    monkeypatch.delenv("SYSTEM")
    monkeypatch.setenv("SPACE_ID", "someone/playground")
    assert limits.work_budget() == limits.SPACE_BUDGET_S and limits.queue_size() == limits.SPACE_QUEUE_SIZE
    assert limits.describe()["where"] == "Hugging Face Space"
    monkeypatch.setenv("PLAYGROUND_WORK_BUDGET", "2.5")
    monkeypatch.setenv("PLAYGROUND_QUEUE_SIZE", "off")
    assert limits.work_budget() == 2.5 and limits.queue_size() is None
    monkeypatch.setenv("PLAYGROUND_WORK_BUDGET", "0")
    assert limits.work_budget() is None and limits.describe()["work budget per request"] == "none"
    for bad in ("abc", "-1", "inf"):
        monkeypatch.setenv("PLAYGROUND_WORK_BUDGET", bad)
        with pytest.raises(ValueError, match="PLAYGROUND_WORK_BUDGET"):
            limits.work_budget()


def largest(tab: str) -> list[tuple[str, list]]:
    """The largest request of each costed endpoint that the tab's widgets offer."""
    return {
        "gan": [("gan_generate", ["dcgan", 0, 256]), ("gan_interpolate", ["dcgan", 0, 1, 64])],
        "ddpm": [("ddpm_generate", ["ddpm", 1000, 0.0, 0, 256, "ddpm-fashion-cfg", "any", 10.0]),  # guided: x 2
                 ("ddpm_frames", ["ddpm", 1000, 0.0, 0, 256, "ddpm-fashion-cfg", "any", 10.0]),
                 ("ddpm_interpolate", [None, None, 999, 200, 32, 0])],
        "eae": [("eae_generate", ["eae", 0, 256, 1.0]), ("eae_reconstruct", ["eae", None, 64, 0]),
                ("eae_interpolate", ["eae", 0, 1, 64]), ("eae_latent_report", ["eae"])],
        "gibbs": [("gibbs_chain", ["", 128, 16, 2000, 0, 1.0, 0, "random", "none", 0])],
        "xiangqi": [("xiangqi_watch", ["random mover", "red", 2, 20, "1-ply"])],
        "compare": [("compare_generate", [0, 16]), ("compare_nearest", [{"path": "a"}, 16])],
    }[tab]


@pytest.mark.parametrize("tab", ["gan", "ddpm", "eae", "gibbs", "xiangqi", "compare"])
def test_a_local_launch_runs_everything_the_widgets_offer(tab):
    for api_name, inputs in largest(tab):
        limits.check(cost(tab), api_name, inputs, budget=limits.LOCAL_BUDGET_S)


def test_a_space_runs_the_defaults_and_refuses_the_heaviest():
    for tab in tabs.app_tabs():
        api_name, inputs, _ = tab.entry.MAIN
        limits.check(tab.entry.COST, api_name, list(inputs), budget=limits.SPACE_BUDGET_S)
    # a watched game with the default play, and the faithful sampler on a few images, still run there
    limits.check(cost("xiangqi"), "xiangqi_watch", ["random mover", "red", 0.4, 1, None], budget=limits.SPACE_BUDGET_S)
    limits.check(cost("ddpm"), "ddpm_generate", ["ddpm", 1000, 0.0, 0, 4], budget=limits.SPACE_BUDGET_S)
    with pytest.raises(ValueError):
        limits.check(cost("ddpm"), "ddpm_generate", ["ddpm", 1000, 0.0, 0, 256], budget=limits.SPACE_BUDGET_S)
    with pytest.raises(ValueError):
        limits.check(cost("gibbs"), "gibbs_sample", *largest("gibbs")[0][1:], budget=limits.SPACE_BUDGET_S)


# -- a real app with tiny limits ------------------------------------------------------------------

BUDGET = 0.1  # seconds of estimated compute
# endpoints that do no model work: not costed (every other documented endpoint must be)
# (ddpm_model_changed loads the chosen model, cached for the next request, and samples nothing)
FREE = {"gan_random_seed", "gan_model_card", "ddpm_preset", "ddpm_random_seed", "ddpm_model_changed", "eae_random_seed",
        "eae_model_card", "xiangqi_undo", "xiangqi_export", "gibbs_random_seed", "system_status", "compare_table"}
# per tab: a request just under the budget, and one just over it
EDGES = [
    ("gan_generate", ["dcgan", 0, 99], ["dcgan", 0, 101]),  # 0.099 s / 0.101 s
    ("ddpm_generate", ["dpm++", 3, 0.0, 0, 4], ["dpm++", 7, 0.0, 0, 3]),  # 12 / 21 U-Net evaluations
    ("eae_generate", ["eae", 0, 99, 1.0], ["eae", 0, 101, 1.0]),
    ("gibbs_sample", ["", 4, 2, 120, 0, 1.0, 0, "random", "none", 0],  # 960 / 1,040 character-steps
     ["", 4, 2, 130, 0, 1.0, 0, "random", "none", 0]),
    ("xiangqi_move", ["", "h2e2", "red", 0.0, "none"], ["", "h2e2", "red", 0.0, "1-ply"]),  # 1 / 4 replies
]


@pytest.fixture(scope="module")
def limited_url():
    yield from start_app({"PLAYGROUND_WORK_BUDGET": str(BUDGET), "PLAYGROUND_MAX_FILE_SIZE": "2kb",
                          "PLAYGROUND_CONCURRENCY": "2"}, "test-app-limits.log")


@pytest.fixture(scope="module")
def limited(limited_url):
    return Client(limited_url, verbose=False)


def test_every_endpoint_that_uses_a_model_is_costed(limited):
    named = {name.lstrip("/") for name in limited.view_api(print_info=False, return_format="dict")["named_endpoints"]}
    costed = set(tabs.costs())
    assert named - FREE == costed, (named - FREE - costed, costed - named)


@pytest.mark.parametrize("api_name, under, over", EDGES, ids=[e[0] for e in EDGES])
def test_just_under_the_budget_runs_and_just_over_is_refused(limited, api_name, under, over):
    assert limited.predict(*under, api_name=f"/{api_name}") is not None
    with pytest.raises(AppError) as e:
        limited.predict(*over, api_name=f"/{api_name}")
    message = str(e.value)
    assert "PLAYGROUND_WORK_BUDGET" in message and f"allows at most {BUDGET:g} s" in message, message
    assert "without a limit" in message and "playground." in message, message
    assert limited.predict(api_name="/system_status")["limits"]["work budget per request"].startswith(f"{BUDGET:g} s")


def test_a_streamed_request_over_the_budget_is_refused_before_it_starts(limited):
    job = limited.submit("random mover", "red", 0, 1, "none", api_name="/xiangqi_watch")  # 150 replies
    with pytest.raises(AppError, match="games x 150 replies"):
        job.result(timeout=60)
    assert job.outputs() == []  # not one move was played


def test_an_upload_over_the_size_limit_is_refused(limited_url, tmp_path):
    small, big = tmp_path / "small.png", tmp_path / "big.png"
    small.write_bytes(b"\x89PNG" + bytes(1000))
    big.write_bytes(b"\x89PNG" + bytes(4000))
    with httpx.Client(base_url=limited_url, timeout=30) as http:
        ok = http.post("gradio_api/upload", files={"files": ("small.png", small.read_bytes(), "image/png")})
        assert ok.status_code == 200, ok.text
        refused = http.post("gradio_api/upload", files={"files": ("big.png", big.read_bytes(), "image/png")})
        assert refused.status_code == 413, (refused.status_code, refused.text)
        assert "2" in refused.text and "size" in refused.text.lower(), refused.text


async def _mcp(url: str, calls: list[tuple[str, dict]]):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async with streamablehttp_client(f"{url}gradio_api/mcp/") as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            results = [await session.call_tool(name, arguments) for name, arguments in calls]
    return tools, results


def _png_data_url() -> str:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (28, 28), 128).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_mcp_tools_are_the_documented_endpoints_under_the_same_limits(limited, limited_url):
    image = _png_data_url()
    mix = {"t0": 300, "steps": 10, "points": 2, "seed": 0}  # (3 + 1) x 2 U-Net evaluations: under the budget
    with httpx.Client(base_url=limited_url, timeout=30) as http:  # what Gradio's MCP upload tool does
        import base64

        png = base64.b64decode(image.split(",", 1)[1])
        path = http.post("gradio_api/upload", files={"files": ("a.png", png, "image/png")}).json()[0]
    own = f"{limited_url}gradio_api/file={path}"
    tools, (ok, refused, uploaded, fetched, by_url, passwd) = asyncio.run(_mcp(limited_url, [
        ("gan_generate", {"arch": "dcgan", "seed": 3, "n": 2}),
        ("gan_generate", {"arch": "dcgan", "seed": 3, "n": 500}),
        ("ddpm_interpolate", {"image_a": image, "image_b": image, **mix}),  # a file sent inline: uploaded to the app
        ("ddpm_interpolate", {"image_a": "http://example.invalid/a.png", "image_b": image, **mix}),
        ("ddpm_interpolate", {"image_a": own, "image_b": own, **mix}),  # the app's own upload, by its URL
        ("ddpm_interpolate", {"image_a": f"{limited_url}gradio_api/file=/etc/passwd", "image_b": own, **mix}),
    ]))
    named = {name.lstrip("/") for name in limited.view_api(print_info=False, return_format="dict")["named_endpoints"]}
    by_name = {tool.name: tool for tool in tools}
    assert set(by_name) == named
    for tool in tools:  # every tool says what it does and what each argument allows
        assert tool.description.strip(), tool.name
        for argument, schema in tool.inputSchema.get("properties", {}).items():
            assert schema.get("description", "").strip(), (tool.name, argument)
    assert "budget" in by_name["ddpm_generate"].description

    def text(result) -> str:
        return " ".join(getattr(c, "text", "") or "" for c in result.content)

    urls = re.findall(r"http://[^'\" ]+/gradio_api/file=[^'\" ]+\.png", text(ok))
    assert not ok.isError and len(urls) == 2, text(ok)
    assert httpx.get(urls[0], timeout=30).content.startswith(b"\x89PNG")  # an agent can fetch what it made
    assert refused.isError and "PLAYGROUND_WORK_BUDGET" in text(refused), text(refused)
    assert not uploaded.isError and text(uploaded).count(".png") >= 2, text(uploaded)
    assert fetched.isError and "URLs are not fetched" in text(fetched), text(fetched)
    assert not by_url.isError and text(by_url).count(".png") >= 2, text(by_url)
    assert passwd.isError and "URLs are not fetched" in text(passwd), text(passwd)


def test_a_full_queue_answers_clearly():
    """The app's Blocks (``uikit.Blocks``): one request running, one waiting in a queue of one, the next refused
    with our message (503; ``gradio_client`` reports its own "Queue is full")."""
    import gradio as gr

    from playground.uikit import Blocks

    release = threading.Event()

    def hold(x):
        release.wait(60)
        return x

    with Blocks() as demo:
        box, out = gr.Number(), gr.Number()
        box.submit(hold, box, out, api_name="hold", concurrency_limit=1)
    demo.queue(max_size=1)
    port = _free_port()
    demo.launch(prevent_thread_lock=True, server_port=port, quiet=True)
    try:
        url = f"http://127.0.0.1:{port}/gradio_api/queue/join"
        fn_index = next(i for i, fn in demo.fns.items() if fn.api_name == "hold")
        with httpx.Client(timeout=30) as http:
            answers = []
            for i in range(3):
                answers.append(http.post(url, json={"data": [i], "fn_index": fn_index, "session_hash": f"s{i}"}))
                time.sleep(1.0)  # the first starts running; the second waits
        assert [a.status_code for a in answers] == [200, 200, 503], [a.text for a in answers]
        assert answers[2].json()["detail"] == limits.queue_full_message(1)
    finally:
        release.set()
        demo.close()


def test_the_mixed_load_bench_reports_light_beside_heavy(app_url):
    """``bench --load N --mixed H`` mechanics, small: 1 heavy client (a faithful-sampler request sized for 1 s)
    among 4; the figures themselves come from the CLI run (README)."""
    from playground.bench import bench_mixed, heaviest_allowed

    assert heaviest_allowed(60) == ("ddpm_generate", ("ddpm", 1000, 0.0, 0, 8))
    assert heaviest_allowed(2) == ("ddpm_generate", ("ddpm", 266, 0.0, 0, 1))
    report = bench_mixed(4, 1, url=app_url, budget=1)
    assert report["all light"]["users"] == 4 and report["mixed, light clients"]["users"] == 3
    assert all(row["failures"] == 0 for row in report.values()), report
    with pytest.raises(ValueError, match="--mixed"):
        bench_mixed(4, 4, url=app_url)


def test_the_page_says_why_a_request_was_refused(limited_url):
    """In the browser: 256 GAN images (0.256 s) over a 0.1 s budget: an error on the page that says
    the limit; the System panel shows the limits in force."""
    from playwright.sync_api import sync_playwright

    from test_browser import ARGS, CHROMIUM

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(limited_url)
            page.locator("#gan-gallery img").nth(63).wait_for(state="attached", timeout=120_000)  # the first result
            page.locator("#gan-n input[type=number]").fill("256")
            page.locator("#gan-n input[type=number]").press("Enter")
            page.locator("#gan-generate").click()
            page.get_by_text("PLAYGROUND_WORK_BUDGET", exact=False).first.wait_for(timeout=60_000)
            assert "256 generator evaluations" in page.content()
            page.get_by_text("System", exact=True).click()
            page.locator("#system-status").get_by_text("0.1 s of estimated compute", exact=False).wait_for(
                timeout=60_000)
        finally:
            browser.close()


def test_every_tab_declares_a_probe_the_bench_can_time():
    """``bench --costs`` times each tab's probe request through its UI handler: it must be costed, cheap
    under the Space budget, and the handler must exist."""
    for tab in tabs.app_tabs():
        api_name, inputs = tab.entry.COST.probe
        assert callable(getattr(tab.ui, api_name)), tab.name
        found = limits.check(tab.entry.COST, api_name, list(inputs), budget=limits.SPACE_BUDGET_S)
        assert found is not None and found.seconds < 10, (tab.name, found)
