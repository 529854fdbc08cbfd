"""Timing the app through HTTP (``python -m playground bench --http`` / ``--load N``).

* ``--http``: each tab's main endpoint called in process (the UI handler itself, exactly what
  the server runs) and through ``python app.py`` in a subprocess with ``gradio_client``: the round trip alone (what
  a browser waits for before it fetches the images in parallel) and with every file downloaded.
* ``--load N``: N concurrent users, each with its own client, spread over the tabs' main
  endpoints (from the registry, ``playground.tabs``) with the UI's default inputs; the same N calls one after another for comparison.
  Every output is checked (image files open whole, counts right); p50 and max latency printed.
* ``--load N --mixed H``: under a Space's limits (``SYSTEM=spaces``: the strict work budget), H of
  the N clients send the heaviest request the budget allows (``heaviest_allowed``) while the
  other N - H send the light main calls; their latency is printed beside an all-light burst of N
  on the same server: what a visitor feels while others ask for the most they may.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

from . import tabs


def _ssl_context():
    import ssl

    return ssl.create_default_context()


SSL_CONTEXT = _ssl_context()


class App:
    """``python app.py`` in a subprocess on a free port, as users run it (the clients then do not
    share the server's interpreter and its GIL). ``root``: the checkout whose app.py to run."""

    def __init__(self, root: str | Path | None = None, timeout: float = 180, env: dict | None = None):
        import os
        import socket
        import subprocess
        import sys
        import urllib.request

        root = Path(root) if root else Path(__file__).resolve().parent.parent
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False", **(env or {}))
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=root, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}/"
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app.py exited with code {self.proc.returncode}")
            try:
                urllib.request.urlopen(self.url, timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    self.close()
                    raise RuntimeError(f"app.py did not answer within {timeout:.0f} s") from None
                time.sleep(0.2)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except Exception:
            self.proc.kill()


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:8.1f} ms"


def check_output(api_name: str, result, images: int | None = None) -> None:
    """Raise if an endpoint's result is not whole: every image file opens and has all its
    pixels, galleries hold the number of images asked for (``images``; default: the main call's)."""
    from PIL import Image

    expected = tabs.expected_images()
    if images is not None:
        expected[api_name] = images
    if api_name in expected:
        items = result
        if len(items) != expected[api_name]:
            raise AssertionError(f"{api_name}: {len(items)} images, expected {expected[api_name]}")
        for item in items:
            path = item["image"] if isinstance(item, dict) else item[0]
            if isinstance(path, dict):
                path = path.get("path")
            if path and Path(path).is_file():
                with Image.open(path) as im:
                    im.load()  # a truncated file raises here
                    if im.size != (28, 28):
                        raise AssertionError(f"{api_name}: image of size {im.size}")
    else:  # a tab with other outputs checks them itself
        for tab in tabs.app_tabs():
            if tab.entry.MAIN[0] == api_name and hasattr(tab.entry, "check_main"):
                tab.entry.check_main(result)


def _run_handler(handler, args):
    """A UI handler's result; a streaming handler (a generator) is run to its last update."""
    import inspect

    result = handler(*args)
    if inspect.isgenerator(result):
        for result in result:
            pass
    return result


def bench_http(repeats: int) -> None:
    """Per main endpoint: the handler in process, the HTTP round trip, and with downloads."""
    from gradio_client import Client

    handlers = tabs.handlers()
    app = App()
    url = app.url
    try:
        with tempfile.TemporaryDirectory() as downloads:
            clients = {"round trip": Client(url, verbose=False, download_files=False),
                       "+ downloads": Client(url, verbose=False, download_files=downloads)}
            for tab in tabs.app_tabs():  # wait for the server's warm-up (the tabs' first results) to finish
                clients["round trip"].predict(api_name=f"/{tab.name}_first_result")
            print(f"{'endpoint (median of ' + str(repeats) + ')':34s} {'in process':>11s} {'round trip':>11s}"
                  f" {'ratio':>6s} {'+ downloads':>11s}")
            for api_name, args in tabs.main_calls():
                medians = {}
                for label, fn in [("in process", lambda: _run_handler(handlers[api_name], args))] + [
                        (lab, lambda c=c: c.predict(*args, api_name=f"/{api_name}")) for lab, c in clients.items()]:
                    fn()  # warm
                    times = []
                    for _ in range(repeats):
                        t0 = time.perf_counter()
                        fn()
                        times.append(time.perf_counter() - t0)
                    medians[label] = statistics.median(times)
                print(f"/{api_name:33s}{_ms(medians['in process'])} {_ms(medians['round trip'])} "
                      f"{medians['round trip'] / medians['in process']:5.1f}x {_ms(medians['+ downloads'])}")
    finally:
        app.close()


