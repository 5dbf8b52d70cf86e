"""Several instances of the object in one image: find one, suppress it in the location prior, prompt the next.

Works for any method whose ``predict`` honours ``Prompts.exclude`` (an H x W region it must not prompt in:
PerSAM and PerSAM-F take it out of their location prior with :func:`suppress_region`) and gives a presence
``score`` (:class:`persam.methods.protocol.Prediction`). :func:`find_instances` runs the loop:

1. predict with the region of the instances found so far excluded;
2. stop when the new prediction's score is below ``threshold`` (for PerSAM the calibration's
   ``instance_threshold``, see :mod:`persam.methods.presence`), its mask is empty, or it is mostly
   (``REPEAT_OVERLAP``) an instance already found (SAM grew back into it); else keep it and go on, at most
   ``max_instances`` times;
3. the instance label map (0 background, 1..n in the order found): a pixel claimed by several instances goes
   to the one with the highest logit there (to the earlier one where a method gives no logits).

The first instance follows the method's own presence decision (an absent object stays absent); the later
ones need a threshold, so a method looking for several instances always calibrates one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from persam.methods.presence import Calibration, decide
from persam.methods.protocol import Prediction, Prompts
from persam.methods.second_opinion import DEFERRED
from persam.methods.target import mask_on_grid
from persam.models.predictor import ImageEmbedding

REPEAT_OVERLAP = 0.5  # a new mask with more than this fraction inside earlier instances is a repeat


def suppress_region(grid: Tensor, embedding: ImageEmbedding, exclude: np.ndarray | None) -> Tensor:
    """The 64 x 64 similarity ``grid`` with every feature cell that ``exclude`` (H x W bool) touches set to
    the grid's minimum, so the most similar point falls outside the region (and guided attention leaves it);
    ``grid`` itself when there is nothing to exclude."""
    if exclude is None or not exclude.any():
        return grid
    touched = mask_on_grid(exclude, embedding.input_size, "area").to(grid.device) > 0
    return torch.where(touched, grid.min(), grid)


def label_map(predictions: list[Prediction]) -> np.ndarray:
    """H x W uint8 instance labels 1..n of the predictions' masks, overlaps to the highest logit (see module)."""
    masks = np.stack([p.mask for p in predictions])
    if all(p.logits is not None for p in predictions):
        logits = torch.stack([p.logits.float().cpu() for p in predictions]).numpy()
        rank = np.where(masks, logits, -np.inf)
    else:  # earlier instances first: rank by reverse order
        rank = np.where(masks, -np.arange(len(predictions), dtype=np.float64)[:, None, None], -np.inf)
    labels = (np.argmax(rank, axis=0) + 1).astype(np.uint8)
    labels[~masks.any(0)] = 0
    return labels


def find_instances(predict: Callable[[Prompts | None], Prediction], threshold: float, max_instances: int,
                   prompts: Prompts | None = None,
                   predict_more: Callable[[Prompts | None], Prediction] | None = None) -> Prediction:
    """Up to ``max_instances`` instances, by calling ``predict(prompts)``, then ``predict_more`` (default
    ``predict``) with a growing ``exclude`` region.

    Returns the first prediction with ``instances`` (H x W uint8 label map), ``mask`` = their union,
    ``logits`` = the instances' element-wise maximum (where all have logits) and ``extra["instance_scores"]``.
    """
    if max_instances < 1:
        raise ValueError(f"max_instances must be at least 1, got {max_instances}")
    first = predict(prompts)
    if not first.present or not first.mask.any():
        return dataclasses.replace(first, instances=np.zeros(first.mask.shape, np.uint8))
    found = [first]
    region = first.mask.copy()
    predict_more = predict_more or predict
    while len(found) < max_instances:
        base = prompts if prompts is not None else Prompts()
        exclude = region if base.exclude is None else region | base.exclude
        candidate = predict_more(dataclasses.replace(base, exclude=exclude))
        area = int(candidate.mask.sum())
        if not candidate.present or not area or not candidate.score >= threshold:
            break
        if (candidate.mask & region).sum() > REPEAT_OVERLAP * area:
            break
        found.append(candidate)
        region |= candidate.mask
    labels = label_map(found)
    logits = None
    if all(p.logits is not None for p in found):
        logits = torch.stack([p.logits for p in found]).max(0).values
    extra = {**first.extra, "instance_scores": [float(p.score) for p in found]}
    return dataclasses.replace(first, mask=labels > 0, instances=labels, logits=logits, extra=extra)


def checked_predict(predict_one: Callable[[Prompts | None], Prediction], calibration: Calibration | None,
                    presence: bool, max_instances: int, prompts: Prompts | None = None,
                    embedding: ImageEmbedding | None = None) -> Prediction:
    """A method's answer from its single prediction ``predict_one(prompts)`` on ``embedding`` with the protocol's
    checks on top: when ``presence`` is on, empty below the calibrated threshold, or, with a second opinion
    (:mod:`persam.methods.second_opinion`), when that says absent (below SAM's threshold when it defers); several
    instances when ``max_instances`` > 1 (``calibration`` is then required; see
    :func:`persam.methods.presence.calibrate`). Further instances need the instance threshold and, with a second
    opinion, its consent too (presence on or off)."""
    opinion = calibration.second_opinion if calibration is not None else None

    def checked(prediction: Prediction) -> Prediction:
        return opinion.check(prediction, embedding) if opinion is not None else prediction

    def sam_threshold(prediction: Prediction) -> float | None:
        """SAM's presence threshold where it decides: no second opinion, or one that deferred."""
        if calibration is None or not presence or (opinion is not None and not prediction.extra.get(DEFERRED)):
            return None
        return calibration.threshold

    def one(extra: Prompts | None) -> Prediction:
        prediction = checked(predict_one(extra)) if presence else predict_one(extra)
        return decide(prediction, sam_threshold(prediction))

    if max_instances > 1:
        return find_instances(one, calibration.instance_threshold, max_instances, prompts,
                              lambda extra: checked(predict_one(extra)))
    return one(prompts)
