"""DAVIS 2017 semi-supervised video object segmentation measures, as the official davis2017-evaluation defines them.

* **J** (region similarity): the IoU of one object's predicted and true masks in one frame; a frame where
  both are empty scores 1.
* **F** (contour accuracy): the F-measure of the two masks' one-pixel boundaries (:func:`boundary_map`), a
  boundary pixel counting as matched when the other boundary lies within a disk of radius
  ``ceil(0.008 * image diagonal)`` around it (8 pixels at 854 x 480). An empty boundary on both sides scores 1,
  on one side 0.
* Per object, over the evaluated frames (all but the first, which is given, and the last): **Mean**,
  **Recall** (the fraction of frames scoring above 0.5) and **Decay** (the mean of the first quarter of the
  frames minus the mean of the last quarter; 4 bins as the official code draws them).
* **J&F** = (mean of the objects' J-Means + mean of the objects' F-Means) / 2; every object of every sequence
  counts once.

As in the official semi-supervised evaluation, void pixels (label 255 in DAVIS annotations) are background:
they are not excluded from either measure (``void`` arguments exist for other protocols). The objects of a
sequence are 1 .. the largest label of its first annotation. Scores here are fractions in [0, 1]; tables
show percent. Tests check these against the independent ``vos-benchmark`` package on real masks.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import cv2
import numpy as np

BOUNDARY_THRESHOLD = 0.008
DECAY_BINS = 4
VOID = 255


def _check_pair(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None) -> None:
    if gt.ndim != 2:
        raise ValueError(f"masks must be H x W, got shape {gt.shape}")
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in size")
    if void is not None and void.shape != gt.shape:
        raise ValueError(f"void mask {void.shape} and ground truth {gt.shape} differ in size")


def region_similarity(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None) -> float:
    """J of one frame: IoU of two H x W boolean masks (1 when both are empty); ``void`` pixels are ignored."""
    _check_pair(gt, pred, void)
    gt, pred = gt.astype(bool), pred.astype(bool)
    keep = np.ones_like(gt) if void is None else ~void.astype(bool)
    union = int(np.count_nonzero((gt | pred) & keep))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(gt & pred & keep)) / union


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """One-pixel boundary of an H x W boolean mask: the pixels that differ from their right, lower or
    lower-right neighbour (the boundary sits half a pixel towards the origin); H x W bool."""
    if mask.ndim != 2:
        raise ValueError(f"mask must be H x W, got shape {mask.shape}")
    seg = mask.astype(bool)
    right = np.zeros_like(seg)
    down = np.zeros_like(seg)
    diagonal = np.zeros_like(seg)
    right[:, :-1] = seg[:, 1:]
    down[:-1, :] = seg[1:, :]
    diagonal[:-1, :-1] = seg[1:, 1:]
    edges = (seg ^ right) | (seg ^ down) | (seg ^ diagonal)
    # On the last row and column only the neighbour inside the image counts; the corner never does.
    edges[-1, :] = seg[-1, :] ^ right[-1, :]
    edges[:, -1] = seg[:, -1] ^ down[:, -1]
    edges[-1, -1] = False
    return edges


def disk(radius: float) -> np.ndarray:
    """(2r+1) x (2r+1) uint8 disk: the offsets (x, y) with x^2 + y^2 <= r^2."""
    r = int(radius)
    offsets = np.arange(-r, r + 1)
    return ((offsets[None, :] ** 2 + offsets[:, None] ** 2) <= radius**2).astype(np.uint8)


def boundary_radius(shape: tuple[int, int], threshold: float = BOUNDARY_THRESHOLD) -> float:
    """Matching tolerance in pixels: ``threshold`` itself when >= 1, else ceil(threshold * image diagonal)."""
    return float(threshold) if threshold >= 1 else float(math.ceil(threshold * math.hypot(*shape)))


def contour_accuracy(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None,
                     threshold: float = BOUNDARY_THRESHOLD) -> float:
    """F of one frame: boundary F-measure of two H x W boolean masks (see module doc)."""
    _check_pair(gt, pred, void)
    keep = np.ones(gt.shape, dtype=bool) if void is None else ~void.astype(bool)
    gt_edges = boundary_map(gt.astype(bool) & keep)
    pred_edges = boundary_map(pred.astype(bool) & keep)
    element = disk(boundary_radius(gt.shape, threshold))
    gt_near = cv2.dilate(gt_edges.astype(np.uint8), element).astype(bool)
    pred_near = cv2.dilate(pred_edges.astype(np.uint8), element).astype(bool)
    n_pred, n_gt = int(np.count_nonzero(pred_edges)), int(np.count_nonzero(gt_edges))
    if n_pred == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    elif n_pred == 0:
        precision, recall = 1.0, 0.0
    elif n_gt == 0:
        precision, recall = 0.0, 1.0
    else:
        precision = np.count_nonzero(pred_edges & gt_near) / n_pred
        recall = np.count_nonzero(gt_edges & pred_near) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def decay_bins(n: int, bins: int = DECAY_BINS) -> list[slice]:
    """The official Decay bins over ``n`` frames: ``bins`` overlapping slices (neighbouring bins share an
    end frame), from ``round(linspace(1, n, bins + 1)) - 1``. (The official code stores these indices as
    uint8, which wraps past 256 evaluated frames; they are plain integers here, equal up to that length.)"""
    edges = (np.round(np.linspace(1, n, bins + 1) + 1e-10) - 1).astype(np.int64)
    return [slice(int(edges[i]), int(edges[i + 1]) + 1) for i in range(bins)]


@dataclass(frozen=True)
class Statistics:
    """Mean, Recall (fraction above 0.5) and Decay of one object's per-frame scores (fractions)."""

    mean: float
    recall: float
    decay: float


