"""PerSAM-F's fast fit against the reference optimisation (autograd AdamW on every pixel), on real references."""

from __future__ import annotations

import pytest
import torch
from conftest import SAMPLE

from persam.data.io import read_image, read_mask
from persam.methods import PerSAM, PerSAMConfig, Shot
from persam.methods.scale_fusion import fit_scale_weights, fit_scale_weights_autograd


def _reference_logits(predictor, obj):
    image = read_image(SAMPLE / "Images" / obj / "00.jpg")
    mask = read_mask(SAMPLE / "Annotations" / obj / "00.png", image.shape[:2])
    method = PerSAM(predictor, PerSAMConfig(negative_prior=False, guided_attention=False, semantic_prompting=False,
                                            embedding_pooling="mean_max", scale_fusion=True))
    embedding = predictor.embed(image)
    reference = method.fit([Shot(embedding, mask)])
    predictor.set_embedding(embedding)
    coords, labels, _ = method._prompts(embedding, reference.protos)
    return predictor.decode(coords, labels, multimask=True).logits, torch.as_tensor(mask, dtype=torch.float32)


@pytest.mark.slow
@pytest.mark.parametrize("obj", ["cat", "colorful_sneaker", "duck_toy"])
def test_fast_fit_reaches_the_weights_of_1000_full_resolution_adamw_steps(predictor, obj):
    logits, target = _reference_logits(predictor, obj)
    fast = fit_scale_weights(logits, target)
    reference = fit_scale_weights_autograd(logits, target)
    assert torch.allclose(fast, reference, atol=0.01), (fast, reference)


def test_fast_fit_matches_autograd_on_a_downsampled_real_reference(predictor):
    """Same objective, cheap enough for every CI run: the cat reference at 1/8 resolution, 300 steps."""
    logits, target = _reference_logits(predictor, "cat")
    logits, target = logits[:, ::8, ::8].contiguous(), target[::8, ::8].contiguous()
    fast = fit_scale_weights(logits, target, steps=300)
    reference = fit_scale_weights_autograd(logits, target, steps=300)
    assert torch.allclose(fast, reference, atol=0.01), (fast, reference)