def bench_load(users: int, url: str | None = None) -> dict:
    """``users`` concurrent gradio_client users over the tabs' main endpoints (user i calls
    the i-th modulo their number, ``tabs.main_calls()``), against the same calls made one after another; round trip only
    and with every file downloaded. Prints and returns the figures."""
    from gradio_client import Client

    app = None
    if url is None:
        app = App()
        url = app.url
    main_calls = tabs.main_calls()
    calls = [main_calls[i % len(main_calls)] for i in range(users)]
    report = {}
    try:
        with tempfile.TemporaryDirectory() as downloads:
            for label, download in (("round trip", False), ("+ downloads", downloads)):
                # one SSL context for all: gradio_client otherwise builds a new one (~30 ms of CPU,
                # loading the CA store) for every file it downloads, on the server's cores here
                clients = [Client(url, verbose=False, download_files=download, ssl_verify=SSL_CONTEXT)
                           for _ in range(users)]
                for api_name, args in main_calls:  # warm every model
                    clients[0].predict(*args, api_name=f"/{api_name}")
                sequential = []
                t0 = time.perf_counter()
                for api_name, args in calls:
                    t1 = time.perf_counter()
                    check_output(api_name, clients[0].predict(*args, api_name=f"/{api_name}"))
                    sequential.append(time.perf_counter() - t1)
                seq_total = time.perf_counter() - t0

                t0 = time.perf_counter()
                latencies, errors = _burst(clients, calls, "user")
                burst = time.perf_counter() - t0
                row = {"users": users, "sequential_s": seq_total, "burst_s": burst, "ratio": burst / seq_total,
                       "p50_s": statistics.median(latencies), "max_s": max(latencies),
                       "sequential_p50_s": statistics.median(sequential), "failures": len(errors)}
                report[label] = row
                print(f"load {users} users, {label:12s}: burst {burst:6.2f} s vs one after another {seq_total:6.2f} s "
                      f"({row['ratio']:.2f}x); latency p50 {row['p50_s']:5.2f} s, max {row['max_s']:5.2f} s; "
                      f"failures {len(errors)}")
                for e in errors[:5]:
                    print("   ", e)
    finally:
        if app is not None:
            app.close()
    return report


def bench_costs(repeats: int = 3) -> list[dict]:
    """Each tab's declared cost against this machine: its probe request run through the UI handler
    (what the server runs), warm, median of ``repeats``, divided by the units the cost counts."""
    from . import limits

    rows = []
    for tab in tabs.app_tabs():
        cost = getattr(tab.entry, "COST", None)
        if cost is None or cost.probe is None:
            continue
        api_name, inputs = cost.probe
        handler = getattr(tab.ui, api_name)
        estimate = limits.estimate(cost, api_name, list(inputs))

        def run():
            result = handler(*inputs)
            if hasattr(result, "__next__"):  # a streamed endpoint: to its end
                for _ in result:
                    pass

        run()  # warm-up: loads the model
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        measured = statistics.median(times) / estimate.units
        rows.append({"tab": tab.name, "request": f"/{api_name} {inputs}", "units": estimate.units,
                     "declared_s": cost.seconds_per_unit, "measured_s": measured})
        print(f"{tab.name:8s} {cost.unit:45s} declared {cost.seconds_per_unit:.2g} s, measured {measured:.2g} s "
              f"({measured / cost.seconds_per_unit:.2f}x) per unit; /{api_name} {inputs}")
    return rows


