"""The location prior: cosine similarity of the target embedding to every feature cell, and the points
taken from it (the most similar as positive, the least similar as negative)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything.modeling import Sam
from torch import Tensor

from persam.models.predictor import ImageEmbedding


def similarity_grid(embedding: ImageEmbedding, target: Tensor) -> Tensor:
    """64 x 64 cosine similarity between ``target`` (C) and each cell of the (padded) feature grid."""
    feats = F.normalize(embedding.features[0], dim=0)  # C x 64 x 64
    return torch.einsum("c,chw->hw", F.normalize(target, dim=0), feats)


def similarity_image(sam: Sam, embedding: ImageEmbedding, grid: Tensor) -> Tensor:
    """The 64 x 64 similarity brought to the original image (H x W): bilinear x4, then SAM's own
    upscaling, un-padding and resizing of mask logits (``Sam.postprocess_masks``)."""
    low = F.interpolate(grid[None, None], scale_factor=4, mode="bilinear")
    return sam.postprocess_masks(low, embedding.input_size, embedding.original_size)[0, 0]


def select_points(similarity: Tensor, topk: int = 1, negative: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The ``topk`` most similar pixels as positives and, if ``negative``, the least similar as negatives.

    Returns (N x 2 XY pixel coordinates, N labels with 1 = positive, 0 = negative).
    """
    flat = similarity.flatten()
    w = similarity.shape[1]
    indices = [_extreme(flat, topk, largest=True)]
    labels = [np.ones(topk, dtype=np.int64)]
    if negative:
        indices.append(_extreme(flat, topk, largest=False))
        labels.append(np.zeros(topk, dtype=np.int64))
    idx = torch.cat(indices).cpu().numpy()
    coords = np.stack([idx % w, idx // w], axis=1).astype(np.float64)
    return coords, np.concatenate(labels)


def _extreme(flat: Tensor, k: int, largest: bool) -> Tensor:
    """``flat.topk(k, largest=largest).indices``. For k = 1 on 64 or more values this is argmax / argmin (a
    single pass instead of a sort; both take the first of equal values there, tested), else ``topk`` itself."""
    if k == 1 and flat.numel() >= 64:
        return (flat.argmax() if largest else flat.argmin()).reshape(1)
    return flat.topk(k, largest=largest).indices
