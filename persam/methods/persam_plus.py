"""PerSAM+: a training-free PerSAM that checks masks against the reference.

The rules, by the numbers the code refers to (their definitions, revisions and the data behind each choice:
docs/methods.md, "PerSAM+ design record"; every number is a field of :class:`PerSAMPlusConfig`): 0 rough
references cleaned up (:mod:`persam.methods.reference_cleanup`); 4 the mask-level check; 6 PerSAM's refinement;
7 the presence score (rule 4's check of the final mask); 8 video (a tracker's prompts appended); 9 several
instances (the first mask kept to the global map's peak); 10 several references (pooled: one reference from all
their object cells). Rules 1-3 (part prompts, the mean+max locator, PerSAM's decoder guidance), rule 5 (negative
mining), rule 10's vote and rule 11 (the semantic pick) were removed by the ablation (docs/methods.md, "PerSAM+
ablation"). Presence and further instances are the presence layer's (:mod:`persam.methods.presence_layer`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from persam.methods.grid import (
    LOGITS_PER_CELL,
    cell_coverage,
    suppress_region,
    valid_cells,
)
from persam.methods.location_prior import select_points, similarity_grid, similarity_image
from persam.methods.presence import Calibration
from persam.methods.presence_layer import CheckedMethod
from persam.methods.presence_settings import PresenceSettings
from persam.methods.protocol import EMPTY_MASK_SCORE, Prediction, Prompts, Shot
from persam.methods.reference_cleanup import clean_reference
from persam.methods.refinement import Stage, refine
from persam.methods.target import CENTER_THRESHOLD, pool, reference_cells
from persam.models.predictor import GuidedPredictor, ImageEmbedding


@dataclass
class PlusReference:
    """What PerSAM+ keeps from its K reference photos, pooled (rule 10). embedding: C, the mean of their object
    cells (the global map's locator, the mask-level check's target); cells: N, their object cells; presence: the
    presence layer's calibration."""

    embedding: Tensor
    cells: int
    presence: Calibration | None = None


def mask_check(embedding: ImageEmbedding, low_res: Tensor, target: Tensor) -> Tensor:
    """Cosine similarity of each mask's pooled features to ``target`` (rule 4): low_res B x 256 x 256 logits,
    target C; returns B values, ``EMPTY_MASK_SCORE`` for an empty mask."""
    coverage = cell_coverage(low_res)
    feats = embedding.features[0]  # C x 64 x 64
    area = coverage.flatten(1).sum(1)
    pooled = torch.einsum("bhw,chw->bc", coverage, feats) / area.clamp(min=1e-6)[:, None]
    cosine = F.cosine_similarity(pooled, target[None].to(pooled), dim=1)
    return torch.where(area > 0, cosine, torch.full_like(cosine, EMPTY_MASK_SCORE))


def peak_region(grid: Tensor, valid: Tensor, level: float) -> Tensor:
    """64 x 64 boolean map: the 4-connected region around the ``grid``'s maximum of the valid cells at least
    ``level`` of the way from the valid cells' mean to that maximum (at 0.5, the blob at half maximum; rule 9)."""
    mean, peak = grid[valid].mean(), grid[valid].max()
    level = (1 - level) * mean + level * peak
    above = (valid & (grid >= level)).cpu().numpy().astype(np.uint8)
    _, regions = cv2.connectedComponents(above, connectivity=4)
    peak = divmod(int(torch.where(valid, grid, torch.full_like(grid, -torch.inf)).argmax()), grid.shape[1])
    return torch.from_numpy(regions == regions[peak]).to(grid.device)


def peak_components(low_res: Tensor, region: Tensor, floor: float) -> Tensor:
    """1 x 256 x 256 logits with the mask's 8-connected pieces that touch no cell of the 64 x 64 ``region``
    capped at ``floor`` (below zero: rule 9, one instance is the piece around its peak)."""
    mask = (low_res[0] > 0).cpu().numpy().astype(np.uint8)
    _, pieces = cv2.connectedComponents(mask, connectivity=8)
    near = region.repeat_interleave(LOGITS_PER_CELL, 0).repeat_interleave(LOGITS_PER_CELL, 1).cpu().numpy()
    kept = np.isin(pieces, np.unique(pieces[near & (mask > 0)]))
    keep = torch.from_numpy(kept & (mask > 0)).to(low_res.device)
    return torch.where(keep, low_res, torch.minimum(low_res, torch.full_like(low_res, floor)))


@dataclass
class PerSAMPlusConfig(PresenceSettings):
    """PerSAM+'s settings (the presence layer's are inherited: :class:`PresenceSettings`, on rule 7's score). Each
    number's rule and the data it was chosen on: docs/methods.md, "PerSAM+ design record"."""

    # A reference cell is the object's where the mask's centre sample exceeds this (PerSAM's, 123.675/128).
    center_threshold: float = CENTER_THRESHOLD
    # Rule 4: the first mask is the candidate whose pooled features best match the reference (off: SAM's IoU).
    mask_check: bool = True
    # Rule 6: PerSAM's cascaded post-refinement steps: 0, 1 or 2.
    refinement_steps: int = 2
    # Rule 9: one of several instances sought: the first mask kept to the global map's blob around its peak.
    instance_focus: bool = True
    # Rule 9: the blob around the peak lies this far from the mean to the maximum (half maximum).
    peak_level: float = 0.5
    # Rule 9: the logits of the first mask's pieces away from the blob are capped here (below zero: dropped).
    dropped_piece_logit: float = -1.0
    # Rule 0: a rough mask's object replaced by SAM's from its box; thresholds round, written before measuring.
    reference_cleanup: bool = True
    cleanup_inside: float = 0.9  # SAM's mask lies inside the given one when this fraction of it is
    cleanup_tight: float = 0.8  # ... and the mask is rough when SAM's covers less than this fraction of it
    # Rule 7: the presence score is the final mask's mask-level check (off: SAM's predicted IoU of it).
    presence_check: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.refinement_steps not in (0, 1, 2):
            raise ValueError(f"refinement_steps must be 0, 1 or 2, got {self.refinement_steps}")


