#!/usr/bin/env python3
"""The playground in a real browser: Playwright driving Debian's Chromium (headless) against
the real `easel serve` binary and its bundled model.

    .venv-sdk/bin/python scripts/playground_browser_test.py --binary .build/release/easel \
        [--chromium /usr/bin/chromium] [--screenshots docs]

A wrong key shows the 401 message; the real key loads the models, the bundled one is picked
and its defaults fill the fields; a width of 30 shows the 400 message beside Width; a
caption is generated while the progress bar moves, and the finished images appear with the
prompt as their alt text; a long job is cancelled and ends cancelled; "Reuse settings" copies
a job's settings, seed included; a job deleted from the gallery is gone and its image URI
answers 404; and the browser logs no errors (the 4xx answers this test provokes on purpose
aside). A job on a model whose weights are gone shows "The job failed" with its reason; on a
second server with no workers and room for one waiting job, a job shows its queue position and
the next one the 429 message with its wait. Screenshots at desktop and phone width go to
--screenshots. Loopback only.
"""
import argparse
import os
import sys
import time
import urllib.error
import urllib.request

import glob

from easel_process import REPOSITORY, TINY_SD1, Easel

BUNDLED_ID = "1185eeaf-da6a-56d7-859c-ef1fe41c4a9a"
PROMPT = "a yellow star in the top right corner on a purple background"


def check(condition, message):
    if not condition:
        raise SystemExit(f"FAILED: {message}")


