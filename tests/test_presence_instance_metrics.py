"""Presence (AUROC, rates at a threshold) and instance (matching, recall, precision) metrics."""

import numpy as np
import pytest

from persam.metrics.instances import InstanceCounts, iou_matrix, match_instances
from persam.metrics.presence import auroc, image_level_counts, keeps_every_positive, rates, rates_at


def _pairwise_auroc(scores, labels):
    pos, neg = scores[labels], scores[~labels]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def test_auroc_matches_the_pairwise_definition_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        scores = rng.integers(0, 6, size=30).astype(float)  # many ties
        labels = rng.random(30) < 0.4
        labels[:2] = [True, False]
        assert auroc(scores, labels) == pytest.approx(_pairwise_auroc(scores, labels))


def test_auroc_extremes():
    labels = np.array([True, True, False, False])
    assert auroc(np.array([0.9, 0.8, 0.1, 0.2]), labels) == 1.0
    assert auroc(np.array([0.1, 0.2, 0.9, 0.8]), labels) == 0.0
    assert auroc(np.ones(4), labels) == 0.5


def test_rates_at_threshold():
    scores = np.array([0.9, 0.5, 0.4, 0.1, 0.6])
    labels = np.array([1, 1, 1, 0, 0])
    tpr, fpr = rates_at(scores, labels, 0.5)
    assert tpr == pytest.approx(2 / 3) and fpr == 0.5


def test_rates_on_a_hand_made_confusion():
    # TP 3, FN 1 (4 images with the object), FP 2, TN 4 (6 without): TPR 3/4, FPR 2/6.
    truth = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    predicted = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0], bool)
    assert image_level_counts(truth, predicted) == (3, 2, 4, 1)
    assert rates(truth, predicted) == (3 / 4, 2 / 6)
    tpr, fpr = rates(np.array([0, 0], bool), np.array([1, 0], bool))  # no image with the object: TPR undefined
    assert np.isnan(tpr) and fpr == 0.5


def test_keeps_every_positive_counts_ties_as_present():
    scores = np.array([0.9, 0.5, 0.7, 0.5, 0.6, 0.1])
    labels = np.array([1, 1, 0, 0, 0, 0])
    kept = keeps_every_positive(scores, labels)
    assert kept.tolist() == [True, True, True, True, True, False]  # 0.7, 0.6 and the tie at 0.5
    assert rates(labels, kept) == (1.0, 3 / 4)
    assert rates(np.array([1, 0]), keeps_every_positive(np.array([0.9, 0.1]), np.array([1, 0]))) == (1.0, 0.0)
    with pytest.raises(ValueError, match="positives and negatives"):
        keeps_every_positive(np.array([0.9, 0.1]), np.array([1, 1]))


def test_presence_shape_and_nan_errors():
    with pytest.raises(ValueError, match="1-D"):
        auroc(np.zeros((2, 2)), np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match="one length"):
        rates_at(np.zeros(3), np.zeros(2, bool), 0.0)
    with pytest.raises(ValueError, match="NaN"):
        auroc(np.array([np.nan, 1.0]), np.array([True, False]))
    with pytest.raises(ValueError, match="positives and negatives"):
        auroc(np.array([1.0, 2.0]), np.array([True, True]))


def _boxes(shape, *boxes):
    labels = np.zeros(shape, np.uint8)
    for k, (y0, y1, x0, x1) in enumerate(boxes, 1):
        labels[y0:y1, x0:x1] = k
    return labels


def test_matching_is_one_to_one_at_iou_half():
    gt = _boxes((20, 40), (0, 10, 0, 10), (0, 10, 20, 30))
    # Instance 1 covers gt 1 exactly; instance 2 covers gt 2 at IoU 60/100 = 0.6; instance 3 is a false one.
    pred = _boxes((20, 40), (0, 10, 0, 10), (0, 10, 24, 30), (12, 20, 0, 40))
    pairs = match_instances(pred, gt)
    assert [(i, j) for i, j, _ in pairs] == [(0, 0), (1, 1)]
    assert pairs[1][2] == pytest.approx(0.6)
    counts = InstanceCounts()
    counts.add(pred, gt)
    assert (counts.matched, counts.true, counts.predicted) == (2, 2, 3)
    assert counts.recall == 1.0 and counts.precision == pytest.approx(2 / 3)
    assert counts + InstanceCounts(1, 2, 1) == InstanceCounts(3, 4, 4)  # two images' counts pooled


def test_a_prediction_covering_both_instances_matches_neither():
    gt = _boxes((10, 30), (0, 10, 0, 10), (0, 10, 20, 30))
    pred = (gt > 0).astype(np.uint8)  # one instance: the union, IoU 0.5 with neither? 100 / 200 = 0.5
    pred[:, 10:20] = 1  # and the gap between them: IoU 1/3 with each
    assert match_instances(pred, gt) == []
    counts = InstanceCounts()
    counts.add(pred, gt)
    counts.add(np.zeros((10, 30), np.uint8), np.zeros((10, 30), np.uint8))  # an empty image adds nothing
    assert counts.recall == 0.0 and counts.precision == 0.0


def test_iou_matrix_shape_check():
    with pytest.raises(ValueError, match="differ in size"):
        iou_matrix(np.zeros((2, 3)), np.zeros((3, 2)))
    assert iou_matrix(np.zeros((4, 4)), _boxes((4, 4), (0, 2, 0, 2))).shape == (0, 1)


def test_il_mcc_and_cgf1_on_a_hand_made_confusion():
    """10 image-object pairs: 5 hold the object (3 found, 2 missed), 5 do not (1 false mask, 4 left empty)."""
    from persam.metrics.presence import cgf1, il_mcc, image_level_counts, positive_micro_f1

    truth = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], bool)
    predicted = np.array([1, 1, 1, 0, 0, 1, 0, 0, 0, 0], bool)
    iou = np.array([0.9, 0.72, 0.4, 0, 0, 0, 0, 0, 0, 0])
    assert image_level_counts(truth, predicted) == (3, 1, 4, 2)
    mcc = (3 * 4 - 1 * 2) / np.sqrt(4 * 5 * 5 * 6)  # (TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))
    assert il_mcc(3, 1, 4, 2) == pytest.approx(mcc, abs=1e-6)
    # Thresholds 0.50 ... 0.70 (5 of 10): TP 2 (0.9, 0.72), FP 1 (the 0.4 mask), FN 3; 0.75 ... 0.90 (4): TP 1,
    # FP 2, FN 4; 0.95: TP 0. F1 = 2 TP / (2 TP + FP + FN) up to SAM 3's 1e-4 terms.
    f1 = (5 * (4 / 8) + 4 * (2 / 8) + 0) / 10
    assert positive_micro_f1(truth, predicted, iou) == pytest.approx(f1, abs=1e-3)
    assert cgf1(truth, predicted, iou) == pytest.approx(100 * f1 * mcc, abs=0.1)
    # Perfect decisions and masks: MCC 1, cgF1 100; deciding at random against the truth: MCC 0.
    assert cgf1(truth, truth, truth.astype(float)) == pytest.approx(100, abs=0.1)
    assert il_mcc(*image_level_counts(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool))) == 0
