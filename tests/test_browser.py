"""One real-browser test: headless Chromium (Debian's) driven by Playwright."""

import shutil

from playwright.sync_api import sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


def test_every_tab_shows_its_first_result_without_a_click(app_url):
    """Page load fills every tab: 64 GAN and EAE samples, 16 DDPM samples, the model's favourite
    opening moves, four Gibbs samples; the images load in the browser."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(app_url)
            for tab, gallery, count in (("GAN · Fashion-MNIST", "#gan-gallery", 64),
                                        ("DDPM · diffusion", "#ddpm-gallery", 16),
                                        ("EAE · entropic autoencoder", "#eae-gallery", 64)):
                page.get_by_role("tab", name=tab).click()
                page.locator(f"{gallery} img").nth(count - 1).wait_for(state="attached", timeout=120_000)
                page.wait_for_function(  # (thumbnails below the fold may load lazily: the first one)
                    "sel => { const i = document.querySelector(sel + ' img');"
                    " return i && i.complete && i.naturalWidth == 28; }", arg=gallery, timeout=60_000)
            shown = ("() => (document.querySelector('#xiangqi-candidates') || {}).innerText"
                     "?.match(/[a-i][0-9][a-i][0-9]/g)?.length >= 5")
            page.get_by_role("tab", name="Xiangqi · 象棋 GPT").click()
            # no reload and retry: a first result missing on the first load is the fault this guards
            page.wait_for_function(shown, timeout=120_000)
            page.get_by_role("tab", name="Gibbs · BERT 中文").click()
            page.wait_for_function("() => (document.querySelector('#gibbs-samples textarea') || {}).value"
                                   "?.split('\\n').filter(l => l.startsWith('科学技术')).length === 4",
                                   timeout=120_000)
        finally:
            browser.close()


def test_click_generate_and_see_images(app_url, tmp_path):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(app_url)
            images = page.locator("#gan-gallery img")
            images.nth(63).wait_for(state="attached", timeout=60_000)  # the first result, no click
            before = images.first.get_attribute("src")
            page.locator("#gan-seed input").fill("7")
            page.locator("#gan-generate").click()
            page.wait_for_function(  # the new samples replace the first ones and load
                "src => { const i = [...document.querySelectorAll('#gan-gallery img')];"
                " return i.length >= 64 && i[0].src !== src && i[0].complete && i[0].naturalWidth == 28; }",
                arg=before, timeout=60_000)
            page.locator("#gan-interpolate").click()
            page.locator("#gan-gif img").wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        finally:
            browser.close()


def test_eae_tab_shows_samples_without_a_click_and_reconstructs(app_url, tmp_path):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(app_url)
            page.get_by_role("tab", name="EAE · entropic autoencoder").click()
            first = page.locator("#eae-gallery img")
            first.nth(63).wait_for(state="attached", timeout=60_000)  # shown on page load, no click
            before = first.first.get_attribute("src")
            page.locator("#eae-model input[value='vae']").check()
            page.locator("#eae-generate").click()
            page.wait_for_function(
                "src => { const i = document.querySelector('#eae-gallery img');"
                " return i && i.src !== src && i.complete && i.naturalWidth > 0; }",
                arg=before, timeout=60_000)
            assert page.locator("#eae-gallery img").first.evaluate("img => img.naturalWidth") == 28
            page.locator("#eae-reconstruct").click()
            pairs = page.locator("#eae-pairs img")
            pairs.nth(15).wait_for(state="attached", timeout=60_000)
            page.wait_for_function("() => { const i = document.querySelector('#eae-pairs img');"
                                   " return i && i.complete && i.naturalWidth > 0; }", timeout=60_000)
            assert pairs.first.evaluate("img => img.naturalWidth") == 58
            page.screenshot(path=str(tmp_path / "eae.png"), full_page=True)
        finally:
            browser.close()




def test_ddpm_tab_streams_the_denoising_live(app_url, tmp_path):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.goto(app_url)
            page.get_by_role("tab", name="DDPM · diffusion").click()
            gallery = page.locator("#ddpm-gallery img")
            gallery.nth(15).wait_for(state="attached", timeout=60_000)  # first samples, no click
            page.locator("#ddpm-steps input[type='number']").fill("40")
            page.locator("#ddpm-steps input[type='number']").press("Enter")
            page.locator("#ddpm-generate").click()
            # the live preview: the x_t panel shows an image while the run is still going
            page.locator("#ddpm-xt img").wait_for(timeout=60_000)
            first_src = page.locator("#ddpm-xt img").get_attribute("src")
            page.wait_for_function(
                "src => { const i = document.querySelector('#ddpm-xt img'); return i && i.src !== src; }",
                arg=first_src, timeout=60_000)  # it changes as the steps stream in
            page.locator("#ddpm-gif a, #ddpm-gif [download]").first.wait_for(timeout=120_000)
            page.wait_for_function(  # the x_0 panel's image, loaded (it may still be loading when the GIF's link shows)
                "() => { const i = document.querySelector('#ddpm-x0 img'); return i && i.complete && i.naturalWidth > 28; }",
                timeout=60_000)
            page.screenshot(path=str(tmp_path / "ddpm.png"), full_page=True)
        finally:
            browser.close()


def test_ddpm_class_picker_and_guidance(app_url, tmp_path):
    """Pick the class-conditional model, a class and a guidance scale, draw: every sample is
    captioned with the class asked for; the unconditional model disables the picker."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.goto(app_url)
            page.get_by_role("tab", name="DDPM · diffusion").click()
            page.locator("#ddpm-gallery img").nth(15).wait_for(state="attached", timeout=60_000)
            page.locator("#ddpm-model input").click()
            page.get_by_role("option", name="the write-up's, unconditional (ddpm-fashion)").click()
            page.wait_for_function("() => document.querySelector('#ddpm-label input').disabled", timeout=30_000)
            page.locator("#ddpm-model input").click()
            page.get_by_role("option", name="class-conditional, classifier-free guidance (ddpm-fashion-cfg)").click()
            page.wait_for_function("() => !document.querySelector('#ddpm-label input').disabled", timeout=30_000)
            page.locator("#ddpm-label input").click()
            page.get_by_role("option", name="Ankle boot", exact=True).click()
            page.locator("#ddpm-guidance input[type='number']").fill("3")
            page.locator("#ddpm-guidance input[type='number']").press("Enter")
            page.locator("#ddpm-n input[type='number']").fill("4")
            page.locator("#ddpm-n input[type='number']").press("Enter")
            page.locator("#ddpm-quick").click()
            page.wait_for_function(
                "() => { const c = [...document.querySelectorAll('#ddpm-gallery .caption-label')];"
                " return c.length === 4 && c.every(e => e.innerText.trim() === 'Ankle boot'); }", timeout=60_000)
            page.screenshot(path=str(tmp_path / "ddpm-class.png"), full_page=True)
        finally:
            browser.close()


