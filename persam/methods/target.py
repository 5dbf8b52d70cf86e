"""The target embedding: SAM features of the reference image pooled inside the reference mask.

The mask is brought onto SAM's 64 x 64 feature grid in one of two ways (``mask_pooling``):

* ``area``: the mask is resized to the encoder's input size (long side 1024) with area
  interpolation, zero-padded to 1024 x 1024 like the image, and averaged over each 16 x 16 patch. Each grid
  cell then holds the fraction of its patch that the object covers; cells covering at least
  ``coverage`` (0.5) of their patch are the object's cells.
* ``center`` (default; the original PerSAM code): the mask is resized bilinearly to the input size, padded, and
  sampled bilinearly at the 64 x 64 cell centres (``F.interpolate`` without antialiasing); a cell is kept
  when that sample exceeds 123.675 / 128, which is where the original's threshold of the
  mean-normalised mask channel falls (``center_threshold``; the original video code scales its masks to 215,
  not 128, so its threshold is 123.675 / 215).

If no cell qualifies (a tiny object), the cell with the largest coverage is used, so a non-empty mask
always yields an embedding. The embedding is the mean of the kept cells' features (``mean``) or, as in
the original PerSAM-F code, the average of their mean and their channel-wise max (``mean_max``).
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from persam.methods.grid import mask_on_grid
from persam.models.predictor import ImageEmbedding

CENTER_THRESHOLD = 123.675 / 128.0  # the default of the methods' center_threshold (see the module doc)


def object_cells(coverage: Tensor, mode: str = "area", min_coverage: float = 0.5,
                 center_threshold: float = CENTER_THRESHOLD) -> Tensor:
    """Boolean 64 x 64 map of the cells that count as the object; never empty for a non-empty mask."""
    threshold = center_threshold if mode == "center" else min_coverage
    cells = coverage > threshold if mode == "center" else coverage >= threshold
    if not bool(cells.any()):
        cells = coverage == coverage.max()
    return cells


def reference_cells(
    embedding: ImageEmbedding,
    mask: np.ndarray,
    mask_pooling: str = "center",
    min_coverage: float = 0.5,
    center_threshold: float = CENTER_THRESHOLD,
) -> Tensor:
    """N x C features of the reference's object cells (see module doc)."""
    if not mask.any():
        raise ValueError("the reference mask is empty: there is no object to personalise on")
    coverage = mask_on_grid(mask, embedding.input_size, mask_pooling).to(embedding.features.device)
    cells = object_cells(coverage, mask_pooling, min_coverage, center_threshold)
    return embedding.features[0].permute(1, 2, 0)[cells]


def pool(feats: Tensor, pooling: str) -> Tensor:
    """C features from N x C object-cell features: their ``mean``, or ``mean_max`` (see module doc)."""
    if pooling == "mean":
        return feats.mean(0)
    if pooling == "mean_max":
        return feats.mean(0) / 2 + feats.max(0).values / 2
    raise ValueError(f"embedding pooling must be 'mean' or 'mean_max', got {pooling!r}")


def target_embedding(
    embedding: ImageEmbedding,
    mask: np.ndarray,
    mask_pooling: str = "center",
    pooling: str = "mean",
    min_coverage: float = 0.5,
    center_threshold: float = CENTER_THRESHOLD,
) -> Tensor:
    """The reference's target embedding, a vector of C (=256) features (see module doc)."""
    return pool(reference_cells(embedding, mask, mask_pooling, min_coverage, center_threshold), pooling)
