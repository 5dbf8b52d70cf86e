"""Cascaded post-refinement: feed SAM its own mask back, as a mask prompt and (optionally) as a box.

Each step decodes three masks with the same points, the previous step's low-resolution logits as the
mask prompt and, where enabled, the bounding box of the previous mask; the mask with the highest
predicted IoU is kept. SAM can return an empty mask; then there is no box to give, so that step runs
without one, and a step whose result is empty never replaces a non-empty earlier result (the original
code crashes here, taking the min of an empty array).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import Tensor

from persam.models.predictor import GuidedPredictor


@dataclass
class Stage:
    """A mask with the logits it came from. logits: H x W (original size); low_res: 1 x 256 x 256."""

    logits: Tensor
    low_res: Tensor

    @property
    def mask(self) -> Tensor:
        return self.logits > 0


def box_from_mask(mask: Tensor) -> np.ndarray | None:
    """XYXY pixel box of a boolean H x W mask, or None when the mask is empty."""
    ys, xs = np.nonzero(mask.cpu().numpy())
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float64)


def refine(
    predictor: GuidedPredictor,
    stage: Stage,
    point_coords: np.ndarray,
    point_labels: np.ndarray,
    steps: int = 2,
    box_from_first_step: bool = False,
) -> Stage:
    """Run ``steps`` refinement steps after ``stage``. The box prompt is used from step 2 on, or from
    step 1 when ``box_from_first_step`` (PerSAM-F: its fused first mask is already a whole object)."""
    for step in range(1, steps + 1):
        use_box = step >= 2 or box_from_first_step
        box = box_from_mask(stage.mask) if use_box else None
        out = predictor.decode(point_coords, point_labels, box=box, mask_input=stage.low_res, multimask=True)
        best = out.best()
        refined = Stage(out.logits[best], out.low_res_logits[best : best + 1])
        if bool(refined.mask.any()) or not bool(stage.mask.any()):
            stage = refined
    return stage
