"""Reference-mask corruption for the robustness study (the paper's Table 4): erode or dilate the mask with
an OpenCV rectangular kernel (``cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))``, OpenCV's default
shape), one iteration. An erosion that would remove the whole object keeps its most interior pixel (the
maximum of the distance transform), so the corrupted reference is never empty. ``box`` (ours, not the paper's):
the mask's bounding box, filled, as a user who drags a rectangle around the object gives it."""

from __future__ import annotations

import cv2
import numpy as np


def corrupt_mask(mask: np.ndarray, op: str | None, kernel: int = 0) -> np.ndarray:
    """The H x W boolean ``mask`` eroded or dilated by a ``kernel`` x ``kernel`` rectangle, or its filled bounding
    box (``op`` box, no kernel); ``op`` none: as is."""
    if op == "box":
        out = np.zeros_like(mask, dtype=bool)
        if mask.any():
            ys, xs = np.nonzero(mask)
            out[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True
        return out
    if op in (None, "none") or kernel <= 1:
        return mask
    if op not in ("erode", "dilate"):
        raise ValueError(f"corruption op must be none, erode, dilate or box, got {op!r}")
    element = cv2.getStructuringElement(cv2.MORPH_RECT, (kernel, kernel))
    image = mask.astype(np.uint8)
    out = (cv2.erode if op == "erode" else cv2.dilate)(image, element).astype(bool)
    if not out.any() and mask.any():
        distance = cv2.distanceTransform(image, cv2.DIST_L2, 5)
        out = np.zeros_like(mask)
        out[np.unravel_index(int(distance.argmax()), distance.shape)] = True
    return out
