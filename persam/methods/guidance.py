"""Target-guided attention: the per-image-token bias added inside the decoder's cross-attention.

Two formulas (``attention``):

* ``original`` (default; the original PerSAM code): standardise the similarity (zero mean, unit std), take its
  sigmoid; the decoder computes ``softmax(softmax(QK^T/sqrt(d)) + bias)``.
* ``eq7`` (the paper's Eq. 7): ``bias = alpha * softmax(S)`` over the image tokens; same decoder formula.

The bias lives on SAM's padded 64 x 64 embedding grid, aligned with the image tokens: statistics and the
softmax use only the cells that cover the image, and padding cells get the weakest value. (The original
code standardises the similarity at image resolution and stretches it over the whole padded grid, which
misplaces it on non-square images; :func:`stretched_attention_bias` does exactly that, for P2SAM, whose
code keeps it.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from persam.methods.grid import GRID, valid_cells
from persam.models.predictor import ImageEmbedding


def attention_bias(embedding: ImageEmbedding, similarity: Tensor, attention: str = "original", alpha: float = 1.0) -> Tensor:
    """1 x 1 x 1 x 4096 bias for :class:`persam.models.guided_decoder.GuidedAttention` from a 64 x 64 similarity."""
    valid = valid_cells(embedding)
    values = similarity[valid]
    if attention == "original":
        std = values.std()
        z = (similarity - values.mean()) / (std if std > 0 else 1.0)
        bias = torch.where(valid, z, z[valid].min()).sigmoid()
    elif attention == "eq7":
        logits = torch.where(valid, similarity, torch.full_like(similarity, -torch.inf))
        bias = alpha * torch.softmax(logits.flatten(), dim=0).reshape(similarity.shape)
    else:
        raise ValueError(f"attention must be 'original' or 'eq7', got {attention!r}")
    return bias.reshape(1, 1, 1, -1)


def stretched_attention_bias(similarity_image: Tensor) -> Tensor:
    """1 x 1 x 1 x 4096 bias computed as the original PerSAM and P2SAM code does: the H x W similarity at image
    resolution standardised over the image (unbiased std), resized bilinearly to 64 x 64 (so the image is
    stretched over the padded grid, see the module doc), sigmoid."""
    z = (similarity_image - similarity_image.mean()) / similarity_image.std()
    z = F.interpolate(z[None, None], size=(GRID, GRID), mode="bilinear")
    return z.sigmoid().reshape(1, 1, 1, -1)
