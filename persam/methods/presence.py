"""Presence calibration: the threshold on a method's presence score, from the references alone (never the
targets). Each reference gives a positive (leave-one-out with k >= 2, else its own score: the "self" rule) and a
negative (the best match in its own image outside the object, dilated by ``presence_exclude_margin`` pixels);
the threshold is ``max(pos - margin, (pos + neg) / 2)`` and the instance threshold ``(pos' + neg) / 2``. Why,
and the data each choice was made on: docs/methods.md, "Presence"; the decision itself is the presence layer's
(:mod:`persam.methods.presence_layer`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch.nn.functional as F
from torch import Tensor

from persam.methods.protocol import EMPTY_MASK_SCORE, Shot
from persam.methods.second_opinion import SecondOpinion
from persam.methods.target import target_embedding
from persam.models.predictor import ImageEmbedding


@dataclass
class Calibration:
    """A calibrated presence threshold with the reference scores it came from (kept for provenance)."""

    threshold: float
    positives: list[float]
    negatives: list[float]
    margin: float
    rule: str  # "leave-one-out" (k >= 2) or "self" (k = 1)
    instance_threshold: float  # for instances after the first
    second_opinion: SecondOpinion | None = None  # the semantic check (persam.methods.second_opinion)

    @property
    def negative(self) -> float:
        """The highest negative: the best match in a reference's own background."""
        return max(self.negatives)

    def record(self) -> dict:
        """The calibration as plain values (the second opinion as its encoder and threshold), for run records."""
        fields = {k: v for k, v in self.__dict__.items() if k != "second_opinion"}
        opinion = self.second_opinion
        return {**fields, "second_opinion": None if opinion is None else
                {"encoder": opinion.encoder.id, "threshold": opinion.threshold, "can_veto": opinion.can_veto}}


def dilate(mask: np.ndarray, margin: int) -> np.ndarray:
    """H x W bool ``mask`` grown by ``margin`` pixels (elliptic kernel)."""
    if margin <= 0:
        return mask.copy()
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def pooled_similarity(embedding: ImageEmbedding, mask: np.ndarray, prototypes: Tensor,
                      pool: Callable[[ImageEmbedding, np.ndarray], Tensor] = target_embedding) -> float:
    """Cosine similarity between the predicted H x W mask's pooled features (C, ``pool(embedding, mask)``: pool
    as the prototypes were) and the nearest of the references' prototypes (K x C); ``EMPTY_MASK_SCORE`` for an
    empty mask."""
    if not mask.any():
        return EMPTY_MASK_SCORE
    pooled = pool(embedding, mask)
    return float(F.cosine_similarity(pooled[None], prototypes.to(pooled.device), dim=1).max())


def calibrate(shots: Sequence[Shot], fit: Callable[[list[Shot]], object],
              score: Callable[[ImageEmbedding, object, np.ndarray | None], float],
              reference: object | None = None, *, margin: float, exclude_margin: int,
              second_opinion: SecondOpinion | None = None) -> Calibration:
    """The presence threshold from the references alone (see module doc).

    fit(shots) -> a reference state; score(embedding, reference state, exclude H x W bool or None) -> the
    method's presence score; ``reference``: the state fitted on all ``shots`` (fitted here when None);
    ``second_opinion``: the semantic check that decides instead of the threshold (kept in the calibration).
    """
    if margin < 0:
        raise ValueError(f"presence_margin must be at least 0, got {margin}")
    shots = list(shots)
    full = reference if reference is not None else fit(shots)
    if len(shots) >= 2:
        positives = [score(shot.embedding, fit(shots[:i] + shots[i + 1:]), None) for i, shot in enumerate(shots)]
        rule = "leave-one-out"
    else:
        positives = [score(shots[0].embedding, full, None)]
        rule = "self"
    negatives = [score(shot.embedding, full, dilate(shot.mask, exclude_margin)) for shot in shots]
    pos, neg = min(positives), max(negatives)
    unseen = max(pos - margin, neg) if rule == "self" else pos  # module doc: the instance threshold
    return Calibration(max(pos - margin, (pos + neg) / 2), positives, negatives, margin, rule, (unseen + neg) / 2,
                       second_opinion)

