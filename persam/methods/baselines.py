"""Baselines shown beside PerSAM, so a reader sees the headroom.

* ``similarity_threshold``: no SAM decoder at all. The location prior (cosine similarity of the target
  embedding, brought to image size) is thresholded; the threshold is the one that best reproduces the
  reference mask on the reference image (one-shot calibration, 101 candidates between the map's extremes).
* ``oracle_box``: SAM prompted with the ground-truth box of the target (plus SAM's best of three masks):
  an upper bound for point-prompted methods, not a method (it reads the answer's extent).

The single-most-similar-point baseline (SAM with the positive prior only) is PerSAM with every other switch
off: ``method=ablation_pos`` (Table 3's first row).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from persam.methods.location_prior import similarity_grid, similarity_image
from persam.methods.protocol import Method, Prediction, Prompts, Shot, as_shots
from persam.methods.refinement import box_from_mask
from persam.methods.target import target_embedding
from persam.models.predictor import GuidedPredictor, ImageEmbedding


@dataclass
class SimilarityThresholdConfig:
    mask_pooling: str = "area"
    embedding_pooling: str = "mean"
    candidates: int = 101  # thresholds tried by the similarity baseline


@dataclass
class ThresholdReference:
    """The similarity baseline's reference: the target embedding (C) and the calibrated threshold."""

    embedding: Tensor
    threshold: float


class SimilarityThreshold(Method):
    """The location prior alone, thresholded at the reference's best-IoU threshold."""

    settings_class = SimilarityThresholdConfig

    def __init__(self, predictor: GuidedPredictor, **settings) -> None:
        super().__init__(predictor)
        self.config = SimilarityThresholdConfig(**settings)

    def _similarity(self, embedding: ImageEmbedding, target: Tensor) -> Tensor:
        return similarity_image(self.predictor.model, embedding, similarity_grid(embedding, target))

    def fit(self, references: Shot | list[Shot], prompts: Prompts | None = None) -> ThresholdReference:
        """Target embedding and threshold from the first reference (the baseline is one-shot)."""
        shot = as_shots(references)[0]
        embedding, mask = shot.embedding, shot.mask
        target = target_embedding(embedding, mask, self.config.mask_pooling, self.config.embedding_pooling)
        similarity = self._similarity(embedding, target)
        gt = torch.as_tensor(mask, device=similarity.device)
        candidates = torch.linspace(float(similarity.min()), float(similarity.max()), self.config.candidates)
        best, best_iou = float(candidates[0]), -1.0
        for threshold in candidates.tolist():
            pred = similarity > threshold
            union = int((pred | gt).sum())
            iou = int((pred & gt).sum()) / union if union else 0.0
            if iou > best_iou:
                best, best_iou = threshold, iou
        return ThresholdReference(target, best)

    def predict(self, embedding: ImageEmbedding, reference: ThresholdReference, gt: np.ndarray | None = None,
                prompts: Prompts | None = None) -> Prediction:
        similarity = self._similarity(embedding, reference.embedding)
        empty = np.zeros((0, 2))
        return Prediction((similarity > reference.threshold).cpu().numpy(), empty, np.zeros(0, dtype=np.int64))


class OracleBox(Method):
    """SAM given the ground-truth box: an upper bound, never a method. It learns nothing from the reference."""

    needs_ground_truth = True

    def fit(self, references: Shot | list[Shot], prompts: Prompts | None = None) -> None:
        as_shots(references)  # the same checks as every method; nothing to keep
        return None

    def predict(self, embedding: ImageEmbedding, reference: None, gt: np.ndarray | None = None,
                prompts: Prompts | None = None) -> Prediction:
        if gt is None:
            raise ValueError("the oracle-box baseline needs the target's ground-truth mask")
        box = box_from_mask(torch.as_tensor(gt))
        if box is None:  # nothing to find: predict nothing
            return Prediction(np.zeros_like(gt, dtype=bool), np.zeros((0, 2)), np.zeros(0, dtype=np.int64))
        self.predictor.set_embedding(embedding)
        out = self.predictor.decode(box=box, multimask=True)
        mask = (out.logits[out.best()] > 0).cpu().numpy()
        return Prediction(mask, np.zeros((0, 2)), np.zeros(0, dtype=np.int64), extra={"box": box.tolist()})