def statistics(values: np.ndarray) -> Statistics:
    """Mean, Recall and Decay of a 1-D array of per-frame J or F values (NaN values are left out)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"per-frame values must be a non-empty 1-D array, got shape {values.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # all-NaN bins give NaN, as officially
        bins = [np.nanmean(values[s]) for s in decay_bins(len(values))]
        return Statistics(float(np.nanmean(values)), float(np.nanmean(values > 0.5)), float(bins[0] - bins[-1]))


def sequence_objects(first_annotation: np.ndarray) -> list[int]:
    """The objects of a sequence as the official evaluation counts them: 1 .. the largest label of its
    first annotation (void 255 excluded)."""
    labels = first_annotation[first_annotation != VOID]
    top = int(labels.max()) if labels.size else 0
    return list(range(1, top + 1))


def frame_scores(gt: np.ndarray, pred: np.ndarray, objects: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """J and F of each object in one frame, from H x W label maps (void 255 in ``gt`` counts as background).

    Returns two arrays of len(objects). A prediction label that is no object of the sequence is an error.
    """
    if gt.shape != pred.shape or gt.ndim != 2:
        raise ValueError(f"label maps must be H x W and equal in size, got {gt.shape} and {pred.shape}")
    stray = set(np.unique(pred).tolist()) - {0, *objects}
    if stray:
        raise ValueError(f"prediction holds labels {sorted(stray)} that are no object of the sequence {objects}")
    gt = np.where(gt == VOID, 0, gt)
    j = np.array([region_similarity(gt == k, pred == k) for k in objects])
    f = np.array([contour_accuracy(gt == k, pred == k) for k in objects])
    return j, f


def evaluate_sequence(gt: list[np.ndarray], pred: list[np.ndarray], objects: list[int] | None = None,
                      skip_first_and_last: bool = True) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per-frame J and F of every object over a sequence of H x W label maps (frame 0 first).

    ``objects`` defaults to :func:`sequence_objects` of the first annotation; the first and last frames are
    left out unless ``skip_first_and_last`` is false. Returns {object: (J per frame, F per frame)}.
    """
    if len(gt) != len(pred):
        raise ValueError(f"{len(gt)} ground-truth frames but {len(pred)} predicted frames")
    objects = sequence_objects(gt[0]) if objects is None else objects
    frames = range(1, len(gt) - 1) if skip_first_and_last else range(len(gt))
    if len(frames) == 0:
        raise ValueError(f"a sequence of {len(gt)} frames has no frame to evaluate")
    scores = [frame_scores(gt[t], pred[t], objects) for t in frames]
    j = np.stack([s[0] for s in scores], axis=1)
    f = np.stack([s[1] for s in scores], axis=1)
    return {k: (j[i], f[i]) for i, k in enumerate(objects)}


def j_and_f(per_object: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float, float]:
    """(J&F, J-Mean, F-Mean) over objects, each object's per-frame (J, F) arrays given (fractions)."""
    if not per_object:
        raise ValueError("no objects were scored")
    j = float(np.mean([statistics(jv).mean for jv, _ in per_object]))
    f = float(np.mean([statistics(fv).mean for _, fv in per_object]))
    return (j + f) / 2, j, f
