"""Small DAVIS folders built from the real frames of the bundled DAVIS clip (persam/sample_data/davis: the
first 6 frames of blackswan, dog and goat), so the video and J&F tests run everywhere."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA
from PIL import Image

from persam.data.davis import annotation_palette, read_annotation

DAVIS = Path(__file__).resolve().parents[1] / "persam" / "sample_data" / "davis"
SHARED_DAVIS = SHARED_DATA / "davis2017"
needs_shared_davis = pytest.mark.skipif(not (SHARED_DAVIS / "JPEGImages" / "480p" / "blackswan").is_dir(),
                                        reason="../shared/data/davis2017 is not present")

# Side-by-side crops (x from, x to) that hold the whole object in the first frames; 427 + 427 = 854 wide.
CROPS = {"blackswan": (110, 537), "goat": (250, 677), "dog": (140, 567), "cows": (205, 632)}


def copy_sequence(root: Path, name: str, frames: int) -> None:
    """The first ``frames`` frames of a real sequence, as a DAVIS folder under ``root``."""
    for kind, suffix in (("JPEGImages", "jpg"), ("Annotations", "png")):
        out = root / kind / "480p" / name
        out.mkdir(parents=True, exist_ok=True)
        for i in range(frames):
            shutil.copy(DAVIS / kind / "480p" / name / f"{i:05d}.{suffix}", out / f"{i:05d}.{suffix}")


def merged_labels(left: str, right: str, index: int) -> np.ndarray:
    """Two one-object sequences' annotations side by side: the left object is 1, the right one 2."""
    (a0, a1), (b0, b1) = CROPS[left], CROPS[right]
    a = read_annotation(DAVIS / "Annotations" / "480p" / left / f"{index:05d}.png")[:, a0:a1]
    b = read_annotation(DAVIS / "Annotations" / "480p" / right / f"{index:05d}.png")[:, b0:b1]
    return np.concatenate([a, np.where(b > 0, 2, 0).astype(np.uint8)], axis=1)


def write_merged_sequence(root: Path, name: str, frames: int, left: str = "blackswan", right: str = "goat") -> None:
    """A two-object sequence (left sequence's object = 1, right's = 2) in DAVIS layout, with the DAVIS palette."""
    palette = annotation_palette(DAVIS / "Annotations" / "480p" / left / "00000.png")
    (a0, a1), (b0, b1) = CROPS[left], CROPS[right]
    for kind in ("JPEGImages", "Annotations"):
        (root / kind / "480p" / name).mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        images = [np.asarray(Image.open(DAVIS / "JPEGImages" / "480p" / s / f"{i:05d}.jpg").convert("RGB"))
                  for s in (left, right)]
        frame = np.concatenate([images[0][:, a0:a1], images[1][:, b0:b1]], axis=1)
        Image.fromarray(frame).save(root / "JPEGImages" / "480p" / name / f"{i:05d}.jpg", quality=95)
        mask = Image.fromarray(merged_labels(left, right, i), mode="P")
        mask.putpalette(palette)
        mask.save(root / "Annotations" / "480p" / name / f"{i:05d}.png")
