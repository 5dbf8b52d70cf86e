"""PerSAM+: a training-free PerSAM that finds whole objects made of parts, checks masks against the reference,
and mines its negative points from the similarity map.

The rule in brief (the design record, its revisions and the data behind each choice: docs/methods.md, "PerSAM+
design record"; written down before any evaluation, and a choice made on data says so here):

0. Rough references: a reference mask much larger than the object inside it is replaced by SAM's mask from its
   box (:mod:`persam.methods.reference_cleanup`; thresholds written before measuring, one revision from PerSeg's
   cat box, then measured on davis_perseg; davis16_perseg is the check).
1. Reference: the object cells of the mask; their mean is the target embedding; spherical k-means parts,
   ``k = clip(floor(sqrt(N / 16)), 1, max_parts)``.
2. Location priors: the global map from the mean+max locator (revision 1, made on davis_perseg's small
   objects); one map per part.
3. Candidates: PerSAM's prompt set and the part prompt set, decoded in one batched call (3 masks each).
4. Mask-level check: each candidate's pooled features against the target embedding; the best is the first mask.
5. Negative mining from look-alike regions apart from the first mask; off by default (``mine_negatives``),
   a default chosen by its score on davis_perseg, the one setting chosen so.
6. Refinement: PerSAM's two cascaded steps.
7. Presence score: rule 4's check of the final mask.
8. Video: a tracker's points and box are appended to every prompt set, and the decoder is not guided (no
   target-guided attention or semantic prompting, as PerSAM's own video procedure): the box says where the
   object is, and guidance pulls look-alikes inside it into the mask (DAVIS camel's second camel, libby's
   poles), which the next frame's box then keeps. Seen and measured on Table 2's 13 DAVIS sequences (the only
   video data here); the hidden sequences are the check.
9. Several instances: part peaks and attention restricted to the global map's blob around its peak.
10. Several references: each photo is its own one-shot PerSAM+ and the predictions are combined by a soft vote
    (:func:`persam.methods.multi_reference.soft_vote`); decided on davis_fewshot, after two pooled designs were
    measured there and dropped; davis16_fewshot is the check.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from persam.methods.guidance import attention_bias, valid_cells
from persam.methods.instances import checked_predict, suppress_region
from persam.methods.location_prior import select_points, similarity_grid, similarity_image
from persam.methods.multi_reference import soft_vote
from persam.methods.presence import DEFAULT_MARGIN, Calibration, calibrate
from persam.methods.protocol import Method, Prediction, Prompts, Shot, as_shots
from persam.methods.reference_cleanup import clean_reference
from persam.methods.refinement import Stage, refine
from persam.methods.second_opinion import second_opinion
from persam.methods.target import CENTER_THRESHOLD, PATCH, mask_on_grid, object_cells
from persam.models.guided_decoder import Guidance
from persam.models.predictor import GuidedPredictor, ImageEmbedding

CELLS_PER_PART = 16
KMEANS_ITERATIONS = 20
NMS_RADIUS = 4  # cells
MAX_NEGATIVES = 2


@dataclass
class PlusReference:
    """What PerSAM+ keeps from one reference photo. embedding: C (the mean of its object cells, for the check
    and semantic prompting); locator: C (their mean+max, for the global map); parts: k x C (unit part
    prototypes); cells: N, its object cells."""

    embedding: Tensor
    locator: Tensor
    parts: Tensor
    cells: int


@dataclass
class PlusReferences:
    """What PerSAM+ keeps from its K reference photos: one :class:`PlusReference` per photo, each a voter
    (rule 10), and the presence calibration."""

    members: list[PlusReference]
    presence: Calibration | None = None


def part_count(cells: int, max_parts: int = 5) -> int:
    """k = clip(floor(sqrt(N / 16)), 1, max_parts) parts for N object cells (rule 1 of the module doc)."""
    return int(min(max_parts, max(1, math.floor(math.sqrt(cells / CELLS_PER_PART)))))


def part_prototypes(features: Tensor, k: int, iterations: int = KMEANS_ITERATIONS) -> Tensor:
    """k x C unit prototypes of N x C features by spherical k-means, deterministically initialised: the feature
    closest to the mean, then repeatedly the feature least similar to every chosen one (farthest point)."""
    unit = F.normalize(features.float(), dim=1)
    k = min(k, len(unit))
    centre = F.normalize(unit.mean(0), dim=0)
    chosen = [int((unit @ centre).argmax())]
    for _ in range(1, k):
        closest = (unit @ unit[chosen].T).max(1).values
        chosen.append(int(closest.argmin()))
    protos = unit[chosen].clone()
    for _ in range(iterations):
        assign = (unit @ protos.T).argmax(1)
        for j in range(k):
            members = unit[assign == j]
            if len(members):  # an emptied cluster keeps its prototype
                protos[j] = F.normalize(members.mean(0), dim=0)
    return protos


def cell_coverage(low_res: Tensor) -> Tensor:
    """B x 64 x 64 fraction of each feature cell covered by each mask, from B x 256 x 256 low-resolution logits
    (which span the padded 1024 x 1024 input, 4 x 4 logits per cell)."""
    return F.avg_pool2d((low_res.reshape(-1, 1, 256, 256) > 0).float(), 4)[:, 0]


def mask_check(embedding: ImageEmbedding, low_res: Tensor, target: Tensor) -> Tensor:
    """Cosine similarity of each mask's pooled features to ``target`` (rule 4): low_res B x 256 x 256 logits,
    target C; returns B values, -1 for an empty mask."""
    coverage = cell_coverage(low_res)
    feats = embedding.features[0]  # C x 64 x 64
    area = coverage.flatten(1).sum(1)
    pooled = torch.einsum("bhw,chw->bc", coverage, feats) / area.clamp(min=1e-6)[:, None]
    cosine = F.cosine_similarity(pooled, target[None].to(pooled), dim=1)
    return torch.where(area > 0, cosine, torch.full_like(cosine, -1.0))


def peak_region(grid: Tensor, valid: Tensor) -> Tensor:
    """64 x 64 boolean map: the 4-connected region around the ``grid``'s maximum of the valid cells at least
    half-way from the valid cells' mean to that maximum (the blob at half maximum; rule 9)."""
    level = (grid[valid].mean() + grid[valid].max()) / 2
    above = (valid & (grid >= level)).cpu().numpy().astype(np.uint8)
    _, regions = cv2.connectedComponents(above, connectivity=4)
    peak = divmod(int(torch.where(valid, grid, torch.full_like(grid, -torch.inf)).argmax()), grid.shape[1])
    return torch.from_numpy(regions == regions[peak]).to(grid.device)


