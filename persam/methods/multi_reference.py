"""Several references of one object: the target embedding, the location prior and PerSAM-F's fit over all.

With k reference shots (image embedding + mask):

* per-reference **prototypes**: each reference's target embedding (K x C), pooled as one reference would be;
* the **target embedding**: their mean (C), what semantic prompting and PerSAM-F's single vector use;
* the **location prior**: at each feature cell the best match over the prototypes (the element-wise maximum
  of the K cosine-similarity grids), so a target that looks like any one reference gets its top point there,
  where the mean of differing views (a dog from the side and from the front) may resemble neither;
* PerSAM-F's two weights: fitted once on the pixels of all references together (each reference's three
  decoder masks and its ground truth, concatenated), so the weights suit the object rather than one photo.

With k = 1 all of this is exactly the one-reference method: one prototype, whose mean is itself, and
whose grid is the grid.

A method may instead treat its references as k one-shot predictors and **vote** (:func:`soft_vote`; PerSAM+'s
rule 10, and PerSAM-F by default, ``references: vote``): each reference predicts the target on its own and the
mask is where their mean mask probability exceeds ``vote_threshold`` (one half). Nothing is pooled across views,
so a poor view (the object small or half hidden) adds one dissenting vote instead of shifting every prototype and
map; with k = 1 the vote is that one prediction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from persam.methods.location_prior import similarity_grid
from persam.methods.protocol import Prediction, Shot
from persam.models.predictor import ImageEmbedding


def prototypes(shots: Sequence[Shot], pool: Callable[[ImageEmbedding, object], Tensor]) -> Tensor:
    """K x C: ``pool(embedding, mask)`` of each shot (the method's own target-embedding pooling)."""
    return torch.stack([pool(shot.embedding, shot.mask) for shot in shots])


def best_match_grid(embedding: ImageEmbedding, protos: Tensor) -> Tensor:
    """64 x 64: at each cell, the highest cosine similarity to any of the K prototypes (K x C)."""
    grid = similarity_grid(embedding, protos[0])
    for proto in protos[1:]:
        grid = torch.maximum(grid, similarity_grid(embedding, proto))
    return grid


def stacked_fit_inputs(logits: Sequence[Tensor], masks: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Each reference's 3 x H_i x W_i decoder logits and H_i x W_i ground truth, as one 3 x 1 x N logit map
    and a 1 x N target over the N = sum H_i W_i pixels (the scale-fusion fitters flatten what they get)."""
    stacked = torch.cat([out.flatten(1) for out in logits], dim=1)[:, None]
    target = torch.cat([m.flatten().float() for m in masks])[None]
    return stacked, target


def soft_vote(predictions: Sequence[Prediction], threshold: float) -> Prediction:
    """One prediction from the predictions of k one-shot predictors of the same target (each with ``logits``):
    the mask where the mean of their mask probabilities (sigmoid of the logits) exceeds ``threshold``, its logits the
    logit of that mean; the score is the mean score; the point prompts are those of the member with the
    highest score. One prediction is returned as it is."""
    if len(predictions) == 1:
        return predictions[0]
    mean = torch.stack([torch.sigmoid(p.logits.float()) for p in predictions]).mean(0)
    best = max(predictions, key=lambda p: p.score)
    scores = [float(p.score) for p in predictions]
    return Prediction((mean > threshold).cpu().numpy(), best.point_coords, best.point_labels,
                      score=sum(scores) / len(scores), logits=torch.logit(mean.clamp(1e-6, 1 - 1e-6)),
                      extra={**best.extra, "voters": len(predictions), "voter_scores": scores})
