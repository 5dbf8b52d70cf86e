"""The presence and instances layer: one decision of "is the object here, and how many times", the same for every
method under it.

A method under the layer (:class:`CheckedMethod`) gives its reference state (``fit_state``) and, for a target,
its one candidate with a presence score (``candidate``, honouring ``Prompts.exclude``); the layer, configured by
:class:`~persam.methods.presence_settings.PresenceSettings`:

* on ``fit``, when presence or several instances need it, calibrates the thresholds on the references
  (:func:`persam.methods.presence.calibrate`) and fits the second opinion (:mod:`persam.methods.second_opinion`),
  kept as the state's ``presence``;
* on ``predict``, decides presence: with a second opinion, its similarity decides (SAM's calibrated threshold
  when it refuses without a veto); without, SAM's threshold; an absent object gets an empty mask;
* looks for further instances when ``max_instances`` > 1 (:func:`persam.methods.instances.find_instances`), each
  decided as the first is, presence on or off: by the second opinion where it consents (above the calibration's
  negative), else by SAM's instance threshold.

Every decision is typed (:class:`persam.methods.protocol.PresenceDecision` on ``Prediction.decision``). Why each
rule and number: docs/methods.md, "Presence".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from persam.methods.instances import find_instances
from persam.methods.presence import Calibration, calibrate
from persam.methods.presence_settings import PresenceSettings
from persam.methods.protocol import Method, Prediction, PresenceDecision, Prompts, Shot, as_shots
from persam.methods.second_opinion import SecondOpinion, second_opinion
from persam.models.predictor import ImageEmbedding


class CheckedMethod(Method):
    """A method under the presence and instances layer: subclasses give ``fit_state`` and ``candidate`` (and may
    prepare the references, ``prepare_references``); ``config`` is a :class:`PresenceSettings` (or a subclass)."""

    config: PresenceSettings

    def prepare_references(self, shots: list[Shot]) -> list[Shot]:
        """The references as the method fits on them (default: as given)."""
        return shots

    def fit_state(self, shots: list[Shot], prompts: Prompts | None) -> Any:
        """The method's reference state (with a ``presence`` attribute the layer fills) from ``shots``."""
        raise NotImplementedError

    def candidate(self, embedding: ImageEmbedding, state: Any, prompts: Prompts | None) -> Prediction:
        """The method's one prediction with its presence score, outside ``prompts.exclude``."""
        raise NotImplementedError

    def fit(self, references: Shot | Sequence[Shot], prompts: Prompts | None = None) -> Any:
        """The method's state from the references, calibrated when presence or several instances need it."""
        cfg = self.config
        shots = self.prepare_references(as_shots(references))
        state = self.fit_state(shots, prompts)
        if cfg.presence or cfg.max_instances > 1:
            opinion = second_opinion(cfg, shots, self.predictor.device)
            state.presence = calibrate(shots, lambda subset: self.fit_state(subset, prompts), self._score_on, state,
                                       margin=cfg.presence_margin, exclude_margin=cfg.presence_exclude_margin,
                                       second_opinion=opinion)
        return state

    def _ask(self, embedding: ImageEmbedding, state: Any, prompts: Prompts | None) -> Prediction:
        """The method's candidate, told when it is one of several instances sought."""
        if self.config.max_instances > 1:
            prompts = dataclasses.replace(prompts or Prompts(), one_of_several=True)
        return self.candidate(embedding, state, prompts)

    def _score_on(self, embedding: ImageEmbedding, state: Any, exclude: np.ndarray | None) -> float:
        return self._ask(embedding, state, Prompts(exclude=exclude)).score

    def predict(self, embedding: ImageEmbedding, state: Any, gt: np.ndarray | None = None,
                prompts: Prompts | None = None) -> Prediction:
        """The layer's answer for a target (``gt`` is ignored): see the module doc."""
        return checked_predict(lambda extra: self._ask(embedding, state, extra), state.presence, self.config,
                               prompts, embedding)


def consult(opinion: SecondOpinion, prediction: Prediction, embedding: ImageEmbedding) -> Prediction:
    """The prediction with the second opinion's verdict: kept (its decision says the similarity, and ``deferred``
    when it refused without a veto), or emptied when it refused with one. Absent or empty predictions pass."""
    if not prediction.present or not prediction.mask.any():
        return prediction
    similarity = opinion.similarity(embedding, prediction.mask)
    if similarity >= opinion.threshold or not opinion.can_veto:
        decision = PresenceDecision(True, semantic=similarity, semantic_threshold=opinion.threshold,
                                    deferred=similarity < opinion.threshold)
        return dataclasses.replace(prediction, decision=decision)
    decision = PresenceDecision(False, semantic=similarity, semantic_threshold=opinion.threshold, unchecked=prediction)
    return Prediction.empty(prediction.mask.shape, score=prediction.score, decision=decision, **prediction.extra)


def decide(prediction: Prediction, threshold: float | None) -> Prediction:
    """The prediction, or an empty one (same score, ``present`` False, the prediction it replaced as its decision's
    ``unchecked``) when its score is below SAM's ``threshold``; None (SAM does not decide) keeps every mask, and an
    absent prediction (the second opinion said so) stays as it is."""
    if threshold is None or not prediction.present:
        return prediction
    before = prediction.decision or PresenceDecision(True)
    if prediction.score >= threshold:
        return dataclasses.replace(prediction, decision=dataclasses.replace(before, threshold=threshold))
    decision = dataclasses.replace(before, present=False, threshold=threshold, unchecked=prediction)
    return Prediction.empty(prediction.mask.shape, score=prediction.score, decision=decision, **prediction.extra)


def checked_predict(predict_one: Callable[[Prompts | None], Prediction], calibration: Calibration | None,
                    settings: PresenceSettings, prompts: Prompts | None = None,
                    embedding: ImageEmbedding | None = None) -> Prediction:
    """A method's answer from its one candidate ``predict_one(prompts)`` on ``embedding``, decided by the layer
    (see the module doc; ``calibration`` is required with presence or several instances)."""
    opinion = calibration.second_opinion if calibration is not None else None

    def checked(prediction: Prediction) -> Prediction:
        return consult(opinion, prediction, embedding) if opinion is not None else prediction

    def sam_threshold(prediction: Prediction) -> float | None:
        """SAM's presence threshold where it decides: no second opinion, or one that deferred."""
        deferred = prediction.decision is not None and prediction.decision.deferred
        if calibration is None or not settings.presence or (opinion is not None and not deferred):
            return None
        return calibration.threshold

    def one(extra: Prompts | None) -> Prediction:
        prediction = checked(predict_one(extra)) if settings.presence else predict_one(extra)
        return decide(prediction, sam_threshold(prediction))

    def further(extra: Prompts | None) -> Prediction:
        """A further instance, decided as the first is: by the second opinion where it consents (and never scoring
        below the reference's own background, the calibration's negative), else (no second opinion, or one that
        deferred) by SAM's instance threshold."""
        prediction = checked(predict_one(extra))
        decision = prediction.decision
        consented = decision is not None and decision.present and not decision.deferred
        return decide(prediction, calibration.negative if consented else calibration.instance_threshold)

    if settings.max_instances > 1:
        return find_instances(one, settings.max_instances, settings.repeat_overlap, prompts, further)
    return one(prompts)
