"""PerSAM and PerSAM-F end to end on real MobileSAM weights and the bundled PerSeg sample."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import SAMPLE

from persam.data.io import read_image, read_mask
from persam.methods import PerSAM, PerSAMConfig, Shot
from persam.methods.grid import mask_on_grid
from persam.methods.refinement import Stage, box_from_mask, refine
from persam.methods.target import object_cells, target_embedding

PERSAM_F = dict(negative_prior=False, guided_attention=False, semantic_prompting=False,
                embedding_pooling="mean_max", scale_fusion=True)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return (a & b).sum() / (a | b).sum()


@pytest.fixture(scope="module")
def cat(predictor, cat_images):
    ref_mask = read_mask(SAMPLE / "Annotations" / "cat" / "00.png", cat_images["00"].shape[:2])
    gt = read_mask(SAMPLE / "Annotations" / "cat" / "01.png", cat_images["01"].shape[:2])
    return predictor.embed(cat_images["00"]), ref_mask, predictor.embed(cat_images["01"]), gt


@pytest.mark.parametrize("config", [PerSAMConfig(), PerSAMConfig(**PERSAM_F)], ids=["persam", "persam_f"])
def test_finds_the_cat(predictor, cat, config):
    ref_emb, ref_mask, target_emb, gt = cat
    method = PerSAM(predictor, config)
    reference = method.fit([Shot(ref_emb, ref_mask)])
    prediction = method.predict(target_emb, reference)
    assert prediction.mask.shape == gt.shape and prediction.mask.dtype == bool
    assert _iou(prediction.mask, gt) > 0.9  # the original code scores 93.1 (PerSAM) on this image pair
    assert prediction.point_labels[0] == 1 and gt[int(prediction.point_coords[0, 1]), int(prediction.point_coords[0, 0])]


def test_persam_f_learns_weights_that_sum_to_one(predictor, cat):
    ref_emb, ref_mask, _, _ = cat
    reference = PerSAM(predictor, PerSAMConfig(**PERSAM_F)).fit([Shot(ref_emb, ref_mask)])
    assert reference.scale_weights.shape == (3,)
    assert reference.scale_weights.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert not torch.allclose(reference.scale_weights, torch.full((3,), 1 / 3), atol=0.05)  # it learnt something


def test_each_switch_changes_something_and_all_off_is_plain_sam(predictor, cat):
    ref_emb, ref_mask, target_emb, _ = cat
    full = PerSAM(predictor, PerSAMConfig())
    reference = full.fit([Shot(ref_emb, ref_mask)])
    bare = PerSAM(predictor, PerSAMConfig(negative_prior=False, guided_attention=False,
                                          semantic_prompting=False, refinement_steps=0))
    prediction = bare.predict(target_emb, reference)
    predictor.set_embedding(target_emb)
    plain = predictor.decode(prediction.point_coords, prediction.point_labels, multimask=False)
    assert np.array_equal(prediction.mask, (plain.logits[0] > 0).numpy())
    assert len(prediction.point_labels) == 1


def test_mask_pooling_modes():
    mask = np.zeros((100, 200), dtype=bool)
    mask[:50, :100] = True  # top-left quarter
    area = mask_on_grid(mask, (512, 1024), "area")  # the long side becomes 1024: mask covers 256 x 512 px
    assert area.shape == (64, 64)
    assert area[:16, :32].min() == 1 and area[16:, :].max() == 0 and area[:, 32:].max() == 0
    cells = object_cells(area, "area")
    assert cells.sum() == 16 * 32
    tiny = np.zeros((1000, 1000), dtype=bool)
    tiny[500, 500] = True  # one pixel: no cell reaches 50 %, the best one is used
    assert object_cells(mask_on_grid(tiny, (1024, 1024), "area"), "area").sum() == 1


def test_empty_reference_mask_is_refused(cat):
    ref_emb, ref_mask, _, _ = cat
    with pytest.raises(ValueError, match="empty"):
        target_embedding(ref_emb, np.zeros_like(ref_mask))


def test_refinement_survives_an_empty_mask(predictor, cat):
    """SAM may return nothing; the original code then crashes taking a box of an empty mask."""
    _, _, target_emb, _ = cat
    predictor.set_embedding(target_emb)
    h, w = target_emb.original_size
    empty = Stage(torch.full((h, w), -20.0), torch.full((1, 256, 256), -20.0))
    assert box_from_mask(empty.mask) is None
    coords, labels = np.array([[5.0, 5.0]]), np.array([0])  # a lone negative point: SAM finds nothing
    out = refine(predictor, empty, coords, labels, steps=2, box_from_first_step=True)
    assert out.logits.shape == (h, w)


def test_refinement_keeps_a_mask_when_a_step_returns_empty(predictor, cat, monkeypatch):
    _, _, target_emb, _ = cat
    predictor.set_embedding(target_emb)
    h, w = target_emb.original_size
    logits = torch.full((h, w), -5.0)
    logits[100:200, 100:200] = 5.0
    start = Stage(logits, torch.zeros(1, 256, 256))
    real_decode = predictor.decode

    def empty_decode(*args, **kwargs):
        out = real_decode(*args, **kwargs)
        out.logits = torch.full_like(out.logits, -1.0)
        return out

    monkeypatch.setattr(predictor, "decode", empty_decode)
    out = refine(predictor, start, np.array([[150.0, 150.0]]), np.array([1]), steps=2)
    assert torch.equal(out.mask, start.mask)


def test_mismatched_reference_mask_is_refused(predictor, cat):
    ref_emb, ref_mask, _, _ = cat
    with pytest.raises(ValueError, match=r"reference 0: mask is 1282x1281 but its image is 1282x1282"):
        PerSAM(predictor).fit([Shot(ref_emb, ref_mask[:-1])])


def test_images_of_any_shape(predictor):
    """Non-square and tiny images go through the whole pipeline (padding-aligned guidance included)."""
    image = read_image(SAMPLE / "Images" / "duck_toy" / "00.jpg")
    mask = read_mask(SAMPLE / "Annotations" / "duck_toy" / "00.png", image.shape[:2])
    wide, wide_mask = image[400:900], mask[400:900]  # 1280 x 500
    method = PerSAM(predictor)
    reference = method.fit([Shot(predictor.embed(wide), wide_mask)])
    assert method.predict(predictor.embed(wide), reference).mask.shape == wide_mask.shape
    small = np.ascontiguousarray(image[::40, ::40])  # 32 x 32
    assert method.predict(predictor.embed(small), reference).mask.shape == small.shape[:2]
