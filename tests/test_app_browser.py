"""``persam app`` in a real browser: Debian's Chromium driven by Playwright, real MobileSAM, bundled sample.

A person's path through the page: upload a reference photo, click on the cat, upload two photos, run, see
the gallery, download the masks (IoU >= 0.9 with the ground truth); then a text file as the target: a
visible message, and the page still works. Screenshots of each step go to the test's folder, and to
``$PERSAM_SCREENSHOTS`` when set (``docs/app.png`` is ``02-gallery.png`` from such a run).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.sync_api import expect, sync_playwright

from persam.data.io import read_mask

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "persam" / "sample_data" / "perseg"
CHROMIUM = shutil.which("chromium")
PAGE_SECONDS = 15  # the page must show within this long of `persam app` starting (the acceptance)

if CHROMIUM is None:
    pytest.fail("chromium is not installed: `apt-get install -y chromium` (.ci/run does it)", pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def app_server(tmp_path):
    """`persam app` on a free loopback port; yields (address, seconds until it printed its address)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "GRADIO_ANALYTICS_ENABLED": "False"}
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "persam", "app", "--port", str(port)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("persam app: http"):
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(120):
            pytest.fail("persam app did not start:\n" + "".join(lines))
        yield f"http://127.0.0.1:{port}", start
    finally:
        proc.terminate()
        proc.wait(20)
        (tmp_path / "server.log").write_text("".join(lines))


def inside_point(mask: np.ndarray) -> tuple[int, int]:
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(distance.argmax()), distance.shape)
    return int(x), int(y)


def click_image_pixel(page, selector: str, x: float, y: float, width: int) -> None:
    """Click the pixel (x, y) of a photo ``width`` pixels wide, shown (letterboxed) in ``selector``'s <img>."""
    img = page.locator(f"{selector} img").first
    box = img.bounding_box()
    natural = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    scale = min(box["width"] / natural[0], box["height"] / natural[1])
    left = box["x"] + (box["width"] - natural[0] * scale) / 2
    top = box["y"] + (box["height"] - natural[1] * scale) / 2
    shown_per_photo = natural[0] / width
    page.mouse.click(left + x * shown_per_photo * scale, top + y * shown_per_photo * scale)


def test_app_in_chromium(app_server, tmp_path):
    address, started = app_server
    shots = [tmp_path / "screenshots"] + ([Path(os.environ["PERSAM_SCREENSHOTS"])]
                                          if os.environ.get("PERSAM_SCREENSHOTS") else [])

    def screenshot(page, name: str, full_page: bool = True) -> None:
        for folder in shots:
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)

    cat = SAMPLE / "Images" / "cat"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.goto(address, wait_until="domcontentloaded")
        expect(page.locator("#reference")).to_be_visible(timeout=60_000)
        seconds = time.monotonic() - started
        print(f"page shown {seconds:.1f} s after `persam app` started")
        (tmp_path / "page_seconds.txt").write_text(f"{seconds:.2f}\n")
        status = page.locator("#reference-status")

        # 1. reference photo, one click on the cat -> SAM's mask at once
        page.locator("#reference input[type=file]").set_input_files(str(cat / "00.jpg"))
        expect(status).to_contain_text("now click on the object", timeout=90_000)
        gt_ref = read_mask(SAMPLE / "Annotations" / "cat" / "00.png")
        x, y = inside_point(gt_ref)
        click_image_pixel(page, "#reference", x, y, gt_ref.shape[1])
        expect(status).to_contain_text("Reference mask:", timeout=60_000)
        screenshot(page, "01-reference-mask")

        # 2. two photos, run -> gallery, downloads
        page.locator("#targets input[type=file]").set_input_files([str(cat / "01.jpg"), str(cat / "02.jpg")])
        expect(page.locator("#targets a[href$='/02.jpg']")).to_have_count(1, timeout=30_000)
        page.locator("#run").click()
        expect(page.locator("#run-status")).to_contain_text("Done: 2 image(s)", timeout=120_000)
        expect(page.locator("#gallery img")).to_have_count(2, timeout=30_000)
        screenshot(page, "02-gallery")
        with page.expect_download() as download:
            page.locator("#downloads a[href$='/masks.zip']").click()
        archive = tmp_path / "masks.zip"
        download.value.save_as(archive)
        with zipfile.ZipFile(archive) as zf:
            assert sorted(zf.namelist()) == ["masks/01.png", "masks/02.png"]
            zf.extractall(tmp_path / "downloaded")
        for stem in ("01", "02"):
            pred = read_mask(tmp_path / "downloaded" / "masks" / f"{stem}.png")
            gt = read_mask(SAMPLE / "Annotations" / "cat" / f"{stem}.png")
            iou = (pred & gt).sum() / (pred | gt).sum()
            print(f"cat {stem}: IoU {iou:.3f}")
            assert iou >= 0.9, stem

        # 3. a text file as the target: a message on the page, no traceback, and the page still works
        notes = tmp_path / "notes.txt"
        notes.write_text("not a photo\n")
        page.locator("#targets button[aria-label='Clear']").first.click()
        page.locator("#targets input[type=file]").set_input_files(str(notes))
        expect(page.locator("#targets a[href$='/notes.txt']")).to_have_count(1, timeout=30_000)
        page.locator("#run").click()
        expect(page.locator("#run-status")).to_contain_text("notes.txt: not an image", timeout=60_000)
        expect(page.locator(".toast-body.warning")).to_contain_text("notes.txt: not an image")  # the pop-up
        assert "Traceback" not in page.content()
        page.wait_for_timeout(1000)  # the pop-up fades in
        screenshot(page, "03-error", full_page=False)  # the pop-up sits at the top of the window
        page.locator("#targets button[aria-label='Clear']").first.click()
        page.locator("#targets input[type=file]").set_input_files(str(cat / "01.jpg"))
        expect(page.locator("#targets a[href$='/01.jpg']")).to_have_count(1, timeout=30_000)
        page.locator("#run").click()
        expect(page.locator("#run-status")).to_contain_text("Done: 1 image(s)", timeout=120_000)
        screenshot(page, "04-still-works")
        browser.close()
    assert seconds < 4 * PAGE_SECONDS, f"the page took {seconds:.0f} s to show"
