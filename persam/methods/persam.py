"""PerSAM and PerSAM-F: personalise SAM on one reference image and its mask, then segment that object
in new images.

One pipeline, every component a switch (:class:`PerSAMConfig`):

1. location prior: the target embedding's cosine similarity to the target image's features; the most
   similar pixel is a positive point (always), the least similar a negative point (``negative_prior``);
2. the first decoding, optionally with target-guided attention (``guided_attention``) and
   target-semantic prompting (``semantic_prompting``);
3. PerSAM-F only (``scale_fusion``): three masks fused with the two weights fitted on the reference;
4. cascaded post-refinement (``refinement_steps``: 0, 1 or 2).

PerSAM is the training-free configuration; PerSAM-F turns on ``scale_fusion`` and, as in the original
code, uses the positive point only, no guidance, and the mean+max target embedding.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from persam.methods.guidance import attention_bias
from persam.methods.location_prior import select_points, similarity_grid, similarity_image
from persam.methods.protocol import Method, Prediction, Prompts, Shot, as_shots
from persam.methods.refinement import Stage, refine
from persam.methods.scale_fusion import fit_scale_weights, fit_scale_weights_autograd, fuse
from persam.methods.target import CENTER_THRESHOLD, target_embedding
from persam.models.guided_decoder import Guidance
from persam.models.predictor import GuidedPredictor, ImageEmbedding

FITTERS = {"fast": fit_scale_weights, "autograd": fit_scale_weights_autograd}


@dataclass
class PerSAMConfig:
    negative_prior: bool = True
    guided_attention: bool = True
    semantic_prompting: bool = True
    refinement_steps: int = 2
    attention: str = "original"  # "original" (the released code) or "eq7" (the paper's Eq. 7)
    eq7_alpha: float = 1.0
    mask_pooling: str = "center"  # "center" (original code) or "area", see persam.methods.target
    embedding_pooling: str = "mean"  # "mean" or "mean_max" (original PerSAM-F)
    topk: int = 1
    scale_fusion: bool = False  # PerSAM-F
    fit: str = "fast"  # "fast" (grouped pixels) or "autograd" (reference), see persam.methods.scale_fusion
    fit_steps: int = 1000
    fit_lr: float = 1e-3
    # Without scale fusion, the first decoding's mask: "single" (SAM's single-mask output), or of its three
    # masks the "largest" (the original video code) or the "best" (highest predicted IoU).
    first_mask: str = "single"
    # Box prompt (the previous mask's box) from the first refinement step on; always so with scale fusion.
    refine_box_from_first_step: bool = False
    # mask_pooling="center": a cell is the object's when the mask sampled at its centre exceeds this
    # (123.675 / 128 as the original image code; its video code scales masks to 215: 123.675 / 215).
    center_threshold: float = CENTER_THRESHOLD

    def __post_init__(self) -> None:
        if self.refinement_steps not in (0, 1, 2):
            raise ValueError(f"refinement_steps must be 0, 1 or 2, got {self.refinement_steps}")
        if self.fit not in FITTERS:
            raise ValueError(f"fit must be one of {', '.join(FITTERS)}, got {self.fit!r}")
        if self.first_mask not in ("single", "largest", "best"):
            raise ValueError(f"first_mask must be 'single', 'largest' or 'best', got {self.first_mask!r}")


@dataclass
class Reference:
    """What PerSAM keeps from its references: the target embedding (C) and, for PerSAM-F, the 3 weights."""

    embedding: Tensor
    scale_weights: Tensor | None = None
    fit_seconds: float = 0.0


class PerSAM(Method):
    """PerSAM / PerSAM-F over a :class:`GuidedPredictor`. ``fit`` once on the references, then ``predict``.

    Built as ``PerSAM(predictor, **settings)`` (the fields of :class:`PerSAMConfig`, as Hydra passes them from
    ``conf/method/*.yaml``) or ``PerSAM(predictor, PerSAMConfig(...))``.
    """

    settings_class = PerSAMConfig
    supports_video = True

    def __init__(self, predictor: GuidedPredictor, config: PerSAMConfig | None = None, **settings) -> None:
        super().__init__(predictor)
        if config is not None and settings:
            raise TypeError("give PerSAM a PerSAMConfig or keyword settings, not both")
        self.config = config or PerSAMConfig(**settings)

    # -- reference ------------------------------------------------------------------------------------
    def fit(self, references: Shot | Sequence[Shot], prompts: Prompts | None = None) -> Reference:
        """Learn the target from the references (each an image embedding and its H x W boolean mask); with
        several, the target embedding is the mean of theirs. PerSAM-F fits its weights on the first
        reference's decoding of the prior's points plus ``prompts`` (a tracker's box of that frame)."""
        cfg = self.config
        shots = as_shots(references)
        target = torch.stack([target_embedding(s.embedding, s.mask, cfg.mask_pooling, cfg.embedding_pooling,
                                               center_threshold=cfg.center_threshold) for s in shots]).mean(0)
        embedding, mask = shots[0].embedding, shots[0].mask
        if not cfg.scale_fusion:
            return Reference(target)
        start = time.perf_counter()
        # Decoder outputs on the reference, computed once; the fit only re-weights them.
        self.predictor.set_embedding(embedding)
        coords, labels, grid = self._prompts(embedding, target, prompts)
        out = self.predictor.decode(coords, labels, box=prompts.box if prompts else None, multimask=True,
                                    guidance=self._guidance(embedding, target, grid))
        gt = torch.as_tensor(mask, device=out.logits.device, dtype=torch.float32)
        weights = FITTERS[cfg.fit](out.logits, gt, steps=cfg.fit_steps, lr=cfg.fit_lr).to(out.logits.device)
        return Reference(target, weights, time.perf_counter() - start)

    # -- targets --------------------------------------------------------------------------------------
    def predict(self, embedding: ImageEmbedding, reference: Reference, gt: np.ndarray | None = None,
                prompts: Prompts | None = None) -> Prediction:
        """The personalised mask in a new image (``gt`` is accepted for a uniform interface and ignored;
        ``prompts`` are added to the prior's points, see :class:`Prompts`)."""
        cfg = self.config
        self.predictor.set_embedding(embedding)
        coords, labels, grid = self._prompts(embedding, reference.embedding, prompts)
        guidance = self._guidance(embedding, reference.embedding, grid)
        box = prompts.box if prompts else None
        if cfg.scale_fusion:
            out = self.predictor.decode(coords, labels, box=box, multimask=True, guidance=guidance)
            weights = reference.scale_weights
            stage = Stage(fuse(out.logits, weights), fuse(out.low_res_logits, weights)[None])
        else:
            out = self.predictor.decode(coords, labels, box=box, multimask=cfg.first_mask != "single", guidance=guidance)
            pick = 0
            if cfg.first_mask == "largest":
                pick = int((out.logits > 0).flatten(1).sum(1).argmax())
            elif cfg.first_mask == "best":
                pick = out.best()
            stage = Stage.of(out, pick)  # upsampled to the image size only when needed
        stage = refine(self.predictor, stage, coords, labels, cfg.refinement_steps,
                       box_from_first_step=cfg.scale_fusion or cfg.refine_box_from_first_step)
        return Prediction(stage.mask.cpu().numpy(), coords, labels, logits=stage.logits)

    def most_similar_point(self, embedding: ImageEmbedding, reference: Reference) -> np.ndarray:
        """XY pixel of the location prior's most similar point: the first positive point :meth:`predict` uses."""
        grid = similarity_grid(embedding, reference.embedding)
        coords, _ = select_points(similarity_image(self.predictor.model, embedding, grid), 1, negative=False)
        return coords[0]

    # -- shared steps ---------------------------------------------------------------------------------
    def _prompts(self, embedding: ImageEmbedding, target: Tensor,
                 prompts: Prompts | None = None) -> tuple[np.ndarray, np.ndarray, Tensor]:
        grid = similarity_grid(embedding, target)
        similarity = similarity_image(self.predictor.model, embedding, grid)
        coords, labels = select_points(similarity, self.config.topk, self.config.negative_prior)
        if prompts is not None and prompts.points is not None and len(prompts.points):
            coords = np.concatenate([coords, np.asarray(prompts.points, dtype=np.float64).reshape(-1, 2)])
            labels = np.concatenate([labels, np.asarray(prompts.labels, dtype=np.int64).reshape(-1)])
        return coords, labels, grid

    def _guidance(self, embedding: ImageEmbedding, target: Tensor, grid: Tensor) -> Guidance | None:
        cfg = self.config
        if not (cfg.guided_attention or cfg.semantic_prompting):
            return None
        bias = attention_bias(embedding, grid, cfg.attention, cfg.eq7_alpha) if cfg.guided_attention else None
        semantic = target.reshape(1, 1, -1) if cfg.semantic_prompting else None
        return Guidance(attn_bias=bias, target_embedding=semantic)