def peak_components(low_res: Tensor, region: Tensor) -> Tensor:
    """1 x 256 x 256 logits with the mask's 8-connected pieces that touch no cell of the 64 x 64 ``region``
    set below zero (rule 9: one instance is the piece around its peak)."""
    mask = (low_res[0] > 0).cpu().numpy().astype(np.uint8)
    _, pieces = cv2.connectedComponents(mask, connectivity=8)
    near = region.repeat_interleave(4, 0).repeat_interleave(4, 1).cpu().numpy()  # 4 x 4 logits per cell
    kept = np.isin(pieces, np.unique(pieces[near & (mask > 0)]))
    keep = torch.from_numpy(kept & (mask > 0)).to(low_res.device)
    return torch.where(keep, low_res, torch.minimum(low_res, torch.full_like(low_res, -1.0)))


def distractor_cells(grid: Tensor, coverage: Tensor, valid: Tensor) -> Tensor:
    """64 x 64 boolean map of the distractors of a mask (rule 5): look-alike cells (valid, at least as similar
    as the median of the mask's own cells, ``coverage`` >= 0.5) in 4-connected regions that touch no cell the
    mask covers (``coverage`` > 0)."""
    inside = coverage >= 0.5
    if not bool(inside.any()):
        return torch.zeros_like(valid)
    alike = (valid & (grid >= grid[inside].median())).cpu().numpy().astype(np.uint8)
    _, regions = cv2.connectedComponents(alike, connectivity=4)
    touching = np.unique(regions[(coverage > 0).cpu().numpy() & (alike > 0)])
    distractor = (alike > 0) & ~np.isin(regions, touching)
    return torch.from_numpy(distractor).to(grid.device)


