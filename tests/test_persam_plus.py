"""PerSAM+ (persam.methods.persam_plus): its building blocks on synthetic tensors, and the method end to end on
real MobileSAM weights and the bundled PerSeg sample."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import SAMPLE

from persam.config import config_file
from persam.data.davis import load_davis
from persam.data.io import read_image, read_mask
from persam.data.perseg import load_perseg
from persam.methods.builder import build_method, composed_method, method_spec
from persam.methods.persam_plus import (
    PerSAMPlus,
    PerSAMPlusConfig,
    mask_check,
    peak_components,
    peak_region,
)
from persam.methods.protocol import Prediction, Prompts, Shot
from persam.methods.video import start, step, video_config, video_method
from persam.metrics.miou import ObjectScore
from persam.models.predictor import ImageEmbedding

CONFIG = config_file("method", "persam_plus.yaml")
D = PerSAMPlusConfig()  # the defaults, which persam_plus.yaml states
DAVIS_SAMPLE = SAMPLE.parent / "davis"
# Pinned in percent, compared at +-0.05 points: re-measured with this code on the bundled sample and the real
# MobileSAM weights through the tests' predictor (torch fp32 encoder, eager decoder), on an AMD EPYC with 2 cores,
# after the ablation removed rules 1-3 (earlier pins, on an Intel Xeon, agreed to 4 decimals with 1 and 2
# threads). Per-object IoU (sum I / sum U over targets 01 and 02, reference 00), as persam.run scores it
# (tests/test_pinned_scores.py pins the runner's):
SAMPLE_IOU = {"cat": 93.1618, "colorful_sneaker": 93.0161, "duck_toy": 97.3478}
TWO_REFERENCES_IOU = 90.2579  # the cat's target 02 from references 00 and 01, pooled (rule 10)
SWAN_FRAME_1_IOU = 96.1054  # the bundled swan's frame 1, tracked from frame 0 as persam_plus.yaml's video block runs it


# -- building blocks on synthetic tensors ------------------------------------------------------------------
def test_peak_region_is_the_half_maximum_blob_around_the_peak_only():
    grid = torch.zeros(64, 64)
    grid[5:10, 5:10] = 1.0  # the peak's blob
    grid[40:45, 40:45] = 0.9  # a second copy, as similar but apart
    valid = torch.ones(64, 64, dtype=torch.bool)
    region = peak_region(grid, valid, D.peak_level)
    assert region[5:10, 5:10].all() and not region[40:45, 40:45].any() and int(region.sum()) == 25


def test_peak_components_drops_the_pieces_of_a_mask_away_from_the_region():
    low = torch.full((1, 256, 256), -5.0)
    low[0, 20:40, 20:40] = 3.0  # touches the region (cells 5..9)
    low[0, 160:180, 160:180] = 3.0  # another instance
    region = torch.zeros(64, 64, dtype=torch.bool)
    region[5:10, 5:10] = True
    kept = peak_components(low, region, D.dropped_piece_logit)
    assert (kept[0, 20:40, 20:40] > 0).all() and not (kept[0, 160:180, 160:180] > 0).any()
    assert torch.equal(kept[low <= 0], low[low <= 0])


def test_mask_check_is_the_cosine_of_the_pooled_features_and_minus_one_when_empty():
    features = torch.zeros(1, 4, 64, 64)
    features[0, 0, :32] = 1.0  # top half: direction e0, bottom half: e1
    features[0, 1, 32:] = 1.0
    embedding = ImageEmbedding(features, (1024, 1024), (1024, 1024))
    low_res = -torch.ones(3, 256, 256)
    low_res[0, :128] = 1.0  # the top half
    low_res[1] = 1.0  # everything: mean (e0 + e1) / 2
    checks = mask_check(embedding, low_res, torch.tensor([1.0, 0.0, 0.0, 0.0]))
    assert checks.tolist() == pytest.approx([1.0, 2 ** -0.5, -1.0], abs=1e-6)


# -- the method on real weights -----------------------------------------------------------------------
def _shot(predictor, obj, stem: str | None = None) -> Shot:
    """The reference (``stem`` None) or the target ``stem`` of a sample object as a shot."""
    image_path, mask_path = obj.ref_image, obj.ref_mask
    if stem is not None:
        _, image_path, mask_path = next(t for t in obj.targets if t[0] == stem)
    embedding = predictor.embed(read_image(image_path))
    return Shot(embedding, read_mask(mask_path, embedding.original_size))


@pytest.fixture(scope="module")
def method(predictor):
    built = build_method(predictor, composed_method("persam_plus"), str(CONFIG))
    assert isinstance(built, PerSAMPlus) and built.config == PerSAMPlusConfig()  # the YAML states the defaults
    return built


def _object_iou(predictor, method, obj) -> float:
    """IoU (%, sum I / sum U over the targets) of the method on one sample object; checks every prediction."""
    reference = method.fit([_shot(predictor, obj)])
    score = ObjectScore()
    for _, image, gt_path in obj.targets:
        embedding = predictor.embed(read_image(image))
        prediction = method.predict(embedding, reference)
        assert isinstance(prediction, Prediction) and prediction.present
        assert prediction.score > 0.8  # the object is there: its mask looks like the reference
        assert prediction.point_labels[0] == 1 and prediction.logits.shape == prediction.mask.shape
        score.add(prediction.mask, read_mask(gt_path, embedding.original_size))
    return 100 * score.iou


def test_sample_iou_of_the_cat_is_pinned(predictor, method):
    obj = load_perseg(SAMPLE, ["cat"])[0]
    assert _object_iou(predictor, method, obj) == pytest.approx(SAMPLE_IOU["cat"], abs=0.05)


@pytest.mark.slow  # six more images through the encoder
@pytest.mark.parametrize("name", ["colorful_sneaker", "duck_toy"])
def test_sample_iou_per_object_is_pinned(predictor, method, name):
    obj = load_perseg(SAMPLE, [name])[0]
    assert _object_iou(predictor, method, obj) == pytest.approx(SAMPLE_IOU[name], abs=0.05)


def test_references_are_pooled_into_one(predictor, method):
    obj = load_perseg(SAMPLE, ["cat"])[0]
    one, two = _shot(predictor, obj), _shot(predictor, obj, "01")
    first, second, both = method.fit([one]), method.fit([two]), method.fit([one, two])
    pooled = both  # rule 10: one reference from both photos' object cells
    assert pooled.cells == first.cells + second.cells
    weights = torch.tensor([first.cells, second.cells], dtype=torch.float32)
    mean = (weights[0] * first.embedding + weights[1] * second.embedding) / weights.sum()
    assert torch.allclose(pooled.embedding, mean, atol=1e-5)
    _, image, gt_path = next(t for t in obj.targets if t[0] == "02")
    embedding = predictor.embed(read_image(image))
    gt = read_mask(gt_path, embedding.original_size)
    mask = method.predict(embedding, both).mask
    assert 100 * (mask & gt).sum() / (mask | gt).sum() == pytest.approx(TWO_REFERENCES_IOU, abs=0.05)
    with pytest.raises(ValueError, match="at least one reference"):
        method.fit([])


def test_tracker_prompts_are_appended(predictor, method):
    obj = load_perseg(SAMPLE, ["cat"])[0]
    reference = method.fit([_shot(predictor, obj)])
    embedding = predictor.embed(read_image(obj.targets[0][1]))
    plain = method.predict(embedding, reference)
    extra = np.array([[10.0, 12.0]])
    tracked = method.predict(embedding, reference, prompts=Prompts(extra, np.array([0]), _box(plain.mask)))
    assert (tracked.point_coords == extra).all(1).any()  # the tracker's point is among the prompts
    assert not (plain.point_coords == extra).all(1).any()
    assert method.supports_video and not method.needs_ground_truth


def _box(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    return np.array([cols[0], rows[0], cols[-1], rows[-1]], dtype=np.float64)


@pytest.fixture(scope="module")
def tracking(predictor):
    """PerSAM+ as the video procedure runs it (persam_plus.yaml's video block) and its tracker settings."""
    spec = method_spec(composed_method("persam_plus"), str(CONFIG))
    return video_method(spec, predictor), video_config(spec)


def test_decodes_unguided_in_images_and_video(predictor, tracking, method, monkeypatch):
    tracked, _ = tracking  # PerSAM's decoder guidance was removed by the ablation (rule 3)
    obj = load_perseg(SAMPLE, ["cat"])[0]
    shot = _shot(predictor, obj)
    seen = []
    decode_batch = predictor.decode_batch

    def spy(*args, **kwargs):  # decode_batch(point_coords, point_labels, boxes, mask_inputs, multimask, guidance)
        seen.extend(kwargs.get("guidance", args[5] if len(args) > 5 else None) or [])
        seen.append("call")
        return decode_batch(*args, **kwargs)

    monkeypatch.setattr(predictor, "decode_batch", spy)
    tracked.predict(shot.embedding, tracked.fit([shot]), prompts=Prompts(box=_box(shot.mask)))
    method.predict(shot.embedding, method.fit([shot]))
    assert "call" in seen and all(g in ("call", None) for g in seen)


def test_tracks_the_bundled_swan(predictor, tracking):
    swan = load_davis(DAVIS_SAMPLE, ["blackswan"])[0]
    method, tracker = tracking
    states = start(method, predictor.embed(read_image(swan.frames[0][1])), swan.annotation(0), config=tracker)
    result, states = step(method, predictor.embed(read_image(swan.frames[1][1])), states, tracker)
    found, truth = result.labels == 1, swan.annotation(1) == 1
    assert 100 * (found & truth).sum() / (found | truth).sum() == pytest.approx(SWAN_FRAME_1_IOU, abs=0.05)
    assert np.isfinite(result.predictions[1].score)
    point = method.most_similar_point(predictor.embed(read_image(swan.frames[1][1])), states[0].reference)
    assert truth[int(point[1]), int(point[0])]


def test_instances_without_refinement_keep_the_first_masks_pieces_at_the_peak(predictor):
    """Rule 9 with rule 6 off (the ablation's rung): the first mask, its pieces away from the peak dropped, is the
    answer itself, so its logits are upsampled from the kept pieces."""
    obj = load_perseg(SAMPLE, ["cat"])[0]
    method = PerSAMPlus(predictor, refinement_steps=0, max_instances=3)
    reference = method.fit([_shot(predictor, obj)])
    embedding = predictor.embed(read_image(obj.targets[0][1]))
    found = method.predict(embedding, reference)
    assert found.present and found.instances.max() >= 1
    assert found.logits.shape == found.mask.shape and np.array_equal(found.mask, found.instances > 0)


def test_a_setting_out_of_range_is_refused(predictor):
    with pytest.raises(ValueError, match="refinement_steps"):
        PerSAMPlus(predictor, refinement_steps=3)
    with pytest.raises(TypeError):
        PerSAMPlus(predictor, topk=2)


def test_the_online_memory_keeps_confident_frames(predictor, tracking):
    swan = load_davis(DAVIS_SAMPLE, ["blackswan"])[0]
    method, tracker = tracking
    tracker = replace(tracker, memory=1, memory_every=1)
    frames = [predictor.embed(read_image(path)) for _, path, _ in swan.frames[:3]]
    states = start(method, frames[0], swan.annotation(0), config=tracker)
    assert len(states[0].shots) == 1 and np.isfinite(states[0].confident)
    for t in (1, 2):
        result, states = step(method, frames[t], states, tracker)
        kept = states[0].shots
        # the swan is plainly there: each frame is kept, the annotated frame first, then only the latest
        assert len(kept) == 2 and kept[0].embedding is frames[0] and kept[1].embedding is frames[t]
        assert (kept[1].mask == (result.labels == 1)).all()
        assert states[0].reference.cells > method.fit(kept[:1]).cells  # pooled with the kept frame
    never = replace(tracker, memory_margin=-1.0)  # nothing scores above its own score + 1
    states = start(method, frames[0], swan.annotation(0), config=never)
    for t in (1, 2):
        _, states = step(method, frames[t], states, never)
    assert len(states[0].shots) == 1
