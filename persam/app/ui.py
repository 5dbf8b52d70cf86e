"""The page (Gradio): a reference photo to click on, targets to upload, a method to choose, results to see
and download. The work is :mod:`persam.app.engine`; this module only lays out the page and turns the
engine's answers and errors into what the person sees.

The engine (torch, SAM) is imported on first use, not when the page is built, so the page shows while the
model is still loading; ``serve`` starts loading it at once.
"""

from __future__ import annotations

import functools
import tempfile
import threading
from pathlib import Path

import gradio as gr
import numpy as np

from persam.app.methods import DEFAULT_METHOD, method_choices
from persam.data.io import read_image

MODELS = [("MobileSAM (vit_t, fast on a CPU)", "vit_t"), ("SAM ViT-B", "vit_b"), ("SAM ViT-L", "vit_l"),
          ("SAM ViT-H", "vit_h")]
POSITIVE, NEGATIVE = "the object", "not the object"
HELP = """# persam: find your object in other photos
1. Upload a **reference photo** and **click on the object** (choose *not the object* to click away what
   should not be in it). SAM's reference mask appears at once.
2. Upload the **photos** to search (several photos, a zip of photos, or a video), choose the method, press
   **Find the object**.
3. See the masks, the photos the object is absent from, and download the masks (zip of PNGs), a COCO JSON
   (CVAT, Label Studio, FiftyOne) and a CSV of scores."""

_engine = None
_engine_lock = threading.Lock()
_root: Path | None = None


def engine():
    """The one engine of this process, built on first call (imports torch and SAM)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            from persam.app.engine import Engine

            _engine = Engine(_root)
        return _engine


def guarded(outputs: int):
    """Run a handler that returns ``outputs`` values, the last one the status line; a problem the person can
    fix becomes a warning and the status line (the other outputs unchanged), never a traceback."""

    def wrap(handler):
        @functools.wraps(handler)
        def run(*args, **kwargs):
            from persam.app.engine import USER_ERRORS

            try:
                return handler(*args, **kwargs)
            except USER_ERRORS as err:
                gr.Warning(str(err))
                return (*[gr.skip()] * (outputs - 1), f"**Problem:** {err}")

        return run

    return wrap


def shown(image: np.ndarray, mask: np.ndarray | None, clicks: list) -> tuple[np.ndarray, float]:
    """The picture the reference component shows (long side at most 1024) and the factor from its pixels to
    the photo's."""
    from persam.drawing import overlay

    points = np.asarray([c[:2] for c in clicks], dtype=np.float64).reshape(-1, 2)
    labels = np.asarray([c[2] for c in clicks], dtype=np.int64)
    picture = overlay(image, mask if mask is not None else np.zeros(image.shape[:2], bool), points, labels)
    return picture, image.shape[1] / picture.shape[1]


@guarded(outputs=3)
def on_reference(path, model, checkpoint, device):
    """A new reference photo: encode it now (so the first click answers at once) and forget old clicks."""
    if path is None:
        return None, None, "Upload a reference photo."
    image = read_image(path)
    eng = engine()
    eng.embed(eng.predictor(model, checkpoint, device), image)
    picture, scale = shown(image, None, [])
    state = {"image": image, "clicks": [], "mask": None, "scale": scale, "name": Path(path).name}
    return picture, state, f"**{state['name']}** ({image.shape[1]}x{image.shape[0]}): now click on the object."


@guarded(outputs=3)
def on_click(state, kind, model, checkpoint, device, evt: gr.SelectData):
    """A click on the reference: SAM's mask of the object from all clicks so far."""
    from persam.app.engine import AppError

    if state is None:
        raise AppError("upload a reference photo first, then click on the object in it")
    x, y = (float(v) * state["scale"] for v in evt.index)
    clicks = [*state["clicks"], (x, y, 1 if kind == POSITIVE else 0)]
    eng = engine()
    mask, iou = eng.reference_mask(eng.predictor(model, checkpoint, device), state["image"], clicks)
    state = {**state, "clicks": clicks, "mask": mask}
    picture, _ = shown(state["image"], mask, clicks)
    return picture, state, (f"**Reference mask:** {int(mask.sum())} pixels from {len(clicks)} click(s) "
                            f"(SAM's predicted IoU {iou:.2f}). Click again to correct it, or find it below.")


def on_clear(state):
    if state is None:
        return None, None, "Upload a reference photo."
    state = {**state, "clicks": [], "mask": None}
    return shown(state["image"], None, [])[0], state, "Clicks cleared: click on the object."


