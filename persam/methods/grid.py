"""SAM's feature grid: the geometry every method shares between pixels, feature cells and low-resolution logits.

SAM encodes a 1024 x 1024 input (the image resized to long side 1024, zero-padded) into a :data:`GRID` x
:data:`GRID` map of features, one cell per :data:`PATCH` x :data:`PATCH` input pixels; its decoder's
low-resolution logits span the same padded input with :data:`LOGITS_PER_CELL` x :data:`LOGITS_PER_CELL` logits
per cell. Definitions of SAM's architecture, not settings.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from persam.models.predictor import ImageEmbedding
from persam.models.registry import EMBED_GRID, IMAGE_SIZE

GRID = EMBED_GRID  # cells per side of the feature map
PATCH = IMAGE_SIZE // GRID  # input pixels per cell side
LOW_RES = 256  # the decoder's low-resolution logits per side
LOGITS_PER_CELL = LOW_RES // GRID


def mask_on_grid(mask: np.ndarray, input_size: tuple[int, int], mode: str = "center") -> Tensor:
    """GRID x GRID float map of how much of each feature cell the H x W boolean ``mask`` covers.

    ``area``: the mask resized to the input size with area interpolation, zero-padded like the image and averaged
    over each patch (the fraction of the patch the object covers); ``center`` (the original PerSAM code): resized
    bilinearly, padded, and sampled bilinearly at the cell centres (see :mod:`persam.methods.target`)."""
    h, w = input_size
    if mode == "area":
        resized = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    elif mode == "center":
        pil = Image.fromarray(mask.astype(np.uint8) * 255).resize((w, h), Image.Resampling.BILINEAR)
        resized = np.asarray(pil, dtype=np.float32) / 255.0
    else:
        raise ValueError(f"mask_pooling must be 'area' or 'center', got {mode!r}")
    padded = np.zeros((GRID * PATCH, GRID * PATCH), dtype=np.float32)
    padded[:h, :w] = resized
    tensor = torch.from_numpy(padded)[None, None]
    if mode == "area":
        return F.avg_pool2d(tensor, PATCH)[0, 0]
    return F.interpolate(tensor, size=(GRID, GRID), mode="bilinear", align_corners=False)[0, 0]


def valid_cells(embedding: ImageEmbedding) -> Tensor:
    """Boolean GRID x GRID map of the cells whose patch contains image pixels (not padding)."""
    h, w = embedding.input_size
    rows = torch.arange(GRID, device=embedding.features.device) < math.ceil(h / PATCH)
    cols = torch.arange(GRID, device=embedding.features.device) < math.ceil(w / PATCH)
    return rows[:, None] & cols[None, :]


def cell_coverage(low_res: Tensor) -> Tensor:
    """B x GRID x GRID fraction of each feature cell covered by each mask, from B x LOW_RES x LOW_RES
    low-resolution logits."""
    return F.avg_pool2d((low_res.reshape(-1, 1, LOW_RES, LOW_RES) > 0).float(), LOGITS_PER_CELL)[:, 0]


def suppress_region(grid: Tensor, embedding: ImageEmbedding, exclude: np.ndarray | None) -> Tensor:
    """The GRID x GRID similarity ``grid`` with every feature cell that ``exclude`` (H x W bool) touches set to
    the grid's minimum, so the most similar point falls outside the region (and guided attention leaves it);
    ``grid`` itself when there is nothing to exclude."""
    if exclude is None or not exclude.any():
        return grid
    touched = mask_on_grid(exclude, embedding.input_size, "area").to(grid.device) > 0
    return torch.where(touched, grid.min(), grid)
