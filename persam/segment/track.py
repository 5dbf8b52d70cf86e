"""``persam track``'s work: the objects of the first frame's labels followed through a video's frames.

Writes ``<out>/masks/<frame stem>.png`` (palette PNGs with the reference's object indices, the first frame's
being the reference itself) and ``<out>/overlay.gif`` (the overlays, scaled down so that long videos fit in
memory).

A frame that cannot be read (or whose size differs from the first frame's) is skipped: it gets no mask and no
picture in the GIF, the tracker's state stays the last good frame's, and the next readable frame continues
from it; the skipped frames are returned with their reasons (:mod:`persam.segment.unreadable`). The first
frame is the reference: a bad one stops the command at once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from persam.data.io import write_mask
from persam.drawing import overlay_labels
from persam.methods.builder import MethodSpec
from persam.methods.video import start, step, video_config
from persam.models.predictor import GuidedPredictor
from persam.segment.predictor import user_method
from persam.segment.unreadable import Skipped, read_or_skip


def track_frames(spec: MethodSpec, predictor: GuidedPredictor, frames: list[Path], first: np.ndarray,
                 labels: np.ndarray, palette: list[int], out: Path, fps: float = 10.0) -> tuple[Path, list[Skipped]]:
    """Track ``labels`` (the first frame's, ``first`` its image) through ``frames`` with the method of ``spec``
    (oracles refused); returns the GIF's path and the frames skipped (see the module doc)."""
    method = user_method(predictor, spec, video=True)
    tracker = video_config(spec)
    states = start(method, predictor.embed(first), labels, config=tracker)
    write_mask(out / "masks" / f"{frames[0].stem}.png", labels, palette)
    pictures = [gif_frame(overlay_labels(first, labels, palette))]
    skipped: list[Skipped] = []
    for path in tqdm(frames[1:], desc=f"{spec.label}: {len(states)} object(s)", unit="frame"):
        image = read_or_skip(path, path.name, skipped)
        if image is None:
            continue
        if image.shape[:2] != first.shape[:2]:
            skipped.append(Skipped(path.name, f"frame is {image.shape[1]}x{image.shape[0]} but the first frame is "
                                              f"{first.shape[1]}x{first.shape[0]}"))
            continue
        result, states = step(method, predictor.embed(image), states, tracker)
        points = [p.point_coords for p in result.predictions.values()]
        write_mask(out / "masks" / f"{path.stem}.png", result.labels, palette)
        pictures.append(gif_frame(overlay_labels(image, result.labels, palette, points)))
    gif = out / "overlay.gif"
    gif.parent.mkdir(parents=True, exist_ok=True)
    pictures[0].save(gif, save_all=True, append_images=pictures[1:], duration=round(1000 / fps), loop=0)
    return gif, skipped


def gif_frame(picture: np.ndarray, max_side: int = 480) -> Image.Image:
    """An overlay picture scaled down (long side ``max_side``) for the GIF."""
    scale = min(1.0, max_side / max(picture.shape[:2]))
    size = (max(1, round(picture.shape[1] * scale)), max(1, round(picture.shape[0] * scale)))
    return Image.fromarray(picture).resize(size, Image.Resampling.BILINEAR)
