"""PerSAM and PerSAM-F: personalise SAM on one reference image and its mask, then segment that object
in new images.

One pipeline, every component a switch (:class:`PerSAMConfig`):

1. location prior: the target embedding's cosine similarity to the target image's features; the most
   similar pixel is a positive point (always), the least similar a negative point (``negative_prior``);
2. the first decoding, optionally with target-guided attention (``guided_attention``) and
   target-semantic prompting (``semantic_prompting``);
3. PerSAM-F only (``scale_fusion``): three masks fused with the two weights fitted on the reference;
4. cascaded post-refinement (``refinement_steps``: 0, 1 or 2).

Beyond one shot (:mod:`persam.methods.multi_reference`, :mod:`persam.methods.presence`,
:mod:`persam.methods.instances`): ``fit`` takes k references (``references="pool"``: the target embedding is
the mean of theirs, the location prior the best match over the per-reference prototypes, PerSAM-F's weights are
fitted on all; ``"vote"``: each reference is a one-shot predictor and their predictions vote);
every prediction has a presence ``score``; ``presence`` empties the mask below a threshold calibrated on the
references; ``max_instances`` > 1 looks for several instances.

The presence score is the cosine similarity between the predicted mask's pooled features (pooled as the
references are) and the nearest reference prototype: "does what SAM cut out look like the object?". Measured
for PerSAM with cross-object negatives (README, "Several references, ..."), its mean per-object AUROC was 1.00
on the PerSeg subset and 0.95 on davis_perseg, ahead of the location prior's peak similarity (0.96, 0.94: a
peak says one cell matches, the pooled mask says the whole segment does) and far ahead of SAM's predicted IoU
(0.42, 0.55: SAM is as sure of a crisp wrong object as of the right one).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from persam.methods.guidance import attention_bias
from persam.methods.instances import checked_predict, suppress_region
from persam.methods.location_prior import select_points, similarity_image
from persam.methods.multi_reference import best_match_grid, prototypes, soft_vote, stacked_fit_inputs
from persam.methods.presence import DEFAULT_MARGIN, Calibration, calibrate, pooled_similarity
from persam.methods.protocol import Method, Prediction, Prompts, Shot, as_shots
from persam.methods.refinement import Stage, refine, refine_batch
from persam.methods.scale_fusion import fit_scale_weights, fit_scale_weights_autograd, fuse
from persam.methods.second_opinion import second_opinion
from persam.methods.target import CENTER_THRESHOLD, target_embedding
from persam.models.guided_decoder import Guidance
from persam.models.predictor import Decoded, GuidedPredictor, ImageEmbedding

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
    # Presence (persam.methods.presence): an empty mask when the score is below the threshold calibrated in
    # fit, ``presence_margin`` below the references' own score.
    presence: bool = False
    presence_margin: float = DEFAULT_MARGIN
    # Several instances (persam.methods.instances): at most this many, each suppressed before the next.
    max_instances: int = 1
    # The presence check's second opinion (persam.methods.second_opinion): a semantic encoder's name (none,
    # efficientnet_lite0, dinov2:<folder or hub name>) and its threshold (None: the encoder's own).
    second_opinion: str = "none"
    second_opinion_threshold: float | None = None
    # Several references (persam.methods.multi_reference): "pool" (one target from all: the mean embedding, the
    # best-match prior, PerSAM-F's weights fitted on all) or "vote" (each reference a one-shot predictor, soft vote).
    references: str = "pool"

    def __post_init__(self) -> None:
        if self.refinement_steps not in (0, 1, 2):
            raise ValueError(f"refinement_steps must be 0, 1 or 2, got {self.refinement_steps}")
        if self.fit not in FITTERS:
            raise ValueError(f"fit must be one of {', '.join(FITTERS)}, got {self.fit!r}")
        if self.first_mask not in ("single", "largest", "best"):
            raise ValueError(f"first_mask must be 'single', 'largest' or 'best', got {self.first_mask!r}")
        if self.max_instances < 1:
            raise ValueError(f"max_instances must be at least 1, got {self.max_instances}")
        if self.references not in ("pool", "vote"):
            raise ValueError(f"references must be 'pool' or 'vote', got {self.references!r}")


@dataclass
class Reference:
    """What PerSAM keeps from its references: the target embedding (C, the mean of the K per-reference
    prototypes, K x C), PerSAM-F's 3 weights, and the presence calibration (when presence or several instances
    need a threshold)."""

    embedding: Tensor
    scale_weights: Tensor | None = None
    fit_seconds: float = 0.0
    prototypes: Tensor | None = None
    presence: Calibration | None = None
    members: list[Reference] | None = None  # references="vote": one one-shot reference per photo

    @property
    def protos(self) -> Tensor:
        return self.prototypes if self.prototypes is not None else self.embedding[None]


class PerSAM(Method):
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
    def fit(self, references: Shot | Sequence[Shot], prompts: Prompts | None = None) -> Reference:
        """Learn the target from the references (each an image embedding and its H x W boolean mask): see the
        module doc for several. Pooled, PerSAM-F fits its weights on every reference's decoding of the prior's points
        plus ``prompts`` (a tracker's box of the first frame). With ``presence`` or ``max_instances`` > 1, the
        presence threshold is calibrated on the references (:func:`persam.methods.presence.calibrate`)."""
        cfg = self.config
        shots = as_shots(references)
        reference = self._fit(shots, prompts)
        if cfg.presence or cfg.max_instances > 1:
            opinion = second_opinion(cfg.second_opinion, shots, cfg.second_opinion_threshold,
                                     self.predictor.device)
            reference.presence = calibrate(shots, lambda subset: self._fit(subset, prompts), self._score_on,
                                           reference, cfg.presence_margin,
                                           second_opinion=opinion)
        return reference

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

    def _score_on(self, embedding: ImageEmbedding, reference: Reference, exclude: np.ndarray | None) -> float:
        return self._predict_one(embedding, reference, Prompts(exclude=exclude)).score

    # -- targets --------------------------------------------------------------------------------------
    def predict(self, embedding: ImageEmbedding, reference: Reference, gt: np.ndarray | None = None,
                prompts: Prompts | None = None) -> Prediction:
        """The personalised mask in a new image (``gt`` is accepted for a uniform interface and ignored;
        ``prompts`` are added to the prior's points, see :class:`Prompts`), with its presence score; empty
        when ``presence`` says absent; the instances' label map when ``max_instances`` > 1."""
        cfg = self.config
        return checked_predict(lambda extra: self._predict_one(embedding, reference, extra), reference.presence,
                               cfg.presence, cfg.max_instances, prompts, embedding)

    def _predict_one(self, embedding: ImageEmbedding, reference: Reference, prompts: Prompts | None) -> Prediction:
        if reference.members:  # references="vote"
            return soft_vote([self._predict_one(embedding, member, prompts) for member in reference.members])
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
            return [self._predict_one(embedding, r, p) for r, p in zip(references, prompts_list, strict=True)]
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