def mine_negatives(grid: Tensor, coverage: Tensor, valid: Tensor, limit: int = MAX_NEGATIVES,
                   radius: int = NMS_RADIUS) -> list[tuple[int, int]]:
    """Negative cells (row, col) of a 64 x 64 similarity ``grid`` for a mask's 64 x 64 ``coverage`` (rule 5):
    distractor cells (:func:`distractor_cells`), the most similar first, at least ``radius`` cells apart
    (Chebyshev), at most ``limit``."""
    distractor = distractor_cells(grid, coverage, valid)
    scores = torch.where(distractor, grid, torch.full_like(grid, -torch.inf))
    found: list[tuple[int, int]] = []
    while len(found) < limit:
        idx = int(scores.argmax())
        r, c = divmod(idx, grid.shape[1])
        if not torch.isfinite(scores[r, c]):
            break
        found.append((r, c))
        scores[max(0, r - radius) : r + radius + 1, max(0, c - radius) : c + radius + 1] = -torch.inf
    return found


@dataclass
class PerSAMPlusConfig:
    """PerSAM+'s settings. max_parts: the cap on k; refinement_steps: 0, 1 or 2; mine_negatives: rule 5 (off by
    default, chosen by score: see the module doc); reference_cleanup: rule 0; presence, presence_margin and
    max_instances as PerSAM's (:mod:`persam.methods.presence`, :mod:`persam.methods.instances`), on rule 7's
    score."""

    max_parts: int = 5
    refinement_steps: int = 2
    mine_negatives: bool = False
    presence: bool = False
    presence_margin: float = DEFAULT_MARGIN
    max_instances: int = 1
    reference_cleanup: bool = True
    second_opinion: str = "none"  # the presence check's semantic encoder, as PerSAM's
    second_opinion_threshold: float | None = None
    guided_attention: bool = True  # the decoder guided as PerSAM's (off in video: rule 8)
    semantic_prompting: bool = True

    def __post_init__(self) -> None:
        if self.max_parts < 1:
            raise ValueError(f"max_parts must be at least 1, got {self.max_parts}")
        if self.refinement_steps not in (0, 1, 2):
            raise ValueError(f"refinement_steps must be 0, 1 or 2, got {self.refinement_steps}")
        if self.max_instances < 1:
            raise ValueError(f"max_instances must be at least 1, got {self.max_instances}")


