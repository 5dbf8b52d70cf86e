"""Table 4's reference-mask corruption: OpenCV rectangular erosion / dilation, never an empty reference."""

from __future__ import annotations

import numpy as np
import pytest

from persam.data.mask_corruption import corrupt_mask


def square(size: int = 40, lo: int = 10, hi: int = 30) -> np.ndarray:
    mask = np.zeros((size, size), dtype=bool)
    mask[lo:hi, lo:hi] = True
    return mask


def test_erosion_and_dilation_by_a_rectangle_move_each_edge_by_half_the_kernel():
    eroded = corrupt_mask(square(), "erode", 5)  # a 5 x 5 kernel removes 2 pixels at every edge
    assert np.array_equal(eroded, square(lo=12, hi=28))
    dilated = corrupt_mask(square(), "dilate", 5)
    assert np.array_equal(dilated, square(lo=8, hi=32))


def test_none_or_a_trivial_kernel_keeps_the_mask():
    for op, kernel in (("none", 75), (None, 5), ("erode", 1), ("dilate", 0)):
        assert np.array_equal(corrupt_mask(square(), op, kernel), square())


def test_an_erosion_that_removes_everything_keeps_the_most_interior_pixel():
    out = corrupt_mask(square(lo=10, hi=15), "erode", 75)
    assert out.sum() == 1 and out[12, 12]


def test_unknown_operation_is_an_error():
    with pytest.raises(ValueError, match="erode, dilate or box"):
        corrupt_mask(square(), "blur", 5)


def test_box_is_the_filled_bounding_box():
    """``box``: a user's rectangle around the object; every pixel of the mask stays inside it."""
    mask = np.zeros((20, 30), bool)
    mask[4, 6] = mask[12, 20] = mask[8, 10] = True  # an L-shaped scatter: its box is rows 4-12, columns 6-20
    box = corrupt_mask(mask, "box")
    assert box.sum() == 9 * 15 and box[4:13, 6:21].all() and not box[:4].any() and not box[:, 21:].any()
    assert not corrupt_mask(np.zeros((5, 5), bool), "box").any()
