"""Encode an image once, then answer many (optionally guided) prompts from its embedding.

Coordinates are XY in original-image pixels; boxes are XYXY in original-image pixels; mask inputs are
1 x 256 x 256 low-resolution logits as returned by a previous prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from segment_anything import SamPredictor
from torch import Tensor

from persam.models.embedding_cache import EmbeddingCache
from persam.models.guided_decoder import DecoderGuidance, Guidance
from persam.models.registry import LoadedSam

# Changing how images become encoder input must change this id, so cached embeddings are not reused.
PREPROCESSING_ID = "segment_anything.ResizeLongestSide(1024)+normalize+pad/v1"


@dataclass
class ImageEmbedding:
    """SAM's embedding of one image.

    features: 1 x 256 x 64 x 64, on the model's device.
    original_size: (H, W) of the image.
    input_size: (H, W) after resizing the long side to 1024, before padding to 1024 x 1024.
    """

    features: Tensor
    original_size: tuple[int, int]
    input_size: tuple[int, int]


@dataclass
class Decoded:
    """One decoder call. C masks: 1 (single) or 3 (multimask).

    logits: C x H x W at the original image size. low_res_logits: C x 256 x 256. iou: C predicted IoUs.
    """

    logits: Tensor
    low_res_logits: Tensor
    iou: Tensor

    def best(self) -> int:
        return int(self.iou.argmax())


class GuidedPredictor(SamPredictor):
    """segment-anything's ``SamPredictor`` with an embedding cache and PerSAM's decoder guidance."""

    def __init__(self, loaded: LoadedSam, cache: EmbeddingCache | None = None) -> None:
        super().__init__(loaded.sam)
        self.loaded = loaded
        self.cache = cache
        self.guidance = DecoderGuidance.of(loaded.sam.mask_decoder)
        self.encoder_calls = 0

    @torch.no_grad()
    def embed(self, image: np.ndarray) -> ImageEmbedding:
        """Embedding of an H x W x 3 uint8 RGB image, from the cache when it holds one."""
        key = None
        if self.cache is not None:
            key = self.cache.key(self.loaded.name, self.loaded.sha256, PREPROCESSING_ID, image)
            entry = self.cache.get(key)
            if entry is not None:
                return ImageEmbedding(
                    entry["features"].to(self.device), tuple(entry["original_size"]), tuple(entry["input_size"])
                )
        resized = self.transform.apply_image(image)
        tensor = torch.as_tensor(resized, device=self.device).permute(2, 0, 1).contiguous()[None]
        features = self.model.image_encoder(self.model.preprocess(tensor))
        self.encoder_calls += 1
        embedding = ImageEmbedding(features, tuple(image.shape[:2]), tuple(tensor.shape[-2:]))
        if key is not None:
            self.cache.put(
                key,
                {
                    "features": features.cpu(),
                    "original_size": list(embedding.original_size),
                    "input_size": list(embedding.input_size),
                },
            )
        return embedding

    def set_embedding(self, embedding: ImageEmbedding) -> None:
        """Make ``embedding`` the current image, as ``set_image`` would, without running the encoder."""
        self.reset_image()
        self.features = embedding.features
        self.original_size = embedding.original_size
        self.input_size = embedding.input_size
        self.is_image_set = True

    @torch.no_grad()
    def decode(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: Tensor | None = None,
        multimask: bool = True,
        guidance: Guidance | None = None,
    ) -> Decoded:
        """Decode prompts on the current embedding; returns logits rather than thresholded masks."""
        coords = labels = boxes = masks = None
        if point_coords is not None:
            transformed = self.transform.apply_coords(np.asarray(point_coords, dtype=np.float64), self.original_size)
            coords = torch.as_tensor(transformed, dtype=torch.float, device=self.device)[None]
            labels = torch.as_tensor(np.asarray(point_labels), dtype=torch.int, device=self.device)[None]
        if box is not None:
            transformed = self.transform.apply_boxes(np.asarray(box, dtype=np.float64)[None], self.original_size)
            boxes = torch.as_tensor(transformed, dtype=torch.float, device=self.device)
        if mask_input is not None:
            masks = mask_input.to(self.device, torch.float).reshape(1, 1, *mask_input.shape[-2:])
        with self.guidance.active(guidance):
            logits, iou, low_res = self.predict_torch(
                coords, labels, boxes, masks, multimask_output=multimask, return_logits=True
            )
        return Decoded(logits=logits[0], low_res_logits=low_res[0], iou=iou[0])
