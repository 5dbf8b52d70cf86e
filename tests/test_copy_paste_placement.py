"""Where data_prep/copy_paste_instances.py puts the copy: far from the target's own object, or beside it."""

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data_prep"))
from copy_paste_instances import MARGIN, composite  # noqa: E402


def _scene() -> tuple[np.ndarray, np.ndarray]:
    image = np.zeros((120, 200, 3), np.uint8)
    mask = np.zeros((120, 200), bool)
    mask[40:70, 20:50] = True  # the object near the left edge
    image[mask] = 200
    return image, mask


def _gap(labels: np.ndarray) -> int:
    """Pixels between the object (label 1) and the copy (label 2): the smallest distance from a copy pixel to the
    object, less one."""
    distance = cv2.distanceTransform((labels != 1).astype(np.uint8), cv2.DIST_L2, 5)
    return int(distance[labels == 2].min()) - 1


def test_near_puts_the_copy_beside_the_object_and_far_across_the_image():
    image, mask = _scene()
    far = composite(image, mask, image, mask, placement="far")
    near = composite(image, mask, image, mask, placement="near")
    assert (far.labels == 2).sum() == (near.labels == 2).sum() == mask.sum()  # same scale: it fits at 1
    assert far.box[2] == 200  # against the right edge
    assert MARGIN <= _gap(near.labels) <= MARGIN + 2 < _gap(far.labels)  # just outside the kept-free margin
    assert (near.labels == 1).sum() == mask.sum()  # the object itself untouched


def test_an_unknown_placement_is_refused():
    image, mask = _scene()
    with pytest.raises(ValueError, match="placement must be one of far, near"):
        composite(image, mask, image, mask, placement="middle")
