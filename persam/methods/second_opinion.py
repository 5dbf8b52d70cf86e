"""The presence check's second opinion: does the mask look like the same *kind* of thing as the reference object,
to an encoder trained to name things (:mod:`persam.models.semantic_encoder`)? A mask is present when the cosine
similarity of its pooled semantic features to the nearest reference's reaches the encoder's threshold; a reference
the encoder cannot see (under ``second_opinion_min_cells`` of its cells) gets no veto. The presence layer
(:mod:`persam.methods.presence_layer`) acts on it. Why, the operating point and the data behind each number:
docs/methods.md, "Presence"; the numbers are settings of :class:`persam.methods.presence_settings.PresenceSettings`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from persam.data.io import DataError
from persam.methods.presence_settings import PresenceSettings
from persam.methods.protocol import EMPTY_MASK_SCORE, Shot
from persam.models.predictor import ImageEmbedding
from persam.models.semantic_encoder import SemanticEncoder, build_semantic_encoder, cell_cover, pooled


@functools.lru_cache(maxsize=2)
def semantic_encoder(name: str, device: str) -> SemanticEncoder | None:
    """The named encoder, loaded once per process (every method instance of a sweep shares it)."""
    return build_semantic_encoder(name, device)


def encoder_threshold(settings: PresenceSettings) -> float:
    """The threshold of the settings' encoder: ``second_opinion_threshold`` when set, else the encoder's measured
    one (``second_opinion_thresholds``, by the name before any ``:``), else the unmeasured default."""
    if settings.second_opinion_threshold is not None:
        return float(settings.second_opinion_threshold)
    family = settings.second_opinion.split(":", 1)[0]
    return float(settings.second_opinion_thresholds.get(family, settings.second_opinion_unmeasured_threshold))


def features(encoder: SemanticEncoder, embedding: ImageEmbedding, keep: int) -> Tensor:
    """The encoder's C x h x w features of the embedding's image (computed once per image and encoder: kept on the
    embedding, and by the image's bytes for the ``keep`` latest images, which the presence protocol reads again
    for every object)."""
    if encoder.id not in embedding.semantic:
        if embedding.image is None:
            raise DataError("the presence check's second opinion needs the image itself, and this embedding was made "
                            "without it (make embeddings with GuidedPredictor.embed)")
        image = np.ascontiguousarray(embedding.image)
        key = (encoder.id, image.shape, hashlib.sha1(image.data).hexdigest())
        if key not in _recent:
            _recent[key] = encoder(image)
            while len(_recent) > keep:
                _recent.pop(next(iter(_recent)))
        embedding.semantic[encoder.id] = _recent[key]
    return embedding.semantic[encoder.id]


_recent: dict[tuple, Tensor] = {}


@dataclass
class SecondOpinion:
    """The references' semantic prototypes (K x C, unit length), the threshold a mask must reach, whether a
    refusal is final (``can_veto``: some reference covers at least ``second_opinion_min_cells`` cells) and how many
    images' features to keep (``keep``)."""

    encoder: SemanticEncoder
    prototypes: Tensor
    threshold: float
    can_veto: bool = True
    keep: int = 1

    def similarity(self, embedding: ImageEmbedding, mask: np.ndarray) -> float:
        """Cosine similarity of the H x W bool ``mask``'s pooled features to the nearest prototype
        (``EMPTY_MASK_SCORE`` if empty)."""
        vector = pooled(features(self.encoder, embedding, self.keep), mask)
        if vector is None:
            return EMPTY_MASK_SCORE
        return float((F.normalize(vector, dim=0)[None] * self.prototypes).sum(1).max())


def second_opinion(settings: PresenceSettings, shots: Sequence[Shot],
                   device: str | torch.device = "cpu") -> SecondOpinion | None:
    """The second opinion of the settings' encoder (``second_opinion``) fitted on the references (None for
    ``none``)."""
    name = settings.second_opinion
    if name in (None, "", "none"):
        return None
    encoder = semantic_encoder(name, str(device))
    keep = settings.second_opinion_cache_images
    maps = [features(encoder, shot.embedding, keep) for shot in shots]
    vectors = [pooled(m, shot.mask) for m, shot in zip(maps, shots, strict=True)]
    if any(v is None for v in vectors):
        raise ValueError("a reference mask is empty: there is no object to personalise on")
    prototypes = F.normalize(torch.stack(vectors), dim=1)
    can_veto = any(cell_cover(m, shot.mask).sum() >= settings.second_opinion_min_cells
                   for m, shot in zip(maps, shots, strict=True))
    return SecondOpinion(encoder, prototypes, encoder_threshold(settings), can_veto, keep)
