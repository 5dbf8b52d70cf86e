"""PerSeg's metric: I, U and GT are summed over an object's images before dividing."""

import numpy as np
import pytest

from persam.metrics.miou import ObjectScore, mean_scores

# Image A (3x3):            pred                gt
#                        1 1 0               0 1 1
#                        1 1 0               0 1 1
#                        0 0 0               0 0 0
# I = 2 (middle column, top two rows), U = 6, GT = 4  -> per-image IoU 1/3
PRED_A = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0]])
GT_A = np.array([[0, 1, 1], [0, 1, 1], [0, 0, 0]])
# Image B: pred is the whole 3x3 image, gt one pixel -> I = 1, U = 9, GT = 1, per-image IoU 1/9
PRED_B = np.ones((3, 3))
GT_B = np.zeros((3, 3))
GT_B[1, 1] = 1
# Image C: pred = gt = one pixel -> I = 1, U = 1, GT = 1, per-image IoU 1
PRED_C = GT_C = GT_B.copy()


def test_counts_accumulate_over_images():
    """Sums over A and B: I = 2 + 1 = 3, U = 6 + 9 = 15, GT = 4 + 1 = 5."""
    score = ObjectScore()
    score.add(PRED_A, GT_A)
    score.add(PRED_B, GT_B)
    assert (score.intersection, score.union, score.target, score.images) == (3, 15, 5, 2)
    assert score.iou == pytest.approx(3 / 15)
    assert score.acc == pytest.approx(3 / 5)


def test_iou_is_ratio_of_sums_not_mean_of_ratios():
    """B then C: sum I / sum U = 2 / 10 = 0.2, whereas the mean of per-image IoUs is (1/9 + 1) / 2 = 5/9."""
    score = ObjectScore()
    score.add(PRED_B, GT_B)
    score.add(PRED_C, GT_C)
    assert score.iou == pytest.approx(0.2)
    assert score.iou != pytest.approx(5 / 9)
    assert score.acc == pytest.approx(2 / 2)  # sum I / sum GT


def test_accepts_bool_and_nonbinary_masks():
    """Any non-zero value counts as the object."""
    score = ObjectScore()
    score.add(PRED_A.astype(bool), GT_A * 255)
    assert (score.intersection, score.union, score.target) == (2, 6, 4)


def test_mean_scores_over_two_objects():
    """Object 1 (A+B): IoU 3/15, Acc 3/5. Object 2 (B+C): IoU 2/10, Acc 1. Means over objects."""
    one, two = ObjectScore(), ObjectScore()
    one.add(PRED_A, GT_A)
    one.add(PRED_B, GT_B)
    two.add(PRED_B, GT_B)
    two.add(PRED_C, GT_C)
    miou, macc = mean_scores({"one": one, "two": two})
    assert miou == pytest.approx((3 / 15 + 2 / 10) / 2)
    assert macc == pytest.approx((3 / 5 + 1.0) / 2)


def test_mean_scores_differs_from_pooled_pixels():
    """mIoU averages per-object IoUs; it is not the IoU of all pixels pooled across objects."""
    one, two = ObjectScore(), ObjectScore()
    one.add(PRED_A, GT_A)  # IoU 2/6
    two.add(PRED_C, GT_C)  # IoU 1/1
    miou, _ = mean_scores({"one": one, "two": two})
    assert miou == pytest.approx((2 / 6 + 1) / 2)
    assert miou != pytest.approx((2 + 1) / (6 + 1))


def test_empty_masks_score_one():
    """An object whose predictions and ground truths are all empty agrees perfectly."""
    score = ObjectScore()
    score.add(np.zeros((3, 3)), np.zeros((3, 3)))
    score.add(np.zeros((2, 4), bool), np.zeros((2, 4), bool))
    assert score.iou == 1.0
    assert score.acc == 1.0


def test_empty_gt_with_false_positive_scores_zero():
    """Predicting something where nothing is scores 0, not 1."""
    score = ObjectScore()
    score.add(PRED_A, np.zeros((3, 3)))
    assert score.iou == 0.0
    assert score.acc == 0.0


def test_shape_mismatch_raises():
    """Prediction and ground truth must have the same size."""
    with pytest.raises(ValueError, match="differ in size"):
        ObjectScore().add(np.zeros((3, 3)), np.zeros((3, 4)))


def test_mean_scores_of_nothing_raises():
    """No objects scored is an error, not NaN."""
    with pytest.raises(ValueError):
        mean_scores({})


def test_empty_ground_truth_target_pools_into_its_object():
    """A target with an empty ground truth (the object left the view) adds its false positives to the object's
    union; the object's IoU is pooled over its targets, not the mean of per-target IoUs."""
    score = ObjectScore()
    score.add(PRED_A, GT_A)  # I 2, U 6
    score.add(PRED_C, np.zeros((3, 3)))  # I 0, U 1: the prediction where nothing is
    assert score.iou == pytest.approx(2 / 7)
    assert score.acc == pytest.approx(2 / GT_A.sum())