@guarded(outputs=4)
def on_run(state, files, method, model, checkpoint, device, progress=gr.Progress()):  # noqa: B008 (Gradio injects it)
    """Find the object in every upload; gallery, absent list, downloads, status."""
    from persam.app.engine import AppError

    if state is None or state["mask"] is None:
        raise AppError("no reference mask yet: upload a reference photo and click on the object")
    if not files:
        raise AppError("no photos to search: upload photos, a zip of photos or a video")
    eng = engine()
    progress(0, desc="loading the model")
    predictor = eng.predictor(model, checkpoint, device)

    def report(done: int, total: int, key: str) -> None:
        progress((done, total), desc=f"segmented {key}", unit="images")

    result = eng.run(predictor, method, state["image"], state["mask"], [Path(f) for f in files], report)
    for problem in result.problems:
        gr.Warning(problem)
    absent = ("**Absent from:** " + ", ".join(result.absent)) if result.absent else "The object was found in every photo."
    status = f"**Done:** {len(result.gallery)} image(s) segmented with {method}."
    if result.problems:
        status += " **Not used:** " + "; ".join(result.problems)
    if result.skipped:
        gr.Warning(f"{len(result.skipped)} image(s) could not be read and were skipped (listed in the status and "
                   "scores.csv)")
        status += f" **Skipped, unreadable ({len(result.skipped)}):** " + "; ".join(result.skipped)
    return result.gallery, absent, [str(p) for p in result.downloads], status


def build_page() -> gr.Blocks:
    with gr.Blocks(title="persam", analytics_enabled=False) as page:
        gr.Markdown(HELP)
        state = gr.State(None)
        with gr.Row():
            with gr.Column():
                reference = gr.Image(label="Reference photo: upload, then click on the object", type="filepath",
                                     sources=["upload"], elem_id="reference")
                kind = gr.Radio([POSITIVE, NEGATIVE], value=POSITIVE, label="A click marks", elem_id="click-kind")
                clear = gr.Button("Clear clicks", size="sm")
                reference_status = gr.Markdown("Upload a reference photo.", elem_id="reference-status")
            with gr.Column():
                files = gr.File(label="Photos to search: several photos, a zip of photos, or a video",
                                file_count="multiple", type="filepath", elem_id="targets")
                method = gr.Dropdown(method_choices(), value=DEFAULT_METHOD, label="Method", elem_id="method")
                with gr.Accordion("Model", open=False):
                    model = gr.Dropdown(MODELS, value="vit_t", label="SAM model")
                    checkpoint = gr.Textbox(label="Checkpoint path (empty: found automatically)", value="")
                    device = gr.Dropdown(["cpu", "cuda"], value="cpu", label="Device")
                run = gr.Button("Find the object", variant="primary", elem_id="run")
        run_status = gr.Markdown("", elem_id="run-status")
        gallery = gr.Gallery(label="Masks found", columns=4, height="auto", elem_id="gallery")
        absent = gr.Markdown("", elem_id="absent")
        downloads = gr.File(label="Downloads: masks (zip of PNGs), COCO JSON, scores (CSV)", file_count="multiple",
                            interactive=False, elem_id="downloads")
        settings = [model, checkpoint, device]
        reference.upload(on_reference, [reference, *settings], [reference, state, reference_status])
        reference.clear(lambda: (None, "Upload a reference photo."), None, [state, reference_status])
        reference.select(on_click, [state, kind, *settings], [reference, state, reference_status])
        clear.click(on_clear, state, [reference, state, reference_status])
        run.click(on_run, [state, files, method, *settings], [gallery, absent, downloads, run_status])
    return page


def warm_up() -> None:
    """Load MobileSAM on the CPU (the page's default) while the person picks a photo."""
    from persam.app.engine import USER_ERRORS

    try:
        engine().predictor()
    except USER_ERRORS as err:  # shown again, on the page, when the person uses that model
        print(f"persam app: MobileSAM not loaded: {err}", flush=True)


def serve(host: str = "127.0.0.1", port: int = 7860) -> int:
    """Build the page, start loading MobileSAM in the background, serve until interrupted."""
    global _root
    _root = Path(tempfile.mkdtemp(prefix="persam-app-"))
    page = build_page()
    page.queue()
    page.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False,
                allowed_paths=[str(_root)], theme=gr.themes.Default(font=["system-ui", "sans-serif"],
                                                                    font_mono=["monospace"]))
    print(f"persam app: http://{host}:{port}", flush=True)
    threading.Thread(target=warm_up, daemon=True).start()
    try:
        page.block_thread()
    except KeyboardInterrupt:
        pass
    return 0
