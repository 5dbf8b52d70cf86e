"""A reference mask from clicks: SAM segments the reference image from points and/or a box, so a person
needs a photo and one click, not a mask file.

Of SAM's three multimask outputs the one with the highest predicted IoU is kept (with a box alone too, as
SAM's own demo does).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from persam.data.io import DataError, write_mask
from persam.drawing import overlay, write_image
from persam.models.predictor import GuidedPredictor

REFERENCE_MASK = "reference_mask.png"
REFERENCE_OVERLAY = "reference_overlay.jpg"


class ClickError(ValueError):
    """A click or box that cannot give a reference mask (outside the image, or an empty result)."""


def reference_mask_from_clicks(predictor: GuidedPredictor, image: np.ndarray,
                               points: np.ndarray | None = None, labels: np.ndarray | None = None,
                               box: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """SAM's mask of the clicked object in an H x W x 3 uint8 RGB image, and its predicted IoU.

    points: N x 2 XY pixels; labels: N (1 = on the object, 0 = not the object); box: XYXY pixels.
    Raises :class:`ClickError` for a point or box outside the image, no prompt at all, or an empty mask.
    """
    h, w = image.shape[:2]
    if (points is None or len(points) == 0) and box is None:
        raise ClickError("no click: give at least one point on the object, or a box")
    if points is not None and len(points):
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        labels = np.ones(len(points), dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
        if len(labels) != len(points):
            raise ClickError(f"{len(points)} points but {len(labels)} labels")
        for x, y in points:
            if not (0 <= x < w and 0 <= y < h):
                raise ClickError(f"click ({x:g}, {y:g}) is outside the {w}x{h} image")
    else:
        points = labels = None
    if box is not None:
        box = np.asarray(box, dtype=np.float64).reshape(4)
        x0, y0, x1, y1 = box
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
            raise ClickError(f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) is not inside the {w}x{h} image "
                             "(need x0 < x1, y0 < y1)")
    predictor.set_embedding(predictor.embed(image))
    out = predictor.decode(points, labels, box=box, multimask=True)
    best = out.best()
    mask = (out.mask_logits(best) > 0).cpu().numpy()
    if not mask.any():
        raise ClickError("SAM found no object at the click: click inside the object, or draw a box around it")
    return mask, float(out.iou[best])


def clicked_reference(predictor: GuidedPredictor, image: np.ndarray, image_path: Path,
                      points: Sequence[Sequence[float]] = (), neg_points: Sequence[Sequence[float]] = (),
                      box: Sequence[float] | None = None, out: Path | None = None) -> tuple[np.ndarray, float]:
    """:func:`reference_mask_from_clicks` from clicks on the object (``points``, XY pixels), beside it
    (``neg_points``) and/or a ``box``; a bad click is a :class:`DataError` naming ``image_path``. With ``out``,
    the mask is written to ``<out>/reference_mask.png`` (palette PNG, 1 = the object) and drawn in
    ``<out>/reference_overlay.jpg``, so the person can check what was taken as the object."""
    clicks = [*points, *neg_points]
    xy = np.asarray(clicks, dtype=np.float64).reshape(-1, 2) if clicks else None
    labels = np.asarray([1] * len(points) + [0] * len(neg_points), dtype=np.int64) if clicks else None
    try:
        mask, iou = reference_mask_from_clicks(predictor, image, xy, labels,
                                               None if box is None else np.asarray(box, dtype=np.float64))
    except ClickError as err:
        raise DataError(f"{image_path}: {err}") from None
    if out is not None:
        write_mask(out / REFERENCE_MASK, mask)
        write_image(out / REFERENCE_OVERLAY, overlay(image, mask, xy, labels))
    return mask, iou
