"""Instance metrics: several instances of one object in an image, as H x W integer label maps (0 background,
1..n instances; labels need not be consecutive).

* :func:`match_instances`: one-to-one matching of predicted to true instances at IoU >= 0.5. At that
  threshold a match is unique (two masks with IoU > 0.5 to one mask would overlap each other by more than
  half), so taking the pairs in decreasing IoU is the optimal matching;
* :class:`InstanceCounts`: running matched / true / predicted counts (``+`` sums two) -> recall, precision;
* the mIoU of the union is :class:`persam.metrics.ObjectScore` over ``labels > 0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IOU_MATCH = 0.5


def instance_masks(labels: np.ndarray) -> list[np.ndarray]:
    """One H x W bool mask per non-zero label, in increasing label order."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"an instance label map is H x W, got shape {labels.shape}")
    return [labels == v for v in np.unique(labels) if v != 0]


def iou_matrix(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """P x G IoU between the instances of two H x W label maps."""
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
    p, g = instance_masks(pred), instance_masks(gt)
    out = np.zeros((len(p), len(g)))
    for i, a in enumerate(p):
        for j, b in enumerate(g):
            union = np.logical_or(a, b).sum()
            out[i, j] = np.logical_and(a, b).sum() / union if union else 0.0
    return out


def match_instances(pred: np.ndarray, gt: np.ndarray, threshold: float = IOU_MATCH) -> list[tuple[int, int, float]]:
    """Matched pairs (predicted index, true index, IoU), greedy by decreasing IoU, each instance used once."""
    ious = iou_matrix(pred, gt)
    pairs, used_p, used_g = [], set(), set()
    for flat in np.argsort(-ious, axis=None, kind="stable"):
        i, j = np.unravel_index(flat, ious.shape)
        if ious[i, j] < threshold:
            break
        if i not in used_p and j not in used_g:
            pairs.append((int(i), int(j), float(ious[i, j])))
            used_p.add(i)
            used_g.add(j)
    return pairs


@dataclass
class InstanceCounts:
    """Running counts over images: matched pairs, true instances, predicted instances."""

    matched: int = 0
    true: int = 0
    predicted: int = 0

    def __add__(self, other: InstanceCounts) -> InstanceCounts:
        return InstanceCounts(self.matched + other.matched, self.true + other.true, self.predicted + other.predicted)

    def add(self, pred: np.ndarray, gt: np.ndarray, threshold: float = IOU_MATCH) -> None:
        self.matched += len(match_instances(pred, gt, threshold))
        self.true += len(instance_masks(gt))
        self.predicted += len(instance_masks(pred))

    @property
    def recall(self) -> float:
        """Matched / true instances (1 when there are none to find)."""
        return self.matched / self.true if self.true else 1.0

    @property
    def precision(self) -> float:
        """Matched / predicted instances (1 when nothing was predicted)."""
        return self.matched / self.predicted if self.predicted else 1.0
