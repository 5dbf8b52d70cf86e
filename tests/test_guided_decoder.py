"""The guided decoder extends segment-anything's without changing it: tests on the real MobileSAM weights."""

from __future__ import annotations

import math

import numpy as np
import torch
from segment_anything import SamPredictor
from segment_anything.modeling.transformer import Attention

from persam.models import Guidance, build_sam
from persam.models.decoders import channels_last_upscaling
from persam.models.guided_decoder import GuidedAttention

POINTS = np.array([[600.0, 640.0], [40.0, 60.0]])
LABELS = np.array([1, 0])


def _upstream_decode(image, multimask, channels_last=True):
    """Upstream segment-anything on a fresh model that never had guidance installed (by default with the
    upscaling weights in the layout persam's decoder runner gives them on the CPU)."""
    fresh = build_sam("vit_t", device="cpu", download=False)
    if channels_last:
        channels_last_upscaling(fresh.sam.mask_decoder)
    upstream = SamPredictor(fresh.sam)
    upstream.set_image(image)
    with torch.no_grad():
        coords = torch.as_tensor(upstream.transform.apply_coords(POINTS, upstream.original_size), dtype=torch.float)
        return upstream.predict_torch(coords[None], torch.as_tensor(LABELS)[None], multimask_output=multimask,
                                      return_logits=True)


def test_without_guidance_masks_equal_upstream(predictor, cat_images):
    image = cat_images["01"]
    predictor.set_embedding(predictor.embed(image))
    for multimask in (False, True):
        ours = predictor.decode(POINTS, LABELS, multimask=multimask, guidance=None)
        logits, iou, low_res = _upstream_decode(image, multimask)
        assert torch.equal(ours.logits, logits[0])
        assert torch.equal(ours.low_res_logits, low_res[0])
        assert torch.equal(ours.iou, iou[0])
        assert torch.equal(ours.logits > 0, logits[0] > 0)
        # The layout alone changes the logits to float rounding only.
        default_layout, _, _ = _upstream_decode(image, multimask, channels_last=False)
        torch.testing.assert_close(ours.logits, default_layout[0], rtol=0, atol=1e-4)


def test_guidance_changes_the_output_and_is_switched_off_afterwards(predictor, cat_images):
    predictor.set_embedding(predictor.embed(cat_images["01"]))
    plain = predictor.decode(POINTS, LABELS, multimask=False)
    bias = torch.linspace(0, 1, 4096).reshape(1, 1, 1, -1)
    guided = predictor.decode(POINTS, LABELS, multimask=False,
                              guidance=Guidance(attn_bias=bias, target_embedding=torch.ones(1, 1, 256)))
    assert not torch.equal(plain.logits, guided.logits)
    again = predictor.decode(POINTS, LABELS, multimask=False)
    assert torch.equal(plain.logits, again.logits)


def test_guided_attention_is_softmax_of_softmax_plus_bias(vit_t):
    attention = vit_t.sam.mask_decoder.transformer.layers[0].cross_attn_token_to_image
    assert isinstance(attention, GuidedAttention)
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 7, 256, generator=gen), torch.randn(1, 4096, 256, generator=gen)
    bias = torch.rand(1, 1, 1, 4096, generator=gen)
    with torch.no_grad():
        attention.attn_bias = bias
        try:
            got = attention(q, k, k)
        finally:
            attention.attn_bias = None
        heads = attention.num_heads
        qh = attention.q_proj(q).reshape(1, 7, heads, -1).transpose(1, 2)
        kh = attention.k_proj(k).reshape(1, 4096, heads, -1).transpose(1, 2)
        vh = attention.v_proj(k).reshape(1, 4096, heads, -1).transpose(1, 2)
        attn = torch.softmax(torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(qh.shape[-1]), -1) + bias, -1)
        expected = attention.out_proj((attn @ vh).transpose(1, 2).reshape(1, 7, -1))
    torch.testing.assert_close(got, expected)


def test_semantic_prompting_matches_the_original_codes_token_arithmetic(vit_t):
    """Original code: tokens (and their positional copy) += T; queries += T before later blocks; final q += T."""
    transformer = vit_t.sam.mask_decoder.transformer
    gen = torch.Generator().manual_seed(1)
    image = torch.randn(1, 256, 64, 64, generator=gen)
    image_pe = torch.randn(1, 256, 64, 64, generator=gen)
    tokens = torch.randn(1, 7, 256, generator=gen)
    target = torch.randn(1, 1, 256, generator=gen)
    guidance = vit_t.sam.mask_decoder._persam_guidance
    with torch.no_grad():
        with guidance.active(Guidance(target_embedding=target)):
            got_q, got_k = transformer(image, image_pe, tokens)
        # The same arithmetic by hand, calling each block's forward directly (hooks bypassed).
        keys = image.flatten(2).permute(0, 2, 1)
        key_pe = image_pe.flatten(2).permute(0, 2, 1)
        point_embedding = tokens + target
        queries = point_embedding
        for i, layer in enumerate(transformer.layers):
            if i > 0:
                queries = queries + target
            queries, keys = layer.forward(queries=queries, keys=keys, query_pe=point_embedding, key_pe=key_pe)
        q = queries + point_embedding + target
        out = transformer.final_attn_token_to_image.forward(q=q, k=keys + key_pe, v=keys)
        expected_q = transformer.norm_final_attn(queries + out)
    torch.testing.assert_close(got_q, expected_q)
    torch.testing.assert_close(got_k, keys)


def test_image_to_token_attention_keys_first_is_the_same_attention(vit_t):
    attention = vit_t.sam.mask_decoder.transformer.layers[0].cross_attn_image_to_token
    assert attention.few_keys
    gen = torch.Generator().manual_seed(0)
    image, tokens = torch.randn(2, 4096, 256, generator=gen), torch.randn(2, 9, 256, generator=gen)
    key_mask = torch.zeros(2, 1, 1, 9).masked_fill(torch.arange(9) >= 7, -torch.inf)  # 2 padding tokens
    with torch.no_grad():
        torch.testing.assert_close(attention.keys_first(image, tokens, tokens),
                                   Attention.forward(attention, image, tokens, tokens), atol=1e-5, rtol=1e-5)
        attention.key_mask = key_mask
        try:
            masked, keys_first = attention(image, tokens, tokens), attention.keys_first(image, tokens, tokens)
        finally:
            attention.key_mask = None
        alone = Attention.forward(attention, image, tokens[:, :7], tokens[:, :7])
    torch.testing.assert_close(keys_first, masked, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(keys_first, alone, atol=1e-5, rtol=1e-5)


def test_keys_first_is_taken_under_compile_only(vit_t, monkeypatch):
    attention = vit_t.sam.mask_decoder.transformer.layers[1].cross_attn_image_to_token
    calls = []
    monkeypatch.setattr(GuidedAttention, "keys_first", lambda self, q, k, v: calls.append(1) or q[..., :256] * 0)
    image, tokens = torch.randn(1, 64, 256), torch.randn(1, 5, 256)
    with torch.no_grad():
        attention(image, tokens, tokens)
        assert calls == []
        torch.compile(attention, backend="eager", fullgraph=True)(image, tokens, tokens)
    assert calls == [1]
