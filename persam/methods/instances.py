"""Several instances of the object in one image: find one, exclude it, prompt the next.

:func:`find_instances` calls a prediction with the region of the instances found so far in ``Prompts.exclude``
(a method takes it out of its location prior, :func:`persam.methods.grid.suppress_region`) and stops when the new
prediction is absent (the presence layer decides each instance), empty or mostly (``repeat_overlap``) an
instance already found; the label map gives a pixel claimed by several instances to the
highest logit there (to the earlier one without logits). The presence layer (:mod:`persam.methods.presence_layer`)
runs it; why: docs/methods.md, "Presence".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from persam.methods.protocol import Prediction, Prompts


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


def find_instances(predict: Callable[[Prompts | None], Prediction], max_instances: int, repeat_overlap: float,
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
        if not candidate.present or not area:
            break
        if (candidate.mask & region).sum() > repeat_overlap * area:
            break
        found.append(candidate)
        region |= candidate.mask
    labels = label_map(found)
    logits = None
    if all(p.logits is not None for p in found):
        logits = torch.stack([p.logits for p in found]).max(0).values
    extra = {**first.extra, "instance_scores": [float(p.score) for p in found]}
    return dataclasses.replace(first, mask=labels > 0, instances=labels, logits=logits, extra=extra)

