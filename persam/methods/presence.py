"""Presence: is the object in this image at all? A threshold on a method's presence score, calibrated on the
references alone (never on the targets), and the decision that empties the mask below it.

Calibration (:func:`calibrate`) works for any method that gives ``Prediction.score`` and honours
``Prompts.exclude`` (see :mod:`persam.methods.instances`). It scores the references themselves:

* a **positive** per reference: with k >= 2, leave-one-out (fit on the other k - 1 references, predict this
  one: an unseen photo of the object, what a target is); with k = 1 there is no other photo, so the
  reference's score against itself, which is optimistic (the target embedding came from those very features);
* a **negative** per reference: the best match in the reference image *outside* the object (the object's
  region, dilated by ``EXCLUDE_MARGIN`` pixels, excluded from the location prior). The background a photo
  was taken against is the one sure "not the object" a user supplies, and its best match is the hardest
  distractor that photo holds, so it errs towards a high threshold rather than a low one.

The threshold lies between the two: ``neg + fraction * (pos - neg)``, with ``neg`` the highest negative and
``pos`` the lowest positive (robust to one outlying reference in the safe direction: the closest pair of
positive and negative sets the gap). ``fraction`` is a method setting (``presence_fraction``); its default
was chosen on PerSeg, not on the targets of the protocol that measures it (see the README's presence section).
Why not inpaint the object away and re-encode? It needs the reference pixels (a :class:`Shot` carries only the
embedding), a second encoder pass, and an inpainting model's own artefacts become what "absent" looks like.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch.nn.functional as F
from torch import Tensor

from persam.methods.protocol import Prediction, Shot
from persam.methods.target import target_embedding
from persam.models.predictor import ImageEmbedding

EXCLUDE_MARGIN = 16  # pixels around the reference object kept out of the background negative
DEFAULT_FRACTION = 0.5


@dataclass
class Calibration:
    """A calibrated presence threshold with the reference scores it came from (kept for provenance)."""

    threshold: float
    positives: list[float]
    negatives: list[float]
    fraction: float
    rule: str  # "leave-one-out" (k >= 2) or "self" (k = 1)


def dilate(mask: np.ndarray, margin: int) -> np.ndarray:
    """H x W bool ``mask`` grown by ``margin`` pixels (elliptic kernel)."""
    if margin <= 0:
        return mask.copy()
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def pooled_similarity(embedding: ImageEmbedding, mask: np.ndarray, prototypes: Tensor) -> float:
    """Cosine similarity between the predicted mask's pooled features (C, as the target embedding is pooled)
    and the nearest of the references' prototypes (K x C); -1 for an empty mask."""
    if not mask.any():
        return -1.0
    pooled = target_embedding(embedding, mask)
    return float(F.cosine_similarity(pooled[None], prototypes.to(pooled.device), dim=1).max())


def calibrate(shots: Sequence[Shot], fit: Callable[[list[Shot]], object],
              score: Callable[[ImageEmbedding, object, np.ndarray | None], float],
              reference: object | None = None, fraction: float = DEFAULT_FRACTION,
              margin: int = EXCLUDE_MARGIN) -> Calibration:
    """The presence threshold from the references alone (see module doc).

    fit(shots) -> a reference state; score(embedding, reference state, exclude H x W bool or None) -> the
    method's presence score; ``reference``: the state fitted on all ``shots`` (fitted here when None).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"presence_fraction must be in [0, 1], got {fraction}")
    shots = list(shots)
    full = reference if reference is not None else fit(shots)
    if len(shots) >= 2:
        positives = [score(shot.embedding, fit(shots[:i] + shots[i + 1:]), None) for i, shot in enumerate(shots)]
        rule = "leave-one-out"
    else:
        positives = [score(shots[0].embedding, full, None)]
        rule = "self"
    negatives = [score(shot.embedding, full, dilate(shot.mask, margin)) for shot in shots]
    pos, neg = min(positives), max(negatives)
    return Calibration(neg + fraction * (pos - neg), positives, negatives, fraction, rule)


def decide(prediction: Prediction, threshold: float | None) -> Prediction:
    """The prediction, or an empty one (same score, ``present`` False) when its score is below ``threshold``;
    no threshold (presence off) keeps every mask. The empty one keeps the prediction it replaced in
    ``extra["unchecked"]`` (what the method would have answered without the check)."""
    if threshold is None or prediction.score >= threshold:
        return prediction
    return Prediction.empty(prediction.mask.shape, score=prediction.score, **prediction.extra,
                            threshold=threshold, unchecked=prediction)
