"""The person's reference masks, read from files: one object's mask (``persam segment``, ``persam
dreambooth-masks``) or a first frame's object labels (``persam track``). An empty reference is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from persam.data.davis import annotation_palette
from persam.data.io import DataError, read_label_map, read_mask


def read_reference_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    """The H x W bool mask of ``path`` (any non-zero pixel is the object) for an image of ``size`` (H, W)."""
    mask = read_mask(path, size)
    if not mask.any():
        raise DataError(f"{path}: reference mask is empty (no non-zero pixel)")
    return mask


def reference_labels(path: Path, size: tuple[int, int]) -> tuple[np.ndarray, list[int]]:
    """The first frame's object labels (H x W uint8) and palette. A palette PNG is read by index (255 = void,
    ignored); any other mask with one non-zero value is one object (label 1), else its values are the labels."""
    labels = read_label_map(path)
    if labels.shape != tuple(size):
        raise DataError(f"{path}: mask is {labels.shape[1]}x{labels.shape[0]} but the first frame is "
                        f"{size[1]}x{size[0]} (W x H)")
    palette = annotation_palette(path)
    with Image.open(path) as image:
        is_palette = image.mode == "P"
    values = [int(v) for v in np.unique(labels) if v != 0 and not (is_palette and v == 255)]
    if not values:
        raise DataError(f"{path}: reference mask is empty (no object label)")
    if not is_palette and len(values) == 1:
        return (labels > 0).astype(np.uint8), palette
    if max(values) > 254:
        raise DataError(f"{path}: object labels must be 1..254, found {max(values)}")
    return np.where(np.isin(labels, values), labels, 0).astype(np.uint8), palette