def status_of(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def set_key(page, key):
    field = page.get_by_label("API key", exact=True)
    field.fill(key)
    field.press("Tab")  # the key is used (and stored) once the field is left


def fill(page, **fields):
    """Types into the fields named by their labels: fill(page, Width=64, Steps=2)."""
    for label, value in fields.items():
        page.get_by_label(label.replace("_", " "), exact=True).fill(str(value))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--screenshots", default=os.path.join(REPOSITORY, "docs"))
    args = parser.parse_args()

    from playwright.sync_api import expect, sync_playwright

    started = time.monotonic()
    easel = Easel(args.binary)
    key = easel.create_key("playground")
    # A model whose UNet weights are gone after install: its jobs fail (the failed-job message).
    broken_id = easel.add_model(TINY_SD1, "broken")
    for weights in glob.glob(os.path.join(easel.data_dir, "models", broken_id, "unet", "*.safetensors")):
        os.remove(weights)
    easel.start()
    # A server with no workers and room for one waiting job: queue position, then 429.
    queue = Easel(args.binary)
    queue_key = queue.create_key("queue")
    queue.start("--workers", "0", "--max-queued-per-workspace", "1")
    problems = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, headless=True)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()

            def watch(tab, name):
                """Every console error and uncaught exception of `tab` is a problem, except
                Chromium's "Failed to load resource" line for each 4xx fetch (this test provokes
                401, 400 and 429 answers on purpose)."""
                def on_console(message):
                    if message.type == "error" and "Failed to load resource" not in message.text:
                        problems.append(f"console ({name}): {message.text}")
                tab.on("console", on_console)
                tab.on("pageerror", lambda error: problems.append(f"page error ({name}): {error}"))
                return tab

            watch(page, "desktop")
            expect.set_options(timeout=30_000)

            page.goto(easel.base_url + "/")
            expect(page).to_have_title("Easel playground")
            for label in ["API key", "Model", "Prompt", "Negative prompt", "Width", "Height", "Steps", "Guidance",
                          "Seed", "Number of images"]:
                expect(page.get_by_label(label, exact=True)).to_be_visible()

            # A wrong key: the 401 message.
            set_key(page, "not-a-key")
            expect(page.locator("#message")).to_contain_text("401")
            print("wrong key: 401 message shown")

            # The real key: models load, the bundled one is picked, its defaults fill the form.
            set_key(page, key)
            model = page.get_by_label("Model", exact=True)
            expect(model.locator(f'option[value="{BUNDLED_ID}"]')).to_have_count(1)
            model.select_option(BUNDLED_ID)
            expect(page.get_by_label("Width", exact=True)).to_have_value("64")
            expect(page.get_by_label("Height", exact=True)).to_have_value("64")
            expect(page.get_by_label("Steps", exact=True)).to_have_value("50")
            expect(page.get_by_label("Guidance", exact=True)).to_have_value("7")
            expect(page.get_by_label("Seed", exact=True)).to_have_value("4523184")
            check(page.evaluate("localStorage.getItem('easel.apiKey')") == key, "the key is not kept in local storage")
            print("key accepted; bundled model picked; defaults 64x64, 50 steps, guidance 7")

            # Width 30: the 400 message beside Width, nothing queued.
            fill(page, Prompt=PROMPT, Width=30)
            page.get_by_role("button", name="Generate").click()
            expect(page.locator("#width-error")).to_contain_text("width must")
            expect(page.get_by_label("Width", exact=True)).to_have_attribute("aria-invalid", "true")
            expect(page.locator("#message")).to_contain_text("400")
            print(f"width 30: beside Width: {page.locator('#width-error').inner_text()!r}")

            # Generate: progress moves, the images appear with the prompt as alt text.
            fill(page, Width=64, Steps=80, Number_of_images=4, Seed=11)
            page.get_by_role("button", name="Generate").click()
            page.wait_for_function(
                "() => { const p = document.getElementById('progress'); return p.value > 0 && p.value < p.max; }",
                timeout=60_000)
            seen = page.locator("#progressText").inner_text()
            check(seen.startswith("Step "), f"progress text {seen!r}")
            images = page.locator(f'#result img[alt="{PROMPT}"]')
            expect(images).to_have_count(4, timeout=120_000)
            expect(page.locator("#jobState")).to_have_text("Finished")
            print(f"generated: progress seen ({seen}); 4 images with the prompt as alt text")
            expect(page.locator(f'#gallery img[alt="{PROMPT}"]')).to_have_count(4)
            page.wait_for_function(
                "() => [...document.querySelectorAll('#gallery img')].every(i => i.complete && i.naturalWidth > 0)")

            page.screenshot(path=os.path.join(args.screenshots, "playground-desktop.png"), full_page=True)
            phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                        is_mobile=True, has_touch=True)
            phone_page = watch(phone.new_page(), "phone")
            phone_page.add_init_script(f"localStorage.setItem('easel.apiKey', {key!r})")
            phone_page.goto(easel.base_url + "/")
            phone_model = phone_page.get_by_label("Model", exact=True)
            expect(phone_model.locator(f'option[value="{BUNDLED_ID}"]')).to_have_count(1)
            phone_model.select_option(BUNDLED_ID)
            expect(phone_page.locator(f'#gallery img[alt="{PROMPT}"]')).to_have_count(4)
            phone_page.wait_for_function(
                "() => [...document.querySelectorAll('#gallery img')].every(i => i.complete && i.naturalWidth > 0)")
            overflow = phone_page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            check(overflow <= 0, f"the page is {overflow}px wider than a phone's screen")
            phone_page.screenshot(path=os.path.join(args.screenshots, "playground-phone.png"), full_page=True)
            phone.close()
            print("screenshots: desktop and phone width (no sideways scrolling)")

            # A long job, cancelled: it ends cancelled.
            fill(page, Prompt="a big white circle on a black background", Width=256, Height=256, Steps=150,
                 Number_of_images=1)
            page.get_by_role("button", name="Generate").click()
            expect(page.locator("#progressText")).to_contain_text("Step ", timeout=60_000)
            page.get_by_role("button", name="Cancel").click()
            expect(page.locator("#jobState")).to_have_text("Cancelled", timeout=60_000)
            expect(page.locator("#message")).to_contain_text("cancelled")
            expect(page.get_by_role("button", name="Generate")).to_be_enabled()
            print("long job cancelled: ended cancelled")

            # Reuse settings (seed included) from the finished job's card.
            finished = page.locator("#gallery .card", has=page.locator(f'img[alt="{PROMPT}"]'))
            expect(finished).to_have_count(1)
            fill(page, Seed=1)
            finished.get_by_role("button", name="Reuse settings").click()
            expect(page.get_by_label("Seed", exact=True)).to_have_value("11")
            expect(page.get_by_label("Steps", exact=True)).to_have_value("80")
            expect(page.get_by_label("Prompt", exact=True)).to_have_value(PROMPT)
            print("reuse settings: prompt, steps and seed 11 copied")

            # Delete from the gallery: the card goes and its image URIs answer 404.
            sources = finished.locator("img").evaluate_all("images => images.map(i => i.src)")
            check(len(sources) == 4 and all(status_of(src) == 200 for src in sources), f"images before delete: {sources}")
            finished.get_by_role("button", name="Delete").click()
            expect(page.locator("#gallery .card", has=page.locator(f'img[alt="{PROMPT}"]'))).to_have_count(0)
            statuses = [status_of(src) for src in sources]
            check(statuses == [404] * 4, f"deleted images answered {statuses}")
            print("deleted from the gallery: its image URIs answer 404")

            # A failed job: its reason.
            model.select_option(broken_id)
            fill(page, Prompt="anything", Width=64, Height=64, Steps=2)
            page.get_by_role("button", name="Generate").click()
            expect(page.locator("#jobState")).to_have_text("Failed", timeout=60_000)
            expect(page.locator("#message")).to_contain_text("The job failed: ")
            print(f"failed job: {page.locator('#message').inner_text()[:100]!r}")

            # The queue: position 1 while nothing runs, then a full queue's 429 with its wait.
            waiting = watch(context.new_page(), "queue, first tab")
            full = watch(context.new_page(), "queue, second tab")
            for tab in (waiting, full):
                tab.goto(queue.base_url + "/")
                set_key(tab, queue_key)
                expect(tab.get_by_label("Model", exact=True).locator(f'option[value="{BUNDLED_ID}"]')).to_have_count(1)
                tab.get_by_label("Prompt", exact=True).fill("a green square on a white background")
            waiting.get_by_role("button", name="Generate").click()
            expect(waiting.locator("#jobState")).to_have_text("Queued: position 1")
            full.get_by_role("button", name="Generate").click()
            expect(full.locator("#message")).to_contain_text("429")
            expect(full.locator("#message")).to_contain_text("Try again in")
            print(f"queue: position 1 shown; full queue: {full.locator('#message').inner_text()!r}")

            browser.close()
    finally:
        for server in (easel, queue):
            if server.server is not None:
                server.stop()
    check(not problems, "browser errors:\n" + "\n".join(problems))
    print(f"PLAYGROUND BROWSER TEST OK in {time.monotonic() - started:.1f} s (data dir {easel.data_dir})")


if __name__ == "__main__":
    sys.exit(main())
