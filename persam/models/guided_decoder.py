"""PerSAM's two decoder-side techniques, added to segment-anything's mask decoder by extension.

* **Target-guided attention**: in the token-to-image cross-attention of each two-way block (not the final
  token-to-image attention), the attention map ``A = softmax(QK^T / sqrt(d))`` becomes
  ``softmax(A + bias)``, where ``bias`` (1 x 1 x 1 x 4096, one value per 64x64 image token) is computed from
  the location confidence map by :mod:`persam.methods.guidance`. :class:`GuidedAttention` is a subclass of
  upstream's ``Attention``; with no bias set it calls upstream's ``forward`` unchanged.
* **Target-semantic prompting**: the target embedding (1 x 1 x 256) is added to the decoder's tokens.
  As in the original PerSAM code (whose in-place ``+=`` also lands in the tokens' positional copy), it is
  added to the input tokens, and hence to the query positional encoding used by every attention; again to
  the queries before each later two-way block; and once more to the query of the final token-to-image
  attention. This is done with forward pre-hooks on upstream modules, so no SAM code is copied.

For batched decoding, :meth:`DecoderGuidance.ignoring` masks given tokens out as keys of the two attentions whose
keys are the tokens (token self-attention and image-to-token attention); such a token then changes nothing
else, so prompt sets padded to a common point count decode as they would alone.

With no :class:`Guidance` active, every hook is a no-op and the decoder is upstream's, bit for bit (tested).

Under ``torch.compile`` only, the image-to-token attentions (4096 image queries, a few token keys) compute their
logits keys x queries (:meth:`GuidedAttention.keys_first`): the same attention to float rounding. Inductor
rewrites upstream's ``softmax(QK^T) V`` into its flash-attention kernel, which on the CPU is slow for so few
keys; the keys-first layout is not rewritten (its softmax is still over the keys). On the 2-core machine
(dev measurements): 4 prompt sets of 4096 queries and 10 keys, 8 heads of 16, 6.7 ms a call against 2.7 ms; a
video frame of 4 objects, 0.375 s -> 0.358 s. Eager decoding keeps upstream's formulation.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from segment_anything.modeling import MaskDecoder
from segment_anything.modeling.transformer import Attention
from torch import Tensor


@dataclass
class Guidance:
    """What PerSAM feeds into the decoder for one prediction.

    attn_bias: 1 x 1 x 1 x (64*64), added to the softmaxed token-to-image attention before a second softmax.
    target_embedding: 1 x 1 x C, added to the decoder tokens (target-semantic prompting).
    """

    attn_bias: Tensor | None = None
    target_embedding: Tensor | None = None


class GuidedAttention(Attention):
    """Upstream ``Attention`` whose attention map can be re-weighted by a per-image-token bias, and whose keys
    can be masked out (``key_mask``: B x 1 x 1 x N_keys, 0 to keep a key, -inf to ignore it). ``few_keys``: its
    keys are the decoder's tokens and its queries the image (see the module doc on compiling)."""

    attn_bias: Tensor | None = None
    key_mask: Tensor | None = None
    few_keys: bool = False

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        if self.few_keys and self.attn_bias is None and torch.compiler.is_compiling():
            return self.keys_first(q, k, v)
        if self.attn_bias is None and self.key_mask is None:
            return super().forward(q, k, v)
        q = self._separate_heads(self.q_proj(q), self.num_heads)
        k = self._separate_heads(self.k_proj(k), self.num_heads)
        v = self._separate_heads(self.v_proj(v), self.num_heads)
        logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        attn = torch.softmax(logits if self.key_mask is None else logits + self.key_mask, dim=-1)
        if self.attn_bias is not None:
            attn = torch.softmax(attn + self.attn_bias, dim=-1)
        return self.out_proj(self._recombine_heads(attn @ v))

    def keys_first(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """The attention (key mask included, no bias) with its logits laid out B x heads x N_keys x N_queries."""
        q = self._separate_heads(self.q_proj(q), self.num_heads)
        k = self._separate_heads(self.k_proj(k), self.num_heads)
        v = self._separate_heads(self.v_proj(v), self.num_heads)
        logits = k @ q.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if self.key_mask is not None:
            logits = logits + self.key_mask.transpose(-1, -2)
        attn = torch.softmax(logits, dim=-2)
        return self.out_proj(self._recombine_heads(attn.transpose(-1, -2) @ v))


class DecoderGuidance:
    """Installs PerSAM's guidance on a ``MaskDecoder`` once; :meth:`active` switches it on for a call."""

    def __init__(self, decoder: MaskDecoder) -> None:
        self.decoder = decoder
        self.target_embedding: Tensor | None = None
        transformer = decoder.transformer
        self.guided_attentions: list[GuidedAttention] = []
        self.token_attentions: list[GuidedAttention] = []  # the attentions whose keys are the tokens
        for layer in transformer.layers:
            for attention in (layer.cross_attn_token_to_image, layer.self_attn, layer.cross_attn_image_to_token):
                if not isinstance(attention, GuidedAttention):
                    # Same parameters and buffers; only forward() gains the optional bias and key mask.
                    attention.__class__ = GuidedAttention
            self.guided_attentions.append(layer.cross_attn_token_to_image)
            layer.cross_attn_image_to_token.few_keys = True
            self.token_attentions += [layer.self_attn, layer.cross_attn_image_to_token]
        transformer.register_forward_pre_hook(self._add_to_input_tokens, with_kwargs=True)
        for layer in list(transformer.layers)[1:]:
            layer.register_forward_pre_hook(self._add_to_queries, with_kwargs=True)
        transformer.final_attn_token_to_image.register_forward_pre_hook(self._add_to_final_query, with_kwargs=True)

    @classmethod
    def of(cls, decoder: MaskDecoder) -> DecoderGuidance:
        """The guidance installed on ``decoder`` (installed on first use)."""
        existing = getattr(decoder, "_persam_guidance", None)
        if existing is None:
            existing = cls(decoder)
            decoder._persam_guidance = existing  # type: ignore[assignment]
        return existing

    @contextlib.contextmanager
    def active(self, guidance: Guidance | None) -> Iterator[None]:
        if guidance is None:
            yield
            return
        self.target_embedding = guidance.target_embedding
        for attention in self.guided_attentions:
            attention.attn_bias = guidance.attn_bias
        try:
            yield
        finally:
            self.target_embedding = None
            for attention in self.guided_attentions:
                attention.attn_bias = None

    @contextlib.contextmanager
    def ignoring(self, ignored: Tensor | None) -> Iterator[None]:
        """Mask the tokens where ``ignored`` (B x N_tokens bool: the decoder's output tokens, then the prompt
        tokens) is true out as keys of every attention over tokens (None: no mask)."""
        if ignored is None:
            yield
            return
        mask = torch.zeros(ignored.shape, dtype=torch.float32, device=ignored.device)
        mask = mask.masked_fill(ignored, -torch.inf)[:, None, None, :]
        for attention in self.token_attentions:
            attention.key_mask = mask
        try:
            yield
        finally:
            for attention in self.token_attentions:
                attention.key_mask = None

    # -- target-semantic prompting hooks (no-ops when no target embedding is active) --------------------
    def _add_to_input_tokens(self, module, args, kwargs):
        if self.target_embedding is None:
            return None
        # TwoWayTransformer.forward(image_embedding, image_pe, point_embedding)
        if len(args) >= 3:
            args = (*args[:2], args[2] + self.target_embedding, *args[3:])
        else:
            kwargs = {**kwargs, "point_embedding": kwargs["point_embedding"] + self.target_embedding}
        return args, kwargs

    def _add_to_queries(self, module, args, kwargs):
        if self.target_embedding is None:
            return None
        return args, {**kwargs, "queries": kwargs["queries"] + self.target_embedding}

    def _add_to_final_query(self, module, args, kwargs):
        if self.target_embedding is None:
            return None
        return args, {**kwargs, "q": kwargs["q"] + self.target_embedding}