def test_xiangqi_move_by_clicking_and_two_sessions_play_apart(app_url, tmp_path):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            pages = [browser.new_context().new_page() for _ in range(2)]
            for page in pages:
                page.set_viewport_size({"width": 1280, "height": 1100})
                page.goto(app_url)
                page.get_by_role("tab", name="Xiangqi · 象棋 GPT").click()
                page.locator("#xiangqi-board [data-sq='h2']").wait_for(timeout=60_000)
            first, second = pages
            # session 1: click the cannon on h2, then e2 (炮二平五); the model answers
            first.locator("#xiangqi-board [data-sq='h2']").click()
            first.locator("#xiangqi-board circle.selected").wait_for(timeout=60_000)  # the cannon is picked up
            first.locator("#xiangqi-board [data-sq='e2']").click()
            first.wait_for_function(
                "() => { const t = document.querySelector('#xiangqi-history textarea');"
                " return t && t.value.split(' ').length === 2; }", timeout=60_000)
            history = first.locator("#xiangqi-history textarea").input_value().split()
            assert history[0] == "h2e2"
            # session 2 types a different opening in Chinese notation; session 1's game is untouched
            second.locator("#xiangqi-move-input textarea").fill("兵七进一")
            second.locator("#xiangqi-play").click()
            second.wait_for_function(
                "() => { const t = document.querySelector('#xiangqi-history textarea');"
                " return t && t.value.startsWith('c3c4 '); }", timeout=60_000)
            assert first.locator("#xiangqi-history textarea").input_value().split() == history
            assert "h2e2" in first.locator("#xiangqi-moves").inner_text()
            # the evaluation bar follows the game: the value head's bar, or the note that the model has none
            first.locator("#xiangqi-eval-bar #xiangqi-eval").wait_for(timeout=60_000)
            from playground.xiangqi import api

            has_bar = first.locator("#xiangqi-eval-bar [data-red]").count() == 1
            assert has_bar == api.has_value_head()
            # the search choice reaches the model: policy only, then a move played with it
            first.locator("#xiangqi-search").get_by_text("Policy only", exact=True).click()
            first.locator("#xiangqi-move-input textarea").fill("h0g2")
            first.locator("#xiangqi-play").click()
            first.wait_for_function(
                "() => { const t = document.querySelector('#xiangqi-history textarea');"
                " return t && t.value.split(' ').length === 4; }", timeout=60_000)
            if has_bar:  # the two-ply search (a model with a value head): a legal reply with it
                first.locator("#xiangqi-search").get_by_text("2-ply search (value head)", exact=True).click()
                before = first.locator("#xiangqi-history textarea").input_value().split()
                ours = "i0h0" if "i0h0" in api.legal_moves(before) else api.legal_moves(before)[0]
                first.locator("#xiangqi-move-input textarea").fill(ours)
                first.locator("#xiangqi-play").click()
                first.wait_for_function(
                    "() => { const t = document.querySelector('#xiangqi-history textarea');"
                    " return t && t.value.split(' ').length === 6; }", timeout=60_000)
                moves = first.locator("#xiangqi-history textarea").input_value().split()
                assert moves[4] == ours and moves[5] in api.legal_moves(moves[:5])
            first.screenshot(path=str(tmp_path / "xiangqi.png"), full_page=True)
        finally:
            browser.close()


