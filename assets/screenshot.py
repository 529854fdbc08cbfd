"""Regenerate the README's screenshots: assets/screenshot.png (the GAN tab),
assets/screenshot-ddpm.png, -eae.png, -xiangqi.png, -gibbs.png and -compare.png: launch the app, generate,
interpolate / reconstruct / denoise / play / sample / compare, capture.

    python assets/screenshot.py [gan] [ddpm] [eae] [xiangqi] [gibbs] [compare]     # default: all of them
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from playground.ui import build_demo, launch  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]

WANTED = set(sys.argv[1:]) or {"gan", "ddpm", "eae", "xiangqi", "gibbs", "compare"}
demo = build_demo()
_, url, _ = launch(demo, prevent_thread_lock=True, quiet=True)
try:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        if "gan" in WANTED:
            page.locator("#gan-generate").click()
            page.locator("#gan-gallery img").nth(63).wait_for(state="attached", timeout=60_000)
            page.locator("#gan-interpolate").click()
            page.locator("#gan-gif img").wait_for(timeout=60_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(ROOT / "assets" / "screenshot.png"), full_page=False)
        if "ddpm" in WANTED:
            page.get_by_role("tab", name="DDPM · diffusion").click()
            page.locator("#ddpm-generate").click()
            page.locator("#ddpm-gallery img").nth(15).wait_for(state="attached", timeout=120_000)
            page.locator("#ddpm-gif a, #ddpm-gif .file-preview").first.wait_for(timeout=60_000)
            page.set_viewport_size({"width": 1280, "height": 1100})
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ROOT / "assets" / "screenshot-ddpm.png"), full_page=False)
            page.set_viewport_size({"width": 1280, "height": 900})
        if "eae" in WANTED:
            page.get_by_role("tab", name="EAE · entropic autoencoder").click()
            page.locator("#eae-gallery img").nth(63).wait_for(state="attached", timeout=60_000)
            page.locator("#eae-reconstruct").click()
            page.locator("#eae-pairs img").nth(15).wait_for(state="attached", timeout=60_000)
            page.set_viewport_size({"width": 1280, "height": 1350})  # samples and reconstructions in one frame
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ROOT / "assets" / "screenshot-eae.png"), full_page=False)
        if "xiangqi" in WANTED:
            page.get_by_role("tab", name="Xiangqi · 象棋 GPT").click()
            page.set_viewport_size({"width": 1280, "height": 1000})
            for ply, move in enumerate(["炮二平五", "马二进三", "车一平二"]):
                page.locator("#xiangqi-move-input textarea").fill(move)
                page.locator("#xiangqi-play").click()
                page.wait_for_function(
                    "n => { const t = document.querySelector('#xiangqi-history textarea');"
                    " return t && t.value.split(' ').length === n; }", arg=2 * (ply + 1), timeout=60_000)
                page.wait_for_function(  # the move box is cleared after each move: wait for that first
                    "() => document.querySelector('#xiangqi-move-input textarea').value === ''", timeout=60_000)
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(1000)
            page.screenshot(path=str(ROOT / "assets" / "screenshot-xiangqi.png"), full_page=False)
        if "gibbs" in WANTED:
            page.get_by_role("tab", name="Gibbs · BERT 中文").click()
            page.set_viewport_size({"width": 1280, "height": 1000})
            page.wait_for_function("() => { const t = document.querySelector('#gibbs-samples textarea');"
                                   " return t && t.value.includes('生产力'); }", timeout=60_000)
            page.locator("#gibbs-go").click()
            page.wait_for_function("() => { const m = document.querySelector('#gibbs-live .meta');"
                                   " return m && m.textContent.includes('step 200 / 200'); }", timeout=120_000)
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(1000)
            page.screenshot(path=str(ROOT / "assets" / "screenshot-gibbs.png"), full_page=False)
        if "compare" in WANTED:
            page.get_by_role("tab", name="Compare · every image model").click()
            page.set_viewport_size({"width": 1280, "height": 1500})
            images = page.locator("#compare-gallery img")
            images.nth(8 * 9 - 1).wait_for(state="attached", timeout=120_000)
            images.nth(6 * 8 + 2).click()  # an ae-bn sample under the mixture prior: its nearest training images
            page.locator("#compare-neighbours img").nth(7).wait_for(state="attached", timeout=60_000)
            page.keyboard.press("Escape")  # close the gallery's preview of the clicked sample
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ROOT / "assets" / "screenshot-compare.png"), full_page=False)
        browser.close()
finally:
    demo.close()
print("wrote", ", ".join(f"assets/screenshot-{t}.png" if t != "gan" else "assets/screenshot.png" for t in sorted(WANTED)))
