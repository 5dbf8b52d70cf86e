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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from persam.methods.location_prior import similarity_grid
from persam.methods.protocol import Shot
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
