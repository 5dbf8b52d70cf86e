"""PerSAM+: a training-free PerSAM that finds whole objects made of parts, checks masks against the reference,
and mines its negative points from the similarity map.

The rule (written down before any evaluation; no setting below was chosen by its score):

0. **Rough references** (added with the robustness work, see the end). A reference mask much larger than the
   object inside it (a dilated sketch, a dragged box) is replaced by SAM's mask from its box, before anything
   is pooled; a tight or too-small mask is kept as given (:mod:`persam.methods.reference_cleanup`).
1. **Reference.** The object cells of the reference mask (PerSAM's cell-centre pooling; with several references
   each is its own, rule 10): their mean is the target embedding (as PerSAM), and their L2-normalised features are
   clustered into ``k`` parts by spherical k-means (deterministic farthest-point initialisation from the cell
   closest to the mean, 20 iterations). ``k = clip(floor(sqrt(N / 16)), 1, max_parts=5)`` for N object cells: a
   part needs about 16 cells (a 4 x 4 patch of the 64 x 64 grid) for a stable mean, and an object's part count
   grows with the square root of its area rather than with the area (bigger objects show the same parts, larger).
2. **Location priors.** The global map is the cosine similarity to every target cell of the *locator*: the
   average of the object cells' mean and their channel-wise max (PerSAM-F's mean+max embedding; revision 1,
   below); each part has its own map (similarity to the part's prototype), and the part map is their
   cell-wise maximum ("looks like some part of the object").
3. **First decoding: candidates from two prompt sets, decoded in one batched call** (multimask, 3 masks each):
   (a) PerSAM's prompts: the global map's most similar pixel (+) and least similar pixel (-), with PerSAM's
   target-guided attention from the global map and target-semantic prompting; (b) the part prompts: that
   positive point plus one positive per part at its part map's most similar pixel, the same negative, with the
   attention bias from the part map (so attention covers every part) and the same semantic prompt. A rider and
   their bike give two parts, hence two positives, and (b)'s masks can cover both.
4. **Mask-level check.** Each candidate mask is scored by the cosine similarity between its pooled features (the
   mean of the target's feature cells weighted by the mask's coverage of each cell, from the decoder's
   low-resolution logits) and the target embedding. The mean of a whole object's cells matches the mean of the
   reference's cells; a single part's mean is pulled toward that part, and a mask that leaks into the
   background is diluted by it, so the check prefers the whole object over a part and over a leak. The
   candidate with the best check is the first mask.
5. **Negative mining.** Distractors are things outside the object that look like it (another cow, another
   car). The look-alike cells are those whose global similarity is at least the median similarity of the
   first mask's own cells; a look-alike region (4-connected component) that touches the first mask is taken
   to be the object itself (a part the first mask missed is attached to it), one that does not is a
   distractor (revision 1, below). From the distractor cells, the most similar are taken greedily with
   non-maximum suppression (radius 4 cells), at most 2, and added as negative points to every refinement step.
6. **Refinement.** PerSAM's cascaded post-refinement, two steps, on the chosen set's points plus the mined
   negatives: step 1 with the first mask's logits as the mask prompt, step 2 also with its box; each step keeps
   SAM's best-IoU mask (refinement sharpens the boundary of the chosen object, which the 64 x 64 check cannot
   see) unless it is empty.
7. **Presence score.** The mask-level check of the final mask (cosine similarity of its pooled features to the
   target embedding; -1 for an empty mask): it asks whether what was segmented looks like the reference, the
   question presence needs. SAM's predicted IoU rates a mask's quality, not its identity (a crisp mask of the
   wrong object scores high), and the maximum similarity is one cell, which a single look-alike patch can win.
8. **Video.** Extra points from a tracker are appended to every prompt set and refinement step, and its box
   is given to the first decoding and the refinement boxes start at step 1, as PerSAM's video procedure does.
9. **Several instances** (``max_instances`` > 1, added with the several-instances protocol, after the rule
   above was evaluated). The loop of :mod:`persam.methods.instances` suppresses each found instance in every
   map. Rule 3's part peaks are then sought only in the global map's blob at half maximum around its peak
   (:func:`peak_region`), and the target-guided attention is restricted to that blob: with two copies of the
   object in view, the part maps peak on either copy and the attention covers both, and SAM then makes one
   mask of two instances (the bundled cat and its pasted copy did). For the same reason the first mask keeps
   only its connected pieces that touch the blob (:func:`peak_components`) before refinement, whose box would
   otherwise span both copies. With one instance, the blob is that instance, so single-instance images keep
   the parts, attention and mask that lie on it.

10. **Several references** (added with the few-shot work). Each reference photo is its own one-shot PerSAM+
   (rules 0-9 on that photo alone: its cells, parts, locator and check), and the k predictions of a target are
   combined by a soft vote (:func:`persam.methods.multi_reference.soft_vote`: the mask where their mean mask
   probability exceeds one half; the presence score is their mean). Why not pool the references, as rule 1
   first did: views of one object differ and some are poor (the object small, cut by the frame or behind a
   fence), and pooling let one poor view move every prototype, the locator and the check for all targets;
   pooled, PerSAM+ lost 7 points from k = 1 to k = 3 on davis_fewshot. A vote lets a poor view dissent once.
   The data this was decided on, all davis_fewshot (the development set; davis16_fewshot is the check), said
   here as it must be: two pooled designs were measured first and dropped (the best match over the
   references' maps with the check against the closest view: k = 1, 2, 3 = 87.07, 86.68, 83.96; one PerSAM
   prompt set per reference's map with the check against all cells: k = 3 86.0); and the one-shot predictions
   of the extra references r1 and r2 alone score 80.8 and 80.6 against reference 00's 87.1, so that even an
   oracle choosing the best of the three predictions per target reaches only 88.6: on this set extra views can
   protect against a poor view more than they can add. The vote gave 87.4 at k = 3, as did a hard majority;
   averaging logits gave 87.0 and keeping the best-scoring member 87.2.
   k voters cost k decodings per target (the embeddings are shared); with k = 1 nothing changes.

Revision 1 (the one revision allowed, made after the first evaluation on davis_perseg; the first rule's
numbers are in the report that introduced this method). Two failures of the first rule, each a failure mode:

* *Location on small objects* (drift-chicane, drift-straight, libby: 12-76 object cells). The first rule located
  the object with the cells' mean, as PerSAM; on a small object most cells straddle its boundary, so their mean
  is dominated by the surrounding road or floor and its most similar target cell fell on look-alike background
  (4 of 65 targets had their top point outside the object). The channel-wise max keeps what is strong anywhere
  in the object, whatever part or cell it comes from, so the mean+max locator (PerSAM-F's embedding) points to
  the object where the mean points to the context. The mask-level check and presence score keep the mean: they
  compare a mask's mean with the reference's, like with like.
* *Negatives on the object's own parts* (parkour: a person whose first mask was a part). The first rule's
  distractors were look-alike cells outside the first mask's box enlarged by 10%; when the first mask is only a
  part, the missed parts lie outside that box and became negatives, cutting the object. Connectivity, not
  distance, tells a missed part (attached to the object through look-alike cells) from a distractor (separated
  from it by background), so the box margin is replaced by the connected-component test of rule 5.

A default chosen by its score, not by the rule (said here as it must be): with revision 1, rule 5's mined
negatives still cut objects on davis_perseg (parkour 93.9 -> 71.2, drift-chicane 92.3 -> 71.5, breakdance 73.3
-> 68.7 IoU; mIoU 87.16 without them, 83.71 with them) and helped one (drift-straight 85.2 -> 88.0). So
``mine_negatives`` is off by default (rules 1-4 and 6-8 then run as written, with PerSAM's single least
similar pixel as the only negative) and rule 5 stays available for the multi-instance search, where the
found instances, not look-alike guesses, are what must be suppressed. This choice was made on the visible
set; it is the one setting here that was.

Rule 0 (``reference_cleanup``, on by default), and the data each of its choices was made on. Before it, a
dilated reference sank PerSAM+ (Table 4, PerSeg dilate75: 55.66 against PerSAM's 94.51), because every rule
above pools the mask's cells, background included, while PerSAM's single positive point survives it. The rule
and its two round thresholds were written down before measuring; its one revision (the box alone instead of the
box and an interior point) came from its first measurement, PerSeg's cat with a box reference (see
:mod:`persam.methods.reference_cleanup`). It was then measured on davis_perseg (the development set: dilate75
13.97 -> 76.93, dilate95 10.26 -> 74.04, box 83.83, every clean and eroded reference kept as given, so those
columns did not move) and switched on; davis16_perseg, on which nothing here was chosen, is the check, reported
as it came in Table 4. Hidden sets will check the rest.
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
            reference.presence = calibrate(shots, self._fit, self._score_on, reference, cfg.presence_margin)
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
                               cfg.presence, cfg.max_instances, prompts)

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
        semantic = reference.embedding.reshape(1, 1, -1)
        guidance = [Guidance(attention_bias(embedding, attended), semantic),
                    Guidance(attention_bias(embedding, part_map), semantic)]
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