class PerSAMPlus(CheckedMethod):
    """PerSAM+ (the rules: docs/methods.md, "PerSAM+ design record"), configured by :class:`PerSAMPlusConfig`."""

    supports_video = True
    settings_class = PerSAMPlusConfig

    def __init__(self, predictor: GuidedPredictor, **settings) -> None:
        super().__init__(predictor)
        self.config = PerSAMPlusConfig(**settings)

    # -- reference ------------------------------------------------------------------------------------
    def prepare_references(self, shots: list[Shot]) -> list[Shot]:
        """Rule 0: a rough mask's object, before anything is pooled."""
        cfg = self.config
        if not cfg.reference_cleanup:
            return shots
        return [clean_reference(self.predictor, shot, cfg.cleanup_inside, cfg.cleanup_tight) for shot in shots]

    def fit_state(self, shots: list[Shot], prompts: Prompts | None = None) -> PlusReference:
        """The target embedding: the mean of the object cells of every reference together (rule 10); ``prompts``
        (a tracker's, on the reference frame) are not needed: nothing is fitted on a decoding."""
        cells = torch.cat([reference_cells(shot.embedding, shot.mask, "center",
                                           center_threshold=self.config.center_threshold) for shot in shots])
        return PlusReference(pool(cells, "mean"), len(cells))

    # -- location prior -------------------------------------------------------------------------------
    def similarity_map(self, embedding: ImageEmbedding, reference: PlusReference,
                       exclude: np.ndarray | None = None) -> Tensor:
        """64 x 64 global map: cosine similarity of every target cell to the target embedding, with the
        ``exclude`` region (H x W bool: found instances, a reference's own object) suppressed."""
        return suppress_region(similarity_grid(embedding, reference.embedding), embedding, exclude)

    def most_similar_point(self, embedding: ImageEmbedding, reference: PlusReference) -> np.ndarray:
        """XY pixel of the global map's maximum: the first positive point a prediction uses (video reacquire)."""
        grid = self.similarity_map(embedding, reference)
        return select_points(similarity_image(self.predictor.model, embedding, grid), 1, negative=False)[0][0]

    # -- targets --------------------------------------------------------------------------------------
    def candidate(self, embedding: ImageEmbedding, reference: PlusReference,
                  prompts: Prompts | None) -> Prediction:
        """The object's mask in a target image with its presence score (``prompts`` are appended, rule 8)."""
        cfg = self.config
        self.predictor.set_embedding(embedding)
        grid = self.similarity_map(embedding, reference, prompts.exclude if prompts is not None else None)
        coords, labels = _append(*select_points(similarity_image(self.predictor.model, embedding, grid), 1,
                                                negative=True), prompts)
        box = prompts.box if prompts is not None else None
        out = self.predictor.decode(coords, labels, box=box, multimask=True)
        checks = mask_check(embedding, out.low_res_logits, reference.embedding)
        pick = int((checks if cfg.mask_check else out.iou).argmax())
        stage = Stage.of(out, pick)
        if prompts is not None and prompts.one_of_several and cfg.instance_focus:
            # rule 9: the pieces of the first mask away from the peak's blob are another instance
            region = peak_region(grid, valid_cells(embedding), cfg.peak_level)
            low = peak_components(stage.low_res, region, cfg.dropped_piece_logit)
            upscale = self.predictor.upscaler(embedding.input_size, embedding.original_size)
            stage = Stage(lambda: upscale(low[None])[0, 0], low, stage.iou)
        # With a tracker's box the first mask is already boxed in: refine with its box from step 1, as PerSAM's
        # video procedure does (a box-centre point can fall off a curved object, and unboxed it leaks).
        stage = refine(self.predictor, stage, coords, labels, cfg.refinement_steps,
                       box_from_first_step=box is not None)
        score = self.presence_score(embedding, stage.low_res, reference) if cfg.presence_check else stage.iou
        return Prediction(stage.mask.cpu().numpy(), coords, labels, score=score, logits=stage.logits)

    def presence_score(self, embedding: ImageEmbedding, low_res: Tensor, reference: PlusReference) -> float:
        """Presence score of a mask given by its 1 x 256 x 256 logits: its mask-level check (rule 7)."""
        return float(mask_check(embedding, low_res, reference.embedding)[0])


def _append(coords: np.ndarray, labels: np.ndarray, prompts: Prompts | None) -> tuple[np.ndarray, np.ndarray]:
    """A prompt set with a tracker's extra points appended (rule 8)."""
    if prompts is None or prompts.points is None or not len(prompts.points):
        return coords, labels
    return (np.concatenate([coords, np.asarray(prompts.points, dtype=np.float64).reshape(-1, 2)]),
            np.concatenate([labels, np.asarray(prompts.labels, dtype=np.int64).reshape(-1)]))
