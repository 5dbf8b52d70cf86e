"""PerSAM and PerSAM-F: personalise SAM on one reference image and its mask, then segment that object
in new images.

One pipeline, every component a switch (:class:`PerSAMConfig`):

1. location prior: the target embedding's cosine similarity to the target image's features; the most
   similar pixel is a positive point (always), the least similar a negative point (``negative_prior``);
2. the first decoding, optionally with target-guided attention (``guided_attention``) and
   target-semantic prompting (``semantic_prompting``);
3. PerSAM-F only (``scale_fusion``): three masks fused with the two weights fitted on the reference;
4. cascaded post-refinement (``refinement_steps``: 0, 1 or 2).

Several references (:mod:`persam.methods.multi_reference`): ``references="pool"`` (the target embedding is the
mean of theirs, the location prior the best match over the per-reference prototypes, PerSAM-F's weights fitted on
all) or ``"vote"`` (each reference a one-shot predictor, their predictions vote). The presence score is the cosine
similarity between the predicted mask's pooled features and the nearest reference prototype
(:func:`persam.methods.presence.pooled_similarity`); presence and several instances are the presence layer's
(:mod:`persam.methods.presence_layer`). Why this score, and the data behind it: docs/methods.md, "Presence".
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from persam.methods.grid import suppress_region
from persam.methods.guidance import attention_bias
from persam.methods.location_prior import select_points, similarity_image
from persam.methods.multi_reference import best_match_grid, prototypes, soft_vote, stacked_fit_inputs
from persam.methods.presence import Calibration, pooled_similarity
from persam.methods.presence_layer import CheckedMethod
from persam.methods.presence_settings import PresenceSettings
from persam.methods.protocol import Prediction, Prompts, Shot
from persam.methods.refinement import Stage, refine, refine_batch
from persam.methods.scale_fusion import fit_scale_weights, fit_scale_weights_autograd, fuse
from persam.methods.target import CENTER_THRESHOLD, target_embedding
from persam.models.guided_decoder import Guidance
from persam.models.predictor import Decoded, GuidedPredictor, ImageEmbedding

FITTERS = {"fast": fit_scale_weights, "autograd": fit_scale_weights_autograd}


@dataclass
class PerSAMConfig(PresenceSettings):
    """PerSAM's switches (the presence layer's settings are inherited: :class:`PresenceSettings`)."""

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
    # Several references (persam.methods.multi_reference): "pool" (one target from all: the mean embedding, the
    # best-match prior, PerSAM-F's weights fitted on all) or "vote" (each reference a one-shot predictor, soft vote).
    references: str = "pool"
    # references="vote": the mask where the voters' mean mask probability exceeds this (a majority; not tuned).
    vote_threshold: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.refinement_steps not in (0, 1, 2):
            raise ValueError(f"refinement_steps must be 0, 1 or 2, got {self.refinement_steps}")
        if self.fit not in FITTERS:
            raise ValueError(f"fit must be one of {', '.join(FITTERS)}, got {self.fit!r}")
        if self.first_mask not in ("single", "largest", "best"):
            raise ValueError(f"first_mask must be 'single', 'largest' or 'best', got {self.first_mask!r}")
        if self.references not in ("pool", "vote"):
            raise ValueError(f"references must be 'pool' or 'vote', got {self.references!r}")


@dataclass
class Reference:
    """What PerSAM keeps from its references: the target embedding (C, the mean of the K per-reference
    prototypes, K x C), PerSAM-F's 3 weights, and the presence calibration (the presence layer's)."""

    embedding: Tensor
    scale_weights: Tensor | None = None
    fit_seconds: float = 0.0
    prototypes: Tensor | None = None
    presence: Calibration | None = None
    members: list[Reference] | None = None  # references="vote": one one-shot reference per photo

    @property
    def protos(self) -> Tensor:
        return self.prototypes if self.prototypes is not None else self.embedding[None]


class PerSAM(CheckedMethod):
    """PerSAM / PerSAM-F over a :class:`GuidedPredictor`. ``fit`` once on the references, then ``predict``.

    Built as ``PerSAM(predictor, **settings)`` (the fields of :class:`PerSAMConfig`, as Hydra passes them from
    ``persam/conf/method/*.yaml``) or ``PerSAM(predictor, PerSAMConfig(...))``.
    """

    settings_class = PerSAMConfig
    supports_video = True

    def __init__(self, predictor: GuidedPredictor, config: PerSAMConfig | None = None, **settings) -> None:
        super().__init__(predictor)
        if config is not None and settings:
            raise TypeError("give PerSAM a PerSAMConfig or keyword settings, not both")
        self.config = config or PerSAMConfig(**settings)

    # -- reference ------------------------------------------------------------------------------------
    def fit_state(self, shots: list[Shot], prompts: Prompts | None) -> Reference:
        """Learn the target from the references (each an image embedding and its H x W boolean mask): see the
        module doc for several. Pooled, PerSAM-F fits its weights on every reference's decoding of the prior's
        points plus ``prompts`` (a tracker's box of the first frame)."""
        return self._fit(shots, prompts)

    def _fit(self, shots: list[Shot], prompts: Prompts | None) -> Reference:
        if self.config.references == "vote" and len(shots) > 1:
            members = [self._fit_pooled([shot], prompts) for shot in shots]
            protos = torch.stack([m.embedding for m in members])
            return Reference(protos.mean(0), prototypes=protos, members=members)
        return self._fit_pooled(shots, prompts)

    def _fit_pooled(self, shots: list[Shot], prompts: Prompts | None) -> Reference:
        cfg = self.config
        protos = prototypes(shots, self._pool)
        target = protos.mean(0)
        if not cfg.scale_fusion:
            return Reference(target, prototypes=protos)
        start = time.perf_counter()
        # Decoder outputs on each reference, computed once; the fit only re-weights them.
        logits, masks = [], []
        for shot in shots:
            self.predictor.set_embedding(shot.embedding)
            coords, labels, grid = self._prompts(shot.embedding, protos, prompts)
            out = self.predictor.decode(coords, labels, box=prompts.box if prompts else None, multimask=True,
                                        guidance=self._guidance(shot.embedding, target, grid))
            logits.append(out.logits)
            masks.append(torch.as_tensor(shot.mask, device=out.logits.device))
        stacked, gt = stacked_fit_inputs(logits, masks) if len(shots) > 1 else (logits[0], masks[0].float())
        weights = FITTERS[cfg.fit](stacked, gt, steps=cfg.fit_steps, lr=cfg.fit_lr).to(stacked.device)
        return Reference(target, weights, time.perf_counter() - start, prototypes=protos)

    def _pool(self, embedding: ImageEmbedding, mask: np.ndarray) -> Tensor:
        cfg = self.config
        return target_embedding(embedding, mask, cfg.mask_pooling, cfg.embedding_pooling,
                                center_threshold=cfg.center_threshold)

    # -- targets --------------------------------------------------------------------------------------
    def candidate(self, embedding: ImageEmbedding, reference: Reference, prompts: Prompts | None) -> Prediction:
        """The personalised mask in a new image with its presence score (``prompts`` are added to the prior's
        points, see :class:`Prompts`)."""
        if reference.members:  # references="vote"
            return soft_vote([self.candidate(embedding, member, prompts) for member in reference.members],
                             self.config.vote_threshold)
        cfg = self.config
        self.predictor.set_embedding(embedding)
        coords, labels, grid = self._prompts(embedding, reference.protos, prompts)
        guidance = self._guidance(embedding, reference.embedding, grid)
        out = self.predictor.decode(coords, labels, box=prompts.box if prompts else None,
                                    multimask=self._multimask(), guidance=guidance)
        stage = refine(self.predictor, self._first_stage(out, reference), coords, labels, cfg.refinement_steps,
                       box_from_first_step=cfg.scale_fusion or cfg.refine_box_from_first_step)
        mask = stage.mask.cpu().numpy()
        score = pooled_similarity(embedding, mask, reference.protos, self._pool)
        return Prediction(mask, coords, labels, score=score, logits=stage.logits)

    def predict_batch(self, embedding: ImageEmbedding, references: Sequence[Reference],
                      prompts_list: Sequence[Prompts | None]) -> list[Prediction]:
        """:meth:`predict` for several objects (``references[i]`` with ``prompts_list[i]``) of one image, each
        decoding step (the first and every refinement step) one batched decoder call for all objects
        (:meth:`GuidedPredictor.decode_batch`). Equal to per-object :meth:`predict` to float rounding (padding
        points of shorter prompt sets are masked out); presence and several instances are per-object only."""
        if len(references) != len(prompts_list):
            raise ValueError(f"predict_batch: {len(references)} references but {len(prompts_list)} prompt sets")
        if any(r.members for r in references):  # voters decode one object at a time
            return [self.candidate(embedding, r, p) for r, p in zip(references, prompts_list, strict=True)]
        cfg = self.config
        self.predictor.set_embedding(embedding)
        coords, labels, guidance = [], [], []
        for reference, prompts in zip(references, prompts_list, strict=True):
            c, lab, grid = self._prompts(embedding, reference.protos, prompts)
            coords.append(c)
            labels.append(lab)
            guidance.append(self._guidance(embedding, reference.embedding, grid))
        outs = self.predictor.decode_batch(coords, labels, boxes=[p.box if p else None for p in prompts_list],
                                           multimask=self._multimask(), guidance=guidance)
        stages = [self._first_stage(out, reference) for out, reference in zip(outs, references, strict=True)]
        stages = refine_batch(self.predictor, stages, coords, labels, cfg.refinement_steps,
                              box_from_first_step=cfg.scale_fusion or cfg.refine_box_from_first_step)
        masks = [s.mask.cpu().numpy() for s in stages]
        return [Prediction(mask, c, lab, score=pooled_similarity(embedding, mask, reference.protos, self._pool),
                           logits=s.logits)
                for mask, s, c, lab, reference in zip(masks, stages, coords, labels, references, strict=True)]

    def most_similar_point(self, embedding: ImageEmbedding, reference: Reference) -> np.ndarray:
        """XY pixel of the location prior's most similar point: the first positive point :meth:`predict` uses."""
        grid = best_match_grid(embedding, reference.protos)
        coords, _ = select_points(similarity_image(self.predictor.model, embedding, grid), 1, negative=False)
        return coords[0]

    # -- shared steps ---------------------------------------------------------------------------------
    def _multimask(self) -> bool:
        """Whether the first decoding asks for SAM's three masks (PerSAM-F fuses them; see ``first_mask``)."""
        return self.config.scale_fusion or self.config.first_mask != "single"

    def _first_stage(self, out: Decoded, reference: Reference) -> Stage:
        """The first decoding's mask: PerSAM-F's fusion of the three masks, else the ``first_mask`` pick
        (upsampled to the image size only when needed)."""
        cfg = self.config
        if cfg.scale_fusion:
            weights = reference.scale_weights
            return Stage(fuse(out.logits, weights), fuse(out.low_res_logits, weights)[None])
        pick = 0
        if cfg.first_mask == "largest":
            pick = int((out.logits > 0).flatten(1).sum(1).argmax())
        elif cfg.first_mask == "best":
            pick = out.best()
        return Stage.of(out, pick)

    def _prompts(self, embedding: ImageEmbedding, protos: Tensor,
                 prompts: Prompts | None = None) -> tuple[np.ndarray, np.ndarray, Tensor]:
        """Points from the location prior (best match over the K x C prototypes, the ``exclude`` region of
        ``prompts`` suppressed) plus the prompts' points; and the 64 x 64 grid, for guided attention."""
        grid = suppress_region(best_match_grid(embedding, protos), embedding, prompts.exclude if prompts else None)
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