def heaviest_allowed(budget: float) -> tuple[str, tuple]:
    """The heaviest request a work budget (seconds) lets through: the DDPM tab's faithful sampler
    (the costliest unit here), 1000 steps on as many images as the budget allows (fewer steps on
    one image when not even one fits)."""
    from .ddpm.tab import COST, MAIN

    evaluations = int(budget / COST.seconds_per_unit)
    steps, n = (1000, min(256, evaluations // 1000)) if evaluations >= 1000 else (max(1, evaluations), 1)
    _, _, eta, seed, _ = MAIN[1]
    return MAIN[0], ("ddpm", steps, eta, seed, n)


def _burst(clients: list, calls: list, label: str, images: int | None = None) -> tuple[list[float], list[str]]:
    """Every client makes its call at once (a barrier); returns the latencies and the errors
    (``images``: the gallery size each call asks for, if not the main call's)."""
    latencies, errors = [None] * len(calls), []
    barrier = threading.Barrier(len(calls) + 1)

    def user(i: int) -> None:
        api_name, args = calls[i]
        barrier.wait()
        t1 = time.perf_counter()
        try:
            check_output(api_name, clients[i].predict(*args, api_name=f"/{api_name}"), images)
        except Exception as e:  # reported by the caller; the burst goes on
            errors.append(f"{label} {i} /{api_name}: {type(e).__name__}: {e}")
        latencies[i] = time.perf_counter() - t1

    threads = [threading.Thread(target=user, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    barrier.wait()
    for t in threads:
        t.join()
    return latencies, errors


def bench_mixed(users: int, heavy: int, url: str | None = None, budget: float | None = None) -> dict:
    """``heavy`` clients send the heaviest request allowed while ``users - heavy`` send light main
    calls, under a Space's limits; beside an all-light burst of ``users`` on the same server.
    ``budget``: size the heavy request for this many seconds instead of the server's budget."""
    from gradio_client import Client

    from . import limits

    if not 0 < heavy < users:
        raise ValueError(f"--mixed must be between 1 and USERS - 1 ({users - 1}), not {heavy}")
    app = None
    if url is None:
        app = App(env={"SYSTEM": "spaces"})
        url = app.url
    try:
        clients = [Client(url, verbose=False, download_files=False, ssl_verify=SSL_CONTEXT) for _ in range(users)]
        in_force = clients[0].predict(api_name="/system_status")["limits"]
        main_calls = tabs.main_calls()
        for api_name, args in main_calls:  # warm every model
            clients[0].predict(*args, api_name=f"/{api_name}")
        heavy_call = heaviest_allowed(budget or in_force["work budget (s)"] or limits.SPACE_BUDGET_S)
        print(f"server: {url} (work budget per request: {in_force['work budget per request']}); "
              f"heavy request: /{heavy_call[0]} {heavy_call[1]}")
        light = [main_calls[i % len(main_calls)] for i in range(users)]
        latencies, errors = _burst(clients, light, "light")
        report = {"all light": {"users": users, "p50_s": statistics.median(latencies), "max_s": max(latencies),
                                "failures": len(errors)}}

        heavy_out: dict = {}

        def heavy_burst():
            heavy_out["latencies"], heavy_out["errors"] = _burst(clients[:heavy], [heavy_call] * heavy, "heavy",
                                                                 images=heavy_call[1][-1])

        runner = threading.Thread(target=heavy_burst)
        runner.start()
        time.sleep(2.0)  # the heavy requests are under way
        light_latencies, light_errors = _burst(clients[heavy:], light[:users - heavy], "light")
        runner.join()
        errors += light_errors + heavy_out["errors"]
        report["mixed, light clients"] = {"users": users - heavy, "p50_s": statistics.median(light_latencies),
                                          "max_s": max(light_latencies), "failures": len(light_errors)}
        report["mixed, heavy clients"] = {"users": heavy, "p50_s": statistics.median(heavy_out["latencies"]),
                                          "max_s": max(heavy_out["latencies"]), "failures": len(heavy_out["errors"])}
        for label, row in report.items():
            print(f"{label:22s}: {row['users']:2d} users, latency p50 {row['p50_s']:6.2f} s, max {row['max_s']:6.2f} s; "
                  f"failures {row['failures']}")
        ratio = report["mixed, light clients"]["p50_s"] / report["all light"]["p50_s"]
        print(f"light p50 with {heavy} heavy clients: {ratio:.2f}x the all-light p50 (goal: within 2x)")
        for e in errors[:5]:
            print("   ", e)
        return report
    finally:
        if app is not None:
            app.close()



BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic"]


def bench_page(repeats: int = 3, url: str | None = None) -> list[float]:
    """In headless Chromium (Debian's), on a warm server: seconds from opening the page to the Compare
    tab's first row of samples (8 images) loaded, for ``repeats`` fresh pages. The first page load
    (the warm-up, which computes the tabs' first results) is not counted."""
    import shutil

    from playwright.sync_api import sync_playwright

    from .compare import api as compare

    first_row = ("() => { const i = [...document.querySelectorAll('#compare-gallery img')].slice(0, 8);"
                 " return i.length === 8 && i.every(x => x.complete && x.naturalWidth === 28); }")
    app = None if url else App()
    url = url or app.url
    times = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                        headless=True, args=BROWSER_ARGS)
            try:
                for i in range(repeats + 1):
                    page = browser.new_page(viewport={"width": 1280, "height": 1000})
                    t0 = time.perf_counter()
                    page.goto(url)
                    page.get_by_role("tab", name="Compare · every image model").click()
                    page.wait_for_function(first_row, timeout=300_000)
                    seconds = time.perf_counter() - t0
                    rows = page.locator("#compare-gallery img").count() // 8
                    print(f"{'warm-up' if i == 0 else 'page load'}: the Compare tab's first row in {seconds:.2f} s "
                          f"({rows} of {len(compare.models())} rows by then)")
                    if i:
                        times.append(seconds)
                    page.close()
            finally:
                browser.close()
    finally:
        if app is not None:
            app.close()
    print(f"median over {repeats} page loads: {statistics.median(times):.2f} s")
    return times
