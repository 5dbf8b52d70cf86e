"""PerSeg's metric as the paper computes it (the original ``eval_miou.py``).

For each object, intersection, union and ground-truth area are summed over its target images (the
reference image excluded); IoU = sum I / sum U and Acc = sum I / sum GT. mIoU and mAcc are the means over
objects. A target whose ground truth is empty (the object has left the view, as davis16_perseg's
``bmx-bumps/04``) is no special case: it adds its predicted pixels to the object's union and nothing to its
intersection, so the object's IoU stays pooled over all its targets. An object whose masks are all empty,
predicted and true alike, scores 1 (perfect agreement).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ObjectScore:
    """Running pixel counts for one object."""

    intersection: int = 0
    union: int = 0
    target: int = 0
    images: int = 0

    def add(self, pred: np.ndarray, gt: np.ndarray) -> None:
        if pred.shape != gt.shape:
            raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
        pred, gt = pred.astype(bool), gt.astype(bool)
        self.intersection += int(np.logical_and(pred, gt).sum())
        self.union += int(np.logical_or(pred, gt).sum())
        self.target += int(gt.sum())
        self.images += 1

    @property
    def iou(self) -> float:
        return self.intersection / self.union if self.union else 1.0

    @property
    def acc(self) -> float:
        return self.intersection / self.target if self.target else float(self.union == 0)


def mean_scores(scores: dict[str, ObjectScore]) -> tuple[float, float]:
    """(mIoU, mAcc) over objects, as fractions in [0, 1]."""
    if not scores:
        raise ValueError("no objects were scored")
    return (
        float(np.mean([s.iou for s in scores.values()])),
        float(np.mean([s.acc for s in scores.values()])),
    )