class PerSAMPlus(Method):
    """PerSAM+ (see the module doc for the rule), configured by the keywords of :class:`PerSAMPlusConfig`."""

    supports_video = True
    settings_class = PerSAMPlusConfig

    def __init__(self, predictor: GuidedPredictor, **settings) -> None:
        super().__init__(predictor)
        self.config = PerSAMPlusConfig(**settings)

    # -- reference ------------------------------------------------------------------------------------
    def fit(self, references: Sequence[Shot], prompts: Prompts | None = None) -> PlusReferences:
        """Each reference's target embedding, locator and part prototypes from its object cells (rules 1 and 10);
        ``prompts`` (a tracker's, on the reference frame) are not needed: nothing is fitted on a decoding. With
        ``presence`` or ``max_instances`` > 1 the presence threshold is calibrated on the references."""
        shots = as_shots(references)
        cfg = self.config
        if cfg.reference_cleanup:  # rule 0: a rough mask's object, before anything is pooled
            shots = [clean_reference(self.predictor, shot) for shot in shots]
        reference = self._fit(shots)
        if cfg.presence or cfg.max_instances > 1:
            opinion = second_opinion(cfg.second_opinion, shots, cfg.second_opinion_threshold,
                                     self.predictor.device)
            reference.presence = calibrate(shots, self._fit, self._score_on, reference, cfg.presence_margin,
                                           second_opinion=opinion)
        return reference

    def _fit(self, shots: list[Shot]) -> PlusReferences:
        return PlusReferences([self._fit_one(shot) for shot in shots])

    def _fit_one(self, shot: Shot) -> PlusReference:
        if not shot.mask.any():
            raise ValueError("a reference mask is empty: there is no object to personalise on")
        coverage = mask_on_grid(shot.mask, shot.embedding.input_size, "center").to(shot.embedding.features.device)
        kept = object_cells(coverage, "center", center_threshold=CENTER_THRESHOLD)
        feats = shot.embedding.features[0].permute(1, 2, 0)[kept]
        parts = part_prototypes(feats, part_count(len(feats), self.config.max_parts))
        locator = feats.mean(0) / 2 + feats.max(0).values / 2  # as persam.methods.target's mean_max
        return PlusReference(feats.mean(0), locator, parts, len(feats))

    # -- location prior -------------------------------------------------------------------------------
    def similarity_maps(self, embedding: ImageEmbedding, reference: PlusReference,
                        exclude: np.ndarray | None = None) -> tuple[Tensor, Tensor]:
        """(64 x 64 global map, k x 64 x 64 part maps): cosine similarity of every target cell to the locator
        and to each part prototype (rule 2), with the ``exclude`` region (H x W bool: found instances, a
        reference's own object) suppressed in every map."""
        feats = F.normalize(embedding.features[0], dim=0)
        parts = torch.einsum("kc,chw->khw", reference.parts.to(feats), feats)
        grid = suppress_region(similarity_grid(embedding, reference.locator), embedding, exclude)
        return grid, torch.stack([suppress_region(p, embedding, exclude) for p in parts])

    def most_similar_point(self, embedding: ImageEmbedding, references: PlusReferences) -> np.ndarray:
        """XY pixel of the first reference's global map's maximum: the first positive point its prediction uses
        (video reacquire; in a video the first reference is the annotated frame)."""
        grid, _ = self.similarity_maps(embedding, references.members[0])
        return select_points(similarity_image(self.predictor.model, embedding, grid), 1, negative=False)[0][0]

    # -- targets --------------------------------------------------------------------------------------
    def predict(self, embedding: ImageEmbedding, references: PlusReferences, gt: np.ndarray | None = None,
                prompts: Prompts | None = None) -> Prediction:
        """The object's mask in a target image (``gt`` is ignored; ``prompts`` are appended, rule 8), with its
        presence score; empty when ``presence`` says absent; the instances' label map when ``max_instances`` > 1."""
        cfg = self.config
        return checked_predict(lambda extra: self._predict_one(embedding, references, extra), references.presence,
                               cfg.presence, cfg.max_instances, prompts, embedding)

    def _score_on(self, embedding: ImageEmbedding, references: PlusReferences, exclude: np.ndarray | None) -> float:
        return self._predict_one(embedding, references, Prompts(exclude=exclude)).score

    def _predict_one(self, embedding: ImageEmbedding, references: PlusReferences,
                     prompts: Prompts | None) -> Prediction:
        """Every reference's prediction, combined by the soft vote (rule 10)."""
        return soft_vote([self._predict_member(embedding, member, prompts) for member in references.members])

    def _predict_member(self, embedding: ImageEmbedding, reference: PlusReference,
                        prompts: Prompts | None) -> Prediction:
        sam = self.predictor.model
        self.predictor.set_embedding(embedding)
        grid, parts = self.similarity_maps(embedding, reference, prompts.exclude if prompts is not None else None)
        attended, region = grid, None
        if self.config.max_instances > 1:  # rule 9: one instance's parts and attention are around its peak
            region = peak_region(grid, valid_cells(embedding))
            parts = torch.where(region, parts, parts.amin((1, 2), keepdim=True))
            attended = torch.where(region, grid, grid.min())
        part_map = parts.max(0).values
        coords, labels = select_points(similarity_image(sam, embedding, grid), 1, negative=True)
        part_points = [select_points(similarity_image(sam, embedding, p), 1, negative=False)[0] for p in parts]
        part_coords = np.concatenate([coords[:1], *part_points, coords[1:]])
        part_labels = np.array([1] * (1 + len(part_points)) + [0], dtype=np.int64)
        sets = [(coords, labels), _dedupe(part_coords, part_labels)]
        sets = [_append(c, lab, prompts) for c, lab in sets]
        semantic = reference.embedding.reshape(1, 1, -1) if self.config.semantic_prompting else None
        guidance = [Guidance(attention_bias(embedding, bias) if self.config.guided_attention else None, semantic)
                    for bias in (attended, part_map)]
        box = prompts.box if prompts is not None else None
        outs = self.predictor.decode_batch([c for c, _ in sets], [lab for _, lab in sets], boxes=[box, box],
                                           guidance=guidance, multimask=True)
        low_res = torch.cat([o.low_res_logits for o in outs])  # 6 x 256 x 256
        checks = mask_check(embedding, low_res, reference.embedding)
        pick = int(checks.argmax())
        chosen_set, chosen_mask = divmod(pick, 3)
        stage = Stage.of(outs[chosen_set], chosen_mask)
        if region is not None:  # rule 9: the pieces of the first mask away from the peak are another instance
            low = peak_components(stage.low_res, region)
            upscale = self.predictor.upscaler(embedding.input_size, embedding.original_size)
            stage = Stage(lambda: upscale(low)[0, 0], low)
        coords, labels = sets[chosen_set]
        negatives = self._distractors(embedding, grid, stage) if self.config.mine_negatives else np.zeros((0, 2))
        if len(negatives):
            coords = np.concatenate([coords, negatives])
            labels = np.concatenate([labels, np.zeros(len(negatives), dtype=np.int64)])
        # With a tracker's box the first mask is already boxed in: refine with its box from step 1, as PerSAM's
        # video procedure does (a box-centre point can fall off a curved object, and unboxed it leaks).
        stage = refine(self.predictor, stage, coords, labels, self.config.refinement_steps,
                       box_from_first_step=box is not None)
        score = self.presence_score(embedding, stage.low_res, reference)
        extra = {"parts": len(reference.parts), "prompt_set": ["persam", "parts"][chosen_set],
                 "first_check": float(checks[pick]), "negatives_mined": len(negatives)}
        return Prediction(stage.mask.cpu().numpy(), coords, labels, score=score, logits=stage.logits, extra=extra)

    def presence_score(self, embedding: ImageEmbedding, low_res: Tensor, reference: PlusReference) -> float:
        """Presence score of a mask given by its 1 x 256 x 256 logits: its mask-level check (rule 7)."""
        return float(mask_check(embedding, low_res, reference.embedding)[0])

    def _distractors(self, embedding: ImageEmbedding, grid: Tensor, stage: Stage) -> np.ndarray:
        """XY pixels of the mined negative points for the first mask ``stage`` (rule 5)."""
        cells = mine_negatives(grid, cell_coverage(stage.low_res)[0], valid_cells(embedding))
        scale = max(embedding.input_size) / max(embedding.original_size)  # original pixels -> input pixels
        h, w = embedding.original_size
        points = [((c + 0.5) * PATCH / scale, (r + 0.5) * PATCH / scale) for r, c in cells]
        return np.array([[min(x, w - 1), min(y, h - 1)] for x, y in points], dtype=np.float64).reshape(-1, 2)


def _dedupe(coords: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points without repeats (two parts may peak at the same pixel), in their order."""
    _, first = np.unique(np.concatenate([coords, labels[:, None]], axis=1), axis=0, return_index=True)
    keep = np.sort(first)
    return coords[keep], labels[keep]


def _append(coords: np.ndarray, labels: np.ndarray, prompts: Prompts | None) -> tuple[np.ndarray, np.ndarray]:
    """A prompt set with a tracker's extra points appended (rule 8)."""
    if prompts is None or prompts.points is None or not len(prompts.points):
        return coords, labels
    return (np.concatenate([coords, np.asarray(prompts.points, dtype=np.float64).reshape(-1, 2)]),
            np.concatenate([labels, np.asarray(prompts.labels, dtype=np.int64).reshape(-1)]))
