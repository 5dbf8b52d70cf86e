"""Rough references (persam/methods/reference_cleanup.py): a too-large mask becomes the object SAM finds in its
box; a tight or too-small mask is kept as given. Real MobileSAM on the bundled cat."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLE

from persam.data.io import read_mask
from persam.data.mask_corruption import corrupt_mask
from persam.methods.persam_plus import PerSAMPlusConfig
from persam.methods.protocol import Shot
from persam.methods.reference_cleanup import clean_reference, object_in

LIMITS = PerSAMPlusConfig().cleanup_inside, PerSAMPlusConfig().cleanup_tight  # PerSAM+'s rule 0 defaults


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_object_in_replaces_only_a_mask_much_larger_than_the_object_inside_it():
    given = np.zeros((10, 10), bool)
    given[1:9, 1:9] = True  # 64 pixels
    small = np.zeros_like(given)
    small[3:7, 3:7] = True  # 16 pixels inside: 25% of the mask -> the mask was rough
    assert (object_in(given, small, *LIMITS) == small).all()
    assert object_in(given, given, *LIMITS) is None  # tight: kept
    leaking = small.copy()
    leaking[0, :] = True  # 10 of its 26 pixels outside the mask: not inside, kept
    assert object_in(given, leaking, *LIMITS) is None
    assert object_in(given, np.zeros_like(given), *LIMITS) is None


@pytest.fixture(scope="module")
def cat(predictor, cat_images):
    return predictor.embed(cat_images["00"]), read_mask(SAMPLE / "Annotations" / "cat" / "00.png")


@pytest.mark.parametrize("op,kernel", [("box", 0), ("dilate", 75)])
def test_a_rough_reference_becomes_the_object(predictor, cat, op, kernel):
    embedding, truth = cat
    rough = corrupt_mask(truth, op, kernel)
    assert _iou(rough, truth) < 0.75
    cleaned = clean_reference(predictor, Shot(embedding, rough), *LIMITS).mask
    assert _iou(cleaned, truth) > 0.93  # measured 0.96 (box) and 0.96 (dilate 75) on this image


@pytest.mark.parametrize("op,kernel", [("none", 0), ("erode", 75)])
def test_a_tight_or_small_reference_is_kept_as_given(predictor, cat, op, kernel):
    embedding, truth = cat
    given = corrupt_mask(truth, op, kernel)
    assert clean_reference(predictor, Shot(embedding, given), *LIMITS).mask is given
