"""The speed paths give what the plain paths give: deferred upsampling, single-pass argmax, the grouped fit's
dense counting, the bounded cache, and the ONNX Runtime encoder (same precision, its own cache key)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import SAMPLE

from persam.data.io import read_image, read_mask
from persam.methods import PerSAM, PerSAMConfig, Shot, location_prior, refinement, scale_fusion
from persam.methods.persam import Stage
from persam.models import EmbeddingCache, GuidedPredictor
from persam.models.encoders import build_encoder, onnxruntime_available, resolve_encoder

PERSAM_F = dict(negative_prior=False, guided_attention=False, semantic_prompting=False,
                embedding_pooling="mean_max", scale_fusion=True)
POINTS = np.array([[600.0, 640.0], [40.0, 60.0]])
LABELS = np.array([1, 0])


@pytest.fixture(scope="module")
def cat(predictor, cat_images):
    ref_mask = read_mask(SAMPLE / "Annotations" / "cat" / "00.png", cat_images["00"].shape[:2])
    return predictor.embed(cat_images["00"]), ref_mask, predictor.embed(cat_images["01"])


def test_one_mask_upsampled_alone_equals_it_upsampled_with_the_others(predictor, cat):
    _, _, target = cat
    predictor.set_embedding(target)
    for multimask in (True, False):
        deferred = predictor.decode(POINTS, LABELS, multimask=multimask)
        eager = predictor.decode(POINTS, LABELS, multimask=multimask).logits  # all masks at once
        assert eager.shape[-2:] == target.original_size
        for i in range(eager.shape[0]):
            assert torch.equal(deferred.mask_logits(i), eager[i])


def _eager_refine(predictor, stage, coords, labels, steps, box_from_first_step):
    """The refinement as it was before deferred upsampling: every mask of every step at full size."""
    for step in range(1, steps + 1):
        box = None
        if step >= 2 or box_from_first_step:
            ys, xs = np.nonzero(stage.mask.cpu().numpy())
            box = None if len(xs) == 0 else np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float64)
        out = predictor.decode(coords, labels, box=box, mask_input=stage.low_res, multimask=True)
        logits = out.logits
        best = out.best()
        refined = Stage(logits[best], out.low_res_logits[best : best + 1])
        if bool(refined.mask.any()) or not bool(stage.mask.any()):
            stage = refined
    return stage


@pytest.mark.parametrize("config", [PerSAMConfig(), PerSAMConfig(**PERSAM_F)], ids=["persam", "persam_f"])
def test_deferred_upsampling_gives_the_same_masks(predictor, cat, config, monkeypatch):
    ref_emb, ref_mask, target = cat
    method = PerSAM(predictor, config)
    reference = method.fit([Shot(ref_emb, ref_mask)])
    fast = method.predict(target, reference)
    monkeypatch.setattr("persam.methods.persam.refine", _eager_refine)
    eager = method.predict(target, reference)
    assert np.array_equal(fast.mask, eager.mask)
    assert np.array_equal(fast.point_coords, eager.point_coords)


def test_box_of_a_mask():
    mask = torch.zeros(50, 80, dtype=torch.bool)
    mask[10:20, 30:33] = True
    mask[40, 5] = True
    assert refinement.box_from_mask(mask).tolist() == [5.0, 10.0, 32.0, 40.0]
    assert refinement.box_from_mask(torch.zeros(4, 4, dtype=torch.bool)) is None


@pytest.mark.parametrize("n", [64, 1000, 1280 * 1280])
def test_single_point_selection_equals_topk_even_with_ties(n):
    gen = torch.Generator().manual_seed(n)
    for values in (torch.randint(0, 3, (n,), generator=gen).float(), torch.zeros(n), torch.rand(n, generator=gen)):
        for largest in (True, False):
            assert location_prior._extreme(values, 1, largest).tolist() == values.topk(1, largest=largest).indices.tolist()


def test_points_on_a_real_similarity_map_equal_topk(predictor, cat):
    ref_emb, ref_mask, target = cat
    method = PerSAM(predictor)
    similarity = location_prior.similarity_image(
        predictor.model, target, location_prior.similarity_grid(target, method.fit([Shot(ref_emb, ref_mask)]).embedding))
    flat = similarity.flatten()
    coords, labels = location_prior.select_points(similarity, 1, True)
    w = similarity.shape[1]
    expected = [flat.topk(1).indices.item(), flat.topk(1, largest=False).indices.item()]
    assert [int(y) * w + int(x) for x, y in coords] == expected and labels.tolist() == [1, 0]


def test_dense_and_hashed_grouping_agree(monkeypatch):
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(3, 97, 103, generator=gen) * 8
    target = (torch.rand(97, 103, generator=gen) > 0.6).float()

    def canonical(groups):
        means, targets, counts = groups
        order = np.lexsort((means[2], means[1], means[0], targets))
        return means[:, order], targets[order], counts[order]

    dense = canonical(scale_fusion.compress(logits, target, 1.0))
    monkeypatch.setattr(scale_fusion, "DENSE_KEYS", 0)
    hashed = canonical(scale_fusion.compress(logits, target, 1.0))
    np.testing.assert_allclose(dense[0], hashed[0], rtol=1e-12)
    assert np.array_equal(dense[1], hashed[1]) and np.array_equal(dense[2], hashed[2])


def test_cache_stays_within_its_bound_and_keeps_the_newest(tmp_path):
    entry = {"features": torch.zeros(64, 64), "original_size": [1, 1], "input_size": [1, 1]}
    probe = EmbeddingCache(tmp_path / "probe")
    probe.put("00" * 32, entry)
    size = next((tmp_path / "probe").glob("*/*.pt")).stat().st_size
    cache = EmbeddingCache(tmp_path / "c", max_bytes=int(3.5 * size))
    keys = [f"{i:02x}" * 32 for i in range(10)]
    for key in keys:
        cache.put(key, entry)
        files = list((tmp_path / "c").glob("*/*.pt"))
        assert sum(p.stat().st_size for p in files) <= cache.max_bytes
    assert cache.get(keys[-1]) is not None and cache.get(keys[0]) is None


def test_auto_encoder_is_onnx_for_vit_t_on_cpu_only(vit_t):
    assert resolve_encoder("fp32", vit_t) == "fp32"
    assert resolve_encoder("auto", vit_t) == ("onnx" if onnxruntime_available() else "fp32")
    with pytest.raises(ValueError, match="encoder must be"):
        resolve_encoder("int4", vit_t)
    assert build_encoder(vit_t, "bf16").id != build_encoder(vit_t, "fp32").id


@pytest.mark.skipif(not onnxruntime_available(), reason="onnxruntime is not installed")
def test_onnx_encoder_matches_fp32_on_a_real_image_and_has_its_own_cache_entries(vit_t, tmp_path, cat_images):
    cache = EmbeddingCache(tmp_path)
    fp32 = GuidedPredictor(vit_t, cache, encoder="fp32")
    fast = GuidedPredictor(vit_t, cache, encoder="onnx")
    image = read_image(SAMPLE / "Images" / "duck_toy" / "01.jpg")
    a, b = fp32.embed(image), fast.embed(image)
    cosine = F.cosine_similarity(a.features.flatten().double(), b.features.flatten().double(), dim=0).item()
    assert cosine >= 0.999, cosine
    assert (a.features - b.features).abs().max().item() < 1e-3
    assert fp32.encoder_calls == 1 and fast.encoder_calls == 1  # the second did not read the first's entry
    assert fast.embed(image) is not None and fast.encoder_calls == 1 and cache.hits == 1
    assert a.original_size == b.original_size and a.input_size == b.input_size
