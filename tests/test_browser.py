"""One real-browser test: headless Chromium (Debian's) driven by Playwright."""

import shutil

from playwright.sync_api import sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


def test_click_generate_and_see_images(app_url, tmp_path):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(app_url)
            page.locator("#gan-generate").click()
            images = page.locator("#gan-gallery img")
            images.nth(63).wait_for(state="attached", timeout=60_000)
            assert images.count() >= 64
            assert page.locator("#gan-gallery img").first.evaluate("img => img.naturalWidth") == 28
            page.locator("#gan-interpolate").click()
            page.locator("#gan-gif img").wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        finally:
            browser.close()
