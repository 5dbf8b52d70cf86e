"""The compiled mask decoder decodes as the eager one, PerSAM's guidance and batched padding included; the
choice of decoder and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import SAMPLE

from persam.data.io import read_mask
from persam.methods import PerSAM, PerSAMConfig, Shot
from persam.models import GuidedPredictor, decoders
from persam.models.decoders import resolve_decoder

needs_inductor = pytest.mark.skipif(not decoders.inductor_available("cpu"), reason="no C++ compiler for Inductor")


def test_unknown_decoder_is_refused():
    with pytest.raises(ValueError, match="decoder must be one of"):
        resolve_decoder("onnx", "cpu")


def test_auto_compiles_for_large_jobs_only_and_never_without_a_compiler(monkeypatch):
    monkeypatch.setattr(decoders, "cxx_compiler_available", lambda: True)
    assert resolve_decoder("auto", "cpu") == "eager"
    assert resolve_decoder("auto", "cpu", images=decoders.AUTO_COMPILE_MIN_IMAGES - 1) == "eager"
    assert resolve_decoder("auto", "cpu", images=decoders.AUTO_COMPILE_MIN_IMAGES) == "compiled"
    monkeypatch.setattr(decoders, "cxx_compiler_available", lambda: False)
    assert resolve_decoder("auto", "cpu", images=10**6) == "eager"
    with pytest.raises(RuntimeError, match="needs TorchInductor.*decoder=eager"):
        resolve_decoder("compiled", "cpu")


def test_auto_chooses_once_before_the_first_decoding(vit_t, monkeypatch):
    monkeypatch.setattr(decoders, "cxx_compiler_available", lambda: True)
    predictor = GuidedPredictor(vit_t, None, decoder="auto")
    assert predictor.decoder_id == "torch-eager"
    predictor.expect_images(decoders.AUTO_COMPILE_MIN_IMAGES)
    assert predictor.decoder_id.endswith("-inductor")
    predictor.expect_images(3)
    assert predictor.decoder_id == "torch-eager"
    predictor.set_embedding(predictor.embed(np.zeros((64, 64, 3), dtype=np.uint8)))
    predictor.decode(np.array([[10.0, 10.0]]), np.array([1]))
    predictor.expect_images(10**6)  # a run's images are all decoded the same way
    assert predictor.decoder_id == "torch-eager"


@needs_inductor
def test_compiled_decoder_gives_the_eager_masks(vit_t, embedding_cache, cat_images):
    eager = GuidedPredictor(vit_t, embedding_cache, encoder="onnx", decoder="eager")
    compiled = GuidedPredictor(vit_t, embedding_cache, encoder="onnx", decoder="compiled")
    assert (eager.decoder_id, compiled.decoder_id) == ("torch-eager", f"torch{torch.__version__}-inductor")
    reference = eager.embed(cat_images["00"])
    ref_mask = read_mask(SAMPLE / "Annotations" / "cat" / "00.png", cat_images["00"].shape[:2])
    target = eager.embed(cat_images["01"])

    # PerSAM: guided attention, semantic prompting, the cascaded refinement with mask inputs and boxes.
    config = PerSAMConfig()
    expected = PerSAM(eager, config).predict(target, PerSAM(eager, config).fit([Shot(reference, ref_mask)]))
    got = PerSAM(compiled, config).predict(target, PerSAM(compiled, config).fit([Shot(reference, ref_mask)]))
    assert got.mask.sum() > 1000
    assert (got.mask != expected.mask).mean() < 1e-4
    assert got.score == pytest.approx(expected.score, abs=1e-4)

    # Batched sets padded to a common point count, at two batch sizes (the second makes shapes dynamic).
    sets = [np.array([[600.0, 640.0], [40.0, 60.0]]), np.array([[500.0, 500.0]]),
            np.array([[300.0, 700.0], [900.0, 100.0], [50.0, 50.0]])]
    labels = [np.array([1, 0]), np.array([1]), np.array([1, 0, 0])]
    for n in (2, 3):
        for predictor in (eager, compiled):
            predictor.set_embedding(target)
        want = eager.decode_batch(sets[:n], labels[:n])
        have = compiled.decode_batch(sets[:n], labels[:n])
        for w, h in zip(want, have, strict=True):
            assert torch.allclose(h.low_res_logits, w.low_res_logits, atol=1e-3)
            assert torch.allclose(h.iou, w.iou, atol=1e-4)
