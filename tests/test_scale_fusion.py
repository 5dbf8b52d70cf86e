"""PerSAM-F scale fusion: the fast grouped fit matches the autograd reference on a synthetic problem."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from persam.methods.scale_fusion import (
    compress,
    dice_loss,
    fit_scale_weights,
    fit_scale_weights_autograd,
    focal_loss,
    full_weights,
    fuse,
)

STEPS = 300


def _disk_problem(seed=0, noise=3.0):
    """3 x 64 x 64 logits (+-5): L0 too small a disk, L1 the target disk, L2 too large, plus smooth noise."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    r = ((yy - 31.5) ** 2 + (xx - 31.5) ** 2).sqrt()
    target = (r < 16).float()
    maps = torch.stack([torch.where(r < radius, 5.0, -5.0) for radius in (10, 16, 24)])
    coarse = torch.randn(1, 3, 8, 8, generator=g)
    smooth = F.interpolate(coarse, size=(64, 64), mode="bilinear", align_corners=False)
    return maps + noise * smooth[0], target


def _iou(logits, target):
    pred, gt = logits > 0, target > 0
    return ((pred & gt).sum() / (pred | gt).sum()).item()


@pytest.fixture(scope="module")
def fitted():
    logits, target = _disk_problem()
    return (
        logits,
        target,
        fit_scale_weights(logits, target, steps=STEPS),
        fit_scale_weights_autograd(logits, target, steps=STEPS),
    )


def test_fuse_with_one_hot_weights_returns_that_mask():
    """Weights [1, 0, 0] give L0 exactly; [0, 0, 1] give L2."""
    logits = torch.randn(3, 5, 7, generator=torch.Generator().manual_seed(1))
    assert torch.equal(fuse(logits, torch.tensor([1.0, 0.0, 0.0])), logits[0])
    assert torch.equal(fuse(logits, torch.tensor([0.0, 0.0, 1.0])), logits[2])
    expected = 0.5 * logits[0] + 0.25 * (logits[1] + logits[2])
    assert torch.allclose(fuse(logits, torch.tensor([0.5, 0.25, 0.25])), expected)


def test_full_weights_sum_to_one():
    """[w1, w2] -> [1 - w1 - w2, w1, w2]."""
    assert torch.allclose(full_weights(torch.tensor([0.2, 0.3])), torch.tensor([0.5, 0.2, 0.3]))


def test_fast_fit_matches_autograd_reference(fitted):
    """Grouped closed-form AdamW == torch AdamW on every pixel, to 0.01 per weight."""
    _, _, fast, reference = fitted
    assert fast.shape == reference.shape == (3,)
    assert torch.allclose(fast, reference, atol=0.01), (fast, reference)


def test_fitted_weights_sum_to_one_and_favour_the_right_mask(fitted):
    """The weights sum to 1 and move from 1/3 towards L1, the mask that matches the target."""
    _, _, fast, reference = fitted
    for weights in (fast, reference):
        assert weights.sum().item() == pytest.approx(1.0, abs=1e-6)
        assert weights[1] > 1 / 3 + 0.05
        assert weights.argmax().item() == 1


def test_fitted_fusion_beats_each_single_mask(fitted):
    """IoU of the fitted fusion >= IoU of L0, L1 and L2 alone, and >= the 1/3-each starting point."""
    logits, target, fast, _ = fitted
    fused_iou = _iou(fuse(logits, fast), target)
    for k in range(3):
        assert fused_iou >= _iou(logits[k], target)
    assert fused_iou >= _iou(fuse(logits, torch.full((3,), 1 / 3)), target)


def test_compress_groups_partition_the_pixels():
    """Counts sum to H*W, shapes agree, groups are pure in target, count-weighted means keep the logit sums."""
    logits, target = _disk_problem()
    means, targets, counts = compress(logits, target, quantum=1.0)
    groups = counts.shape[0]
    assert means.shape == (3, groups) and targets.shape == (groups,)
    assert 1 < groups < 64 * 64
    assert counts.sum() == 64 * 64
    assert set(np.unique(targets)) <= {0.0, 1.0}  # groups never mix object and background
    assert (counts * targets).sum() == target.sum().item()
    pixel_sums = logits.double().flatten(1).sum(1).numpy()
    np.testing.assert_allclose((means * counts).sum(axis=1), pixel_sums, rtol=1e-6)


def test_compress_finer_quantum_gives_more_groups():
    """A smaller quantum never merges more pixels."""
    logits, target = _disk_problem()
    assert compress(logits, target, 0.25)[2].shape[0] > compress(logits, target, 1.0)[2].shape[0]


def test_dice_and_focal_by_hand():
    """Two pixels: logits [0, ln 3] -> p = [0.5, 0.75]; target [1, 0]."""
    logits = torch.tensor([0.0, math.log(3.0)], dtype=torch.float64)
    target = torch.tensor([1.0, 0.0], dtype=torch.float64)
    # dice = 1 - (2 * (0.5*1 + 0.75*0) + 1) / (0.5 + 0.75 + 1 + 1) = 1 - 2 / 3.25
    assert dice_loss(logits, target).item() == pytest.approx(1 - 2 / 3.25)
    # pixel 1: t=1, p_t=0.5, ce=ln 2, alpha_t=0.25 -> 0.25 * ln2 * 0.5^2  = 0.0625 ln 2
    # pixel 2: t=0, p_t=0.25, ce=ln 4, alpha_t=0.75 -> 0.75 * ln4 * 0.75^2 = 0.84375 ln 2
    # mean = (0.0625 + 0.84375) / 2 * ln 2 = 0.453125 ln 2
    assert focal_loss(logits, target).item() == pytest.approx(0.453125 * math.log(2.0))
