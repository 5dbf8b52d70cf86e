"""The method protocol: what every method (PerSAM, PerSAM-F, the baselines, P2SAM, a researcher's own) offers.

A method is a class built by ``hydra.utils.instantiate`` from ``persam/conf/method/<name>.yaml``::

    _target_: my_pkg.MyMethod      # the class
    name: my_method                # row name in tables (taken by the builder, not passed to the class)
    label: My method               # row label in tables (likewise)
    video: {...}                   # optional: the video procedure's settings (likewise; see persam.methods.video)
    some_setting: 3                # every other key is a keyword argument of the class

and called as ``MyMethod(predictor, **settings)``. Its interface:

* ``fit(references, prompts=None)`` -> a reference state (any object the method understands), from one or
  more :class:`Shot` (the reference image's embedding and its H x W boolean mask); ``prompts`` are a
  tracker's prompts on the reference frame, for methods that fit on their own decoding (PerSAM-F);
* ``predict(embedding, reference, gt=None, prompts=None)`` -> :class:`Prediction` for a target image;
  ``gt`` (the target's H x W ground truth) is passed only when ``needs_ground_truth`` is true (oracles);
  ``prompts`` (:class:`Prompts`) are extra prompts from a tracker;
* ``needs_ground_truth``: true for oracles, which read the answer;
* ``supports_video``: whether the video tracker may call it (it must then accept ``prompts``).

:class:`Method` is the base class with those defaults; subclassing it is optional (duck typing is enough).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor

from persam.models.predictor import GuidedPredictor, ImageEmbedding

EMPTY_MASK_SCORE = -1.0  # the score of an empty mask: below every cosine similarity a mask can have


@dataclass
class Shot:
    """One reference: its image's embedding and the object's H x W boolean mask in that image."""

    embedding: ImageEmbedding
    mask: np.ndarray


@dataclass
class Prompts:
    """Prompts given besides a method's own (video: the previous frame's box and its centre).

    points: N x 2 XY pixels with labels (N, 1 = positive), appended after the method's points and used by
    every decoding; box: XYXY pixels, used by the first decoding (refinement boxes come from the masks).
    exclude: H x W bool, a region the method must not prompt in (the instances already found, see
    :mod:`persam.methods.presence_layer`); a method that cannot honour it ignores it.
    one_of_several: the presence layer looks for several instances, so the answer should be one of them (a method
    may ignore it).
    """

    points: np.ndarray | None = None
    labels: np.ndarray | None = None
    box: np.ndarray | None = None
    exclude: np.ndarray | None = None
    one_of_several: bool = False


@dataclass
class Prediction:
    """A method's answer for one target image.

    mask: H x W bool, the object (the union of the instances when there are several).
    point_coords / point_labels: the point prompts that produced it (N x 2 XY pixels; N, 1 positive / 0 negative).
    score: the presence score (higher = more likely present; NaN where the method has none).
    present: False when the method decided the object is absent (then ``mask`` is empty).
    instances: H x W uint8 label map (0 background, 1..n) when the method looked for several instances.
    logits: H x W logits of the final mask (mask = logits > 0), where the method has them (video competition).
    decision: how the presence layer decided (:class:`PresenceDecision`; None where it checked nothing).
    extra: anything else worth keeping, for people, never read as a decision (e.g. the chosen part count).
    """

    mask: np.ndarray
    point_coords: np.ndarray
    point_labels: np.ndarray
    score: float = float("nan")
    present: bool = True
    instances: np.ndarray | None = None
    logits: Tensor | None = None
    decision: PresenceDecision | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def empty(cls, size: tuple[int, int], score: float = float("nan"), decision: PresenceDecision | None = None,
              **extra: Any) -> Prediction:
        """An absent object: an empty H x W mask and no prompts."""
        return cls(np.zeros(size, dtype=bool), np.zeros((0, 2)), np.zeros(0, dtype=np.int64), score=score,
                   present=False, decision=decision, extra=dict(extra))


@dataclass(frozen=True)
class PresenceDecision:
    """The presence layer's decision on one prediction (:mod:`persam.methods.presence_layer`).

    present: the layer's answer. threshold: SAM's calibrated threshold where SAM's score decided (None: it did
    not). semantic / semantic_threshold: the second opinion's similarity and threshold where it was asked.
    deferred: the second opinion refused but has no veto, so SAM's threshold decided. unchecked: the prediction the
    method gave before an absent decision emptied it (None when present).
    """

    present: bool
    threshold: float | None = None
    semantic: float | None = None
    semantic_threshold: float | None = None
    deferred: bool = False
    unchecked: Prediction | None = None


class Method:
    """Defaults of the protocol; subclasses implement ``fit`` and ``predict``."""

    needs_ground_truth: bool = False
    supports_video: bool = False

    def __init__(self, predictor: GuidedPredictor) -> None:
        self.predictor = predictor

    def fit(self, references: Sequence[Shot], prompts: Prompts | None = None) -> Any:
        raise NotImplementedError

    def predict(self, embedding: ImageEmbedding, reference: Any, gt: np.ndarray | None = None,
                prompts: Prompts | None = None) -> Prediction:
        raise NotImplementedError


def as_shots(references: Shot | Sequence[Shot]) -> list[Shot]:
    """``references`` as a non-empty list of shots whose masks match their images (clear errors otherwise)."""
    shots = [references] if isinstance(references, Shot) else list(references)
    if not shots:
        raise ValueError("fit needs at least one reference (image embedding and mask)")
    for i, shot in enumerate(shots):
        h, w = shot.embedding.original_size
        if tuple(shot.mask.shape) != (h, w):
            raise ValueError(f"reference {i}: mask is {shot.mask.shape[1]}x{shot.mask.shape[0]} but its image "
                             f"is {w}x{h}")
    return shots
