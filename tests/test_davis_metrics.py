"""DAVIS J and F: the official definitions, checked against an independent implementation (vos-benchmark) on
real DAVIS masks, plus hand-computed statistics and edge cases."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from davis_util import DAVIS, merged_labels
from PIL import Image

from persam.data.davis import read_annotation
from persam.data.io import DEFAULT_PALETTE
from persam.metrics.davis import (
    boundary_map,
    boundary_radius,
    contour_accuracy,
    decay_bins,
    evaluate_sequence,
    frame_scores,
    j_and_f,
    region_similarity,
    statistics,
)


def test_statistics_by_hand():
    values = np.arange(10) / 10
    s = statistics(values)
    assert s.mean == pytest.approx(0.45)
    assert s.recall == pytest.approx(0.4)  # 0.6, 0.7, 0.8, 0.9 are above 0.5
    # bins over 10 frames: [0:3], [2:6], [5:8], [7:10] -> means 0.1 and 0.8
    assert [(b.start, b.stop) for b in decay_bins(10)] == [(0, 3), (2, 6), (5, 8), (7, 10)]
    assert s.decay == pytest.approx(0.1 - 0.8)
    assert statistics(np.array([1.0, np.nan, 0.0])).mean == pytest.approx(0.5)  # NaN frames are left out
    with pytest.raises(ValueError):
        statistics(np.array([]))


def test_edge_cases_and_shape_checks():
    empty, square = np.zeros((20, 30), bool), np.zeros((20, 30), bool)
    square[5:10, 5:12] = True
    assert region_similarity(empty, empty) == 1 and contour_accuracy(empty, empty) == 1
    assert region_similarity(square, empty) == 0 and contour_accuracy(square, empty) == 0
    assert contour_accuracy(empty, square) == 0
    assert region_similarity(square, square) == 1 and contour_accuracy(square, square) == 1
    edges = boundary_map(square)
    # one pixel wide, half a pixel towards the origin: outside on the top and left, inside on the bottom and right
    assert edges.sum() == 2 * (5 + 7) and edges[4, 6] and edges[9, 6] and edges[6, 4] and edges[6, 11] and not edges[7, 8]
    assert boundary_radius((480, 854)) == 8  # ceil(0.008 * 979.7)
    with pytest.raises(ValueError, match="differ in size"):
        region_similarity(square, square[:, :-1])
    with pytest.raises(ValueError, match="H x W"):
        contour_accuracy(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="no object"):
        frame_scores(np.ones((4, 4), np.uint8), np.full((4, 4), 3, np.uint8), [1])


def test_void_is_background_as_in_the_official_semi_supervised_evaluation():
    gt = np.zeros((10, 10), np.uint8)
    gt[2:6, 2:6] = 1
    gt[6:8, 2:6] = 255
    pred = np.where(gt > 0, 1, 0).astype(np.uint8)  # also claims the void pixels
    j, _ = frame_scores(gt, pred, [1])
    assert j[0] == pytest.approx(16 / 24)


def _perturbations(gt: np.ndarray, t: int) -> np.ndarray:
    """A realistic wrong prediction for frame t: shifted, eroded, dilated, with a false blob, or empty."""
    kind = t % 6
    if kind == 0:
        return np.roll(gt, (7, -11), axis=(0, 1))
    if kind == 1:
        return cv2.erode(gt, np.ones((9, 9), np.uint8))
    if kind == 2:
        return cv2.dilate(gt, np.ones((15, 15), np.uint8))
    if kind == 3:
        out = gt.copy()
        out[20:60, 700:780] = 1
        return out
    if kind == 4:
        return np.zeros_like(gt)
    return gt.copy()


def _write(folder: Path, labels: list[np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(labels):
        image = Image.fromarray(frame, mode="P")
        image.putpalette(DEFAULT_PALETTE)
        image.save(folder / f"{i:05d}.png")


def test_equals_vos_benchmark_on_real_masks(tmp_path):
    """J, F and J&F equal the independent vos-benchmark package's (to 1e-6) on real DAVIS ground truth, with
    predictions made from it (shifted, eroded, dilated, spurious blob, empty) and a two-object sequence."""
    from vos_benchmark.benchmark import benchmark
    from vos_benchmark.evaluator import Evaluator

    n = 6
    sequences = {
        "dog": [read_annotation(DAVIS / "Annotations" / "480p" / "dog" / f"{i:05d}.png") for i in range(n)],
        "blackswan": [read_annotation(DAVIS / "Annotations" / "480p" / "blackswan" / f"{i:05d}.png") for i in range(n)],
        "two": [merged_labels("blackswan", "dog", i) for i in range(n)],
    }
    predictions = {}
    for name, gts in sequences.items():
        preds = []
        for t, gt in enumerate(gts):
            if name == "two":  # perturb the two objects differently; object 2 partly covers object 1's place
                one = _perturbations((gt == 1).astype(np.uint8), t)
                two = _perturbations((gt == 2).astype(np.uint8), t + 3)
                preds.append(np.where(two > 0, 2, np.where(one > 0, 1, 0)).astype(np.uint8))
            else:
                preds.append(_perturbations(gt, t + len(name)))
        predictions[name] = preds
        _write(tmp_path / "gt" / name, gts)
        _write(tmp_path / "pred" / name, preds)

    ours = []
    for name, gts in sequences.items():
        per_object = evaluate_sequence(gts, predictions[name])
        oracle = Evaluator()
        for t in range(1, n - 1):
            oracle.feed_frame(predictions[name][t], gts[t])
        assert sorted(per_object) == sorted(oracle.objects_in_gt)
        for k, (j, f) in per_object.items():
            np.testing.assert_allclose(j, oracle.object_iou[k], rtol=0, atol=1e-6)
            np.testing.assert_allclose(f, oracle.boundary_f[k], rtol=0, atol=1e-6)
            assert 0 < j.mean() < 1 and 0 < f.mean() < 1  # the perturbations make the case non-trivial
        ours += list(per_object.values())
    jf, j, f = j_and_f(ours)
    [g_jf], [g_j], [g_f], _ = benchmark([str(tmp_path / "gt")], [str(tmp_path / "pred")], num_processes=1, verbose=False)
    assert 100 * jf == pytest.approx(g_jf, abs=1e-6)
    assert 100 * j == pytest.approx(g_j, abs=1e-6)
    assert 100 * f == pytest.approx(g_f, abs=1e-6)
    assert len(ours) == 4
