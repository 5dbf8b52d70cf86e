"""Hard inputs never crash: a property-based test over image shapes, masks and PerSAM's switches.

The embeddings are real MobileSAM embeddings of real photos cut to extreme shapes (encoded once per
session); the location prior, the guided decoder with its real weights, the refinement, PerSAM-F's fit
and the metric are the real ones.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persam.data.io import read_image
from persam.methods import PerSAM, PerSAMConfig, Shot
from persam.metrics import ObjectScore

# (rows, cols) slices of the 1440 x 1440 duck photo: square, 20:1, 1:20, tiny, and a blown-up 4096 px image.
SHAPES = {
    "square": (slice(200, 1200), slice(200, 1200)),
    "wide_20_1": (slice(700, 760), slice(0, 1200)),
    "tall_1_20": (slice(0, 1200), slice(700, 760)),
    "tiny_40x30": (slice(700, 740), slice(700, 730)),
}


@pytest.fixture(scope="module")
def embeddings(predictor):
    photo = read_image(SAMPLE / "Images" / "duck_toy" / "01.jpg")
    images = {name: np.ascontiguousarray(photo[rows, cols]) for name, (rows, cols) in SHAPES.items()}
    images["huge_4096"] = np.repeat(np.repeat(photo[::4, ::4], 11, axis=0), 11, axis=1)[:4096, :4096]
    return {name: predictor.embed(image) for name, image in images.items()}


@st.composite
def masks(draw, shape):
    h, w = shape
    kind = draw(st.sampled_from(["rect", "pixel", "full", "border"]))
    mask = np.zeros((h, w), dtype=bool)
    if kind == "rect":
        y0, x0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        y1, x1 = draw(st.integers(y0 + 1, h)), draw(st.integers(x0 + 1, w))
        mask[y0:y1, x0:x1] = True
    elif kind == "pixel":
        mask[draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))] = True
    elif kind == "full":
        mask[:] = True
    else:
        mask[0, :] = True
    return mask


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_any_shape_mask_and_switches_give_a_mask_of_the_target_size(predictor, embeddings, data):
    ref_name = data.draw(st.sampled_from(sorted(embeddings)), label="reference")
    target_name = data.draw(st.sampled_from(sorted(embeddings)), label="target")
    ref, target = embeddings[ref_name], embeddings[target_name]
    ref_mask = data.draw(masks(ref.original_size), label="reference mask")
    fusion = data.draw(st.booleans(), label="PerSAM-F")
    config = PerSAMConfig(
        negative_prior=data.draw(st.booleans()),
        guided_attention=data.draw(st.booleans()),
        semantic_prompting=data.draw(st.booleans()),
        refinement_steps=data.draw(st.integers(0, 2)),
        attention=data.draw(st.sampled_from(["eq7", "original"])),
        mask_pooling=data.draw(st.sampled_from(["area", "center"])),
        scale_fusion=fusion,
        fit_steps=20,
    )
    method = PerSAM(predictor, config)
    prediction = method.predict(target, method.fit([Shot(ref, ref_mask)]))
    assert prediction.mask.shape == tuple(target.original_size)
    assert prediction.mask.dtype == bool
    assert prediction.point_coords.shape[1] == 2 and len(prediction.point_coords) == len(prediction.point_labels)
    h, w = target.original_size
    assert (0 <= prediction.point_coords[:, 0]).all() and (prediction.point_coords[:, 0] < w).all()
    assert (0 <= prediction.point_coords[:, 1]).all() and (prediction.point_coords[:, 1] < h).all()
    score = ObjectScore()
    score.add(prediction.mask, np.zeros_like(prediction.mask))  # a target without the object scores, no crash
    assert score.iou == (0.0 if prediction.mask.any() else 1.0)  # nothing to find: an empty mask is right
