"""Presence: is the object in this image at all? A threshold on a method's presence score, calibrated on the
references alone (never on the targets), and the decision that empties the mask below it.

Calibration (:func:`calibrate`) works for any method that gives ``Prediction.score`` and honours
``Prompts.exclude`` (see :mod:`persam.methods.instances`). It scores the references themselves:

* a **positive** per reference: with k >= 2, leave-one-out (fit on the other k - 1 references, predict this
  one: an unseen photo of the object, what a target is); with k = 1 there is no other photo, so the
  reference's score against itself, which is optimistic (the target embedding came from those very features);
* a **negative** per reference: the best match in the reference image *outside* the object (the object's
  region, dilated by ``EXCLUDE_MARGIN`` pixels, excluded from the location prior): the background a photo
  was taken against is the one sure "not the object" a user supplies.

The threshold is ``margin`` below the lowest positive, but never below the midpoint between the lowest
positive and the highest negative: ``max(pos - margin, (pos + neg) / 2)``. With a second opinion
(:mod:`persam.methods.second_opinion`, which tells other objects apart) that one decides instead.

Why a margin below the positives rather than a point between positives and negatives: an object's own
background is a far easier negative than another object (on PerSeg and davis_perseg the background's best
match scores 0.3-0.85 where other objects' targets reach 0.9-0.98, see the README's presence section), so the
gap to the background says little about where other objects fall; the positives do say where the object falls,
and the margin is the spread of an unseen view around them. The midpoint guards a reference whose background
looks like the object. ``margin`` is a method setting (``presence_margin``, default ``DEFAULT_MARGIN``, in
units of the score: cosine similarity); its default was chosen on the PerSeg subset (3 objects, cross
negatives), never on the targets of davis_perseg, where the presence protocol measures it.

A second threshold serves the several-instances loop (``instance_threshold``): the midpoint between an unseen
view's score and the negative, ``(pos' + neg) / 2``. A further instance is sought only in an image where the object
was already found, so its competitors are that image's other regions, which the reference's background stands
for, not other objects; and a second copy is often smaller or partly hidden, which lowers its pooled similarity
(the bundled cat pasted at half size scores 0.84 against its reference, the unmodified cat 0.97, the best non-cat
region of the unmodified photo 0.52). ``pos'`` is the lowest positive, except under the "self" rule, whose
positive is optimistic: there it is ``pos - margin`` (the same correction the presence threshold makes, never
below ``neg``). The plain midpoint of the self score was seen to refuse true copies just under it (car-roundabout's
second car 0.857-0.907 against 0.911, on the davis composites, the development set); davis16's composites, held
out, checked the correction (PerSAM+ with the presence check: recall 65.3% to 69.4% at the same precision; every
method's mIoU of the union better, its single-instance photos unchanged). Its cost, on the development set: a
look-alike of the same kind (camel's other camel, breakdance's other dancers) is taken for a copy more often
(PerSAM-F's single-instance mIoU 86.4 to 80.3, worse by the paired verdict; PerSAM+'s no detectable difference).

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
from persam.methods.second_opinion import SecondOpinion
from persam.methods.target import target_embedding
from persam.models.predictor import ImageEmbedding

EXCLUDE_MARGIN = 16  # pixels around the reference object kept out of the background negative
DEFAULT_MARGIN = 0.05


@dataclass
class Calibration:
    """A calibrated presence threshold with the reference scores it came from (kept for provenance)."""

    threshold: float
    positives: list[float]
    negatives: list[float]
    margin: float
    rule: str  # "leave-one-out" (k >= 2) or "self" (k = 1)
    instance_threshold: float  # for instances after the first (persam.methods.instances)
    second_opinion: SecondOpinion | None = None  # the semantic check (persam.methods.second_opinion)

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
    as the prototypes were) and the nearest of the references' prototypes (K x C); -1 for an empty mask."""
    if not mask.any():
        return -1.0
    pooled = pool(embedding, mask)
    return float(F.cosine_similarity(pooled[None], prototypes.to(pooled.device), dim=1).max())


def calibrate(shots: Sequence[Shot], fit: Callable[[list[Shot]], object],
              score: Callable[[ImageEmbedding, object, np.ndarray | None], float],
              reference: object | None = None, margin: float = DEFAULT_MARGIN,
              exclude_margin: int = EXCLUDE_MARGIN, second_opinion: SecondOpinion | None = None) -> Calibration:
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


def decide(prediction: Prediction, threshold: float | None) -> Prediction:
    """The prediction, or an empty one (same score, ``present`` False) when its score is below ``threshold``;
    no threshold (presence off) keeps every mask. The empty one keeps the prediction it replaced in
    ``extra["unchecked"]`` (what the method would have answered without the check)."""
    if threshold is None or prediction.score >= threshold or not prediction.present:
        return prediction  # kept, or already absent (the second opinion said so first)
    return Prediction.empty(prediction.mask.shape, score=prediction.score, **prediction.extra,
                            threshold=threshold, unchecked=prediction)