def test_gibbs_tab_streams_the_chains(app_url, tmp_path):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(app_url)
            page.get_by_role("tab", name="Gibbs · BERT 中文").click()
            samples = page.locator("#gibbs-samples textarea")
            page.wait_for_function("() => { const t = document.querySelector('#gibbs-samples textarea');"
                                   " return t && t.value.includes('生产力'); }", timeout=60_000)  # first samples
            page.locator("#gibbs-steps input[type='number']").fill("400")
            page.locator("#gibbs-steps input[type='number']").press("Enter")
            page.locator("#gibbs-go").click()
            page.locator("#gibbs-live .gibbs-chains .hit").first.wait_for(timeout=60_000)  # live, mid-run
            page.wait_for_function("() => { const m = document.querySelector('#gibbs-live .meta');"
                                   " return m && m.textContent.includes('step 400 / 400'); }", timeout=120_000)
            assert samples.input_value().count("\n") == 3  # four chains
            page.screenshot(path=str(tmp_path / "gibbs.png"), full_page=True)
            # the other samplers: choosing one sets its steps; the live view says what each step did
            page.locator("#gibbs-method").get_by_text("Metropolis-Hastings", exact=True).click()
            page.wait_for_function("() => document.querySelector(\"#gibbs-steps input[type='number']\").value"
                                   " === '200'", timeout=30_000)
            page.locator("#gibbs-go").click()
            page.wait_for_function("() => { const m = document.querySelector('#gibbs-live .meta');"
                                   " return m && m.textContent.includes('mh · step 200 / 200')"
                                   " && m.textContent.includes('proposals accepted'); }", timeout=120_000)
            page.locator("#gibbs-method").get_by_text("Mask-Predict (fast, ~10 passes)", exact=True).click()
            page.wait_for_function("() => document.querySelector(\"#gibbs-steps input[type='number']\").value"
                                   " === '10'", timeout=30_000)
            page.locator("#gibbs-go").click()
            page.wait_for_function("() => { const m = document.querySelector('#gibbs-live .meta');"
                                   " return m && m.textContent.includes('mask-predict · pass 10 / 10'); }",
                                   timeout=60_000)
            assert samples.input_value().count("\n") == 3 and "生产力" in samples.input_value()
            # the domain: reviews rather than news, said in the live view
            page.locator("#gibbs-domain").get_by_text("Reviews (hotels, products)", exact=True).click()
            page.locator("#gibbs-go").click()
            page.wait_for_function("() => { const m = document.querySelector('#gibbs-live .meta');"
                                   " return m && m.textContent.includes('pass 10 / 10')"
                                   " && m.textContent.includes('domain: review'); }", timeout=60_000)
        finally:
            browser.close()


def test_compare_tab_rows_and_a_clicked_samples_nearest_training_images(app_url):
    """The Compare tab shows a row of 8 samples per model on page load; a click on a sample finds its
    8 nearest training images and says how close the nearest is; a new seed and count redraw every row."""
    from playground import compare

    models = len(compare.models())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(app_url)
            page.get_by_role("tab", name="Compare · every image model").click()
            images = page.locator("#compare-gallery img")
            images.nth(8 * models - 1).wait_for(state="attached", timeout=120_000)
            assert page.locator("#compare-table").inner_text().count("eae/") == 6
            images.nth(0).click()
            page.locator("#compare-neighbours img").nth(7).wait_for(state="attached", timeout=60_000)
            page.wait_for_function("() => (document.querySelector('#compare-verdict') || {}).innerText"
                                   "?.includes('typically')", timeout=60_000)
            page.keyboard.press("Escape")  # close the gallery's preview of the clicked sample
            page.wait_for_function("n => document.querySelectorAll('#compare-gallery img').length === n",
                                   arg=8 * models, timeout=10_000)
            before = images.first.get_attribute("src")
            page.locator("#compare-seed input").fill("3")
            page.locator("#compare-count input[type=number]").fill("2")
            page.locator("#compare-count input[type=number]").press("Enter")
            page.locator("#compare-generate").click()
            page.wait_for_function(
                "([src, n]) => { const i = [...document.querySelectorAll('#compare-gallery img')];"
                " return i.length === n && i[0].src !== src && i[0].complete && i[0].naturalWidth == 28; }",
                arg=[before, 2 * models], timeout=120_000)
        finally:
            browser.close()
