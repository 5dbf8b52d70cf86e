"""Rough references: the object that a too-large reference mask (a dilated sketch, a dragged box) outlines.

The paper's own use case gives the reference as "a rough sketch drawn by users online"; Table 4 dilates it and
a user drags a box. A method that pools the mask's cells then pools background too. The rule: SAM is asked, on
the reference image itself, for the object the mask outlines, prompted with the mask's bounding box alone, one
mask (SAM's own advice for a box, which is not ambiguous). That mask lies *inside* the given mask when at least
:data:`INSIDE` of its pixels are in it. When it lies inside and covers less than :data:`TIGHT` of the given
mask, the mask held much more than SAM's object, and SAM's mask (within the given one) is the reference;
otherwise the mask is kept as given: a tight mask (SAM's mask is the mask), or one too small for SAM's mask to
lie inside it (an eroded mask, a part). So a mask that is already the object is never replaced, and only a mask
much larger than an object inside it is.

Revision 1 (the first rule, written down before measuring, failed on its first measurement, PerSeg's cat with a
box reference): it prompted with the box and a positive point at the mask's most interior pixel, three masks,
and took the largest inside candidate. A box's most interior pixel is its centre, which lay off the curled cat;
SAM then offered two background regions as large as the cat, and the largest was one. The box alone has no such
point to mislead it.

The two numbers are round, not tuned: 90% lets SAM's boundary differ from the user's by a few pixels, and 80%
asks that at least a fifth of the mask be outside the object before the mask is called rough (a filled disc
covers 79% of its box).
"""

from __future__ import annotations

import numpy as np

from persam.methods.protocol import Shot
from persam.models.predictor import GuidedPredictor

INSIDE = 0.9
TIGHT = 0.8


def bounding_box(mask: np.ndarray) -> np.ndarray:
    """XYXY pixel box of a non-empty mask (the last row and column included, as SAM's boxes)."""
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float64)


def object_in(mask: np.ndarray, found: np.ndarray) -> np.ndarray | None:
    """SAM's mask ``found`` within ``mask`` when it lies inside it (>= INSIDE of its pixels) and covers less than
    TIGHT of it; None otherwise (the mask is kept)."""
    overlap = int((found & mask).sum())
    if not found.any() or overlap < INSIDE * found.sum() or overlap >= TIGHT * mask.sum():
        return None
    return found & mask


def clean_reference(predictor: GuidedPredictor, shot: Shot) -> Shot:
    """``shot`` with its mask replaced by the object it outlines when the mask is rough (see the module doc)."""
    if not shot.mask.any():
        return shot
    predictor.set_embedding(shot.embedding)
    out = predictor.decode(box=bounding_box(shot.mask), multimask=False)
    found = object_in(shot.mask, (out.mask_logits(0) > 0).cpu().numpy())
    return shot if found is None else Shot(shot.embedding, found)
