"""Rough references: the object that a too-large reference mask (a dilated sketch, a dragged box) outlines.

SAM is asked, on the reference image itself, for the object the mask outlines, prompted with the mask's bounding
box alone, one mask. That mask lies *inside* the given mask when at least ``inside`` of its pixels are in it; when
it lies inside and covers less than ``tight`` of the given mask, SAM's mask (within the given one) is the
reference; otherwise the mask is kept as given. PerSAM+'s rule 0 (settings ``cleanup_inside``, ``cleanup_tight``);
the rule's revision and the data behind it: docs/methods.md, "PerSAM+ design record".
"""

from __future__ import annotations

import numpy as np

from persam.methods.protocol import Shot
from persam.models.predictor import GuidedPredictor


def bounding_box(mask: np.ndarray) -> np.ndarray:
    """XYXY pixel box of a non-empty mask (the last row and column included, as SAM's boxes)."""
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float64)


def object_in(mask: np.ndarray, found: np.ndarray, inside: float, tight: float) -> np.ndarray | None:
    """SAM's mask ``found`` within ``mask`` when it lies inside it (>= ``inside`` of its pixels) and covers less
    than ``tight`` of it; None otherwise (the mask is kept)."""
    overlap = int((found & mask).sum())
    if not found.any() or overlap < inside * found.sum() or overlap >= tight * mask.sum():
        return None
    return found & mask


def clean_reference(predictor: GuidedPredictor, shot: Shot, inside: float, tight: float) -> Shot:
    """``shot`` with its mask replaced by the object it outlines when the mask is rough (see the module doc)."""
    if not shot.mask.any():
        return shot
    predictor.set_embedding(shot.embedding)
    out = predictor.decode(box=bounding_box(shot.mask), multimask=False)
    found = object_in(shot.mask, (out.mask_logits(0) > 0).cpu().numpy(), inside, tight)
    return shot if found is None else Shot(shot.embedding, found)
