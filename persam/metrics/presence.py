"""Presence metrics: how well a score separates images that contain the object from images that do not.

Inputs are 1-D arrays of the same length N: ``scores`` (float, higher = more likely present; NaN is not
allowed) and ``labels`` (bool, True = the object is in the image). Pure numpy.
"""

from __future__ import annotations

import numpy as np


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    if scores.ndim != 1 or labels.shape != scores.shape:
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} must be 1-D arrays of one length")
    if labels.dtype != bool and not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be booleans (or 0 / 1)")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN: the method gives no presence score")
    return scores, labels.astype(bool)


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a random negative, ties
    counting one half (the Mann-Whitney U statistic over positives x negatives)."""
    scores, labels = _check(scores, labels)
    pos, neg = scores[labels], scores[~labels]
    if not len(pos) or not len(neg):
        raise ValueError(f"AUROC needs positives and negatives (got {len(pos)} and {len(neg)})")
    # Average ranks handle ties exactly: U = sum of the positives' ranks - n_pos (n_pos + 1) / 2.
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2  # mean of the 1-based ranks start+1..end
    u = ranks[labels].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def rates_at(scores: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float, float]:
    """(true-positive rate, false-positive rate) of the decision ``score >= threshold`` (:func:`rates`)."""
    scores, labels = _check(scores, labels)
    return rates(labels, scores >= threshold)


def keeps_every_positive(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The decisions (``score >=`` the lowest positive's) of the one threshold that keeps every positive: its
    false-positive rate bounds the score. Chosen on the labels themselves, it is a bound, not a decision."""
    scores, labels = _check(scores, labels)
    if not labels.any() or labels.all():
        raise ValueError(f"needs positives and negatives (got {int(labels.sum())} and {int((~labels).sum())})")
    return scores >= scores[labels].min()


# SAM 3's image-level terms (its ``sam3/eval/cgf1_eval.py``): each (image, prompt) pair is one decision. Here a
# prompt is one object's references, an image holds the object when its ground truth is not empty, and the method
# "predicts" the object when it returns a non-empty mask (its own presence decision, at its own threshold).
IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # 0.50, 0.55, ..., 0.95, as SAM 3 averages its F1


def image_level_counts(truth: np.ndarray, predicted: np.ndarray) -> tuple[int, int, int, int]:
    """(TP, FP, TN, FN) over image-prompt pairs: ``truth`` the object is in the image, ``predicted`` a mask."""
    truth, predicted = np.asarray(truth, dtype=bool), np.asarray(predicted, dtype=bool)
    if truth.shape != predicted.shape or truth.ndim != 1:
        raise ValueError(f"truth {truth.shape} and predicted {predicted.shape} must be 1-D arrays of one length")
    return (int((truth & predicted).sum()), int((~truth & predicted).sum()), int((~truth & ~predicted).sum()),
            int((truth & ~predicted).sum()))


def rates(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """(TPR, FPR) of the decisions ``predicted`` against ``truth``: the share of the images with the object called
    present, and of those without it; a rate without any image of its kind is NaN. Every presence rate of the
    results is this one."""
    tp, fp, tn, fn = image_level_counts(truth, predicted)
    return (tp / (tp + fn) if tp + fn else float("nan")), (fp / (fp + tn) if fp + tn else float("nan"))


def il_mcc(tp: int, fp: int, tn: int, fn: int) -> float:
    """Image-level Matthews correlation coefficient, with SAM 3's 1e-6 in the denominator (0 when a margin is 0)."""
    denominator = float(tp + fp) * float(tp + fn) * float(tn + fp) * float(tn + fn)
    return float(tp * tn - fp * fn) / (denominator ** 0.5 + 1e-6)


def positive_micro_f1(truth: np.ndarray, predicted: np.ndarray, iou: np.ndarray) -> float:
    """SAM 3's positive micro-F1 for one instance per image, averaged over :data:`IOU_THRESHOLDS`: a pair with the
    object and a mask is a true positive where its ``iou`` (a fraction) reaches the threshold, else a false
    positive; every image with the object and no matching mask is a false negative; images without the object
    add nothing (their false positives are the image-level MCC's)."""
    truth, predicted = np.asarray(truth, dtype=bool), np.asarray(predicted, dtype=bool)
    both = truth & predicted
    matched = np.asarray(iou, dtype=float)[both]
    f1 = []
    for threshold in IOU_THRESHOLDS:
        tp = int((matched >= threshold).sum())
        fp, fn = int(both.sum()) - tp, int(truth.sum()) - tp
        precision, recall = tp / (tp + fp + 1e-4), tp / (tp + fn + 1e-4)
        f1.append(2 * precision * recall / (precision + recall + 1e-4))
    return float(np.mean(f1))


def cgf1(truth: np.ndarray, predicted: np.ndarray, iou: np.ndarray) -> float:
    """SAM 3's cgF1 (in %): 100 x positive micro-F1 x image-level MCC."""
    return 100 * positive_micro_f1(truth, predicted, iou) * il_mcc(*image_level_counts(truth, predicted))
