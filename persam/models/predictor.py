"""Encode an image once, then answer many (optionally guided) prompts from its embedding.

Coordinates are XY in original-image pixels; boxes are XYXY in original-image pixels; mask inputs are
1 x 256 x 256 low-resolution logits as returned by a previous prediction.

Decoding returns the decoder's low-resolution logits at once and brings a mask to the original image size
(SAM's ``postprocess_masks``, the costly part on large images) only when it is asked for: all masks by
``Decoded.logits``, one by ``Decoded.mask_logits(i)``. Both give exactly what upstream's ``predict_torch``
returns (tested), so callers that need only the chosen mask pay for one upsampling instead of three.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from segment_anything import SamPredictor
from torch import Tensor

from persam.models.decoders import MaskDecoderRunner
from persam.models.embedding_cache import EmbeddingCache
from persam.models.encoders import build_encoder
from persam.models.guided_decoder import DecoderGuidance, Guidance
from persam.models.registry import LoadedSam

# Changing how images become encoder input must change this id, so cached embeddings are not reused. The
# cache key also carries the encoder backend's id (persam.models.encoders), so fp32, ONNX Runtime and bf16
# embeddings never mix.
PREPROCESSING_ID = "segment_anything.ResizeLongestSide(1024)+normalize+pad/v1"


@dataclass
class ImageEmbedding:
    """SAM's embedding of one image.

    features: 1 x 256 x 64 x 64, on the model's device.
    original_size: (H, W) of the image.
    input_size: (H, W) after resizing the long side to 1024, before padding to 1024 x 1024.
    image: the H x W x 3 uint8 RGB image itself, when the embedding came from :meth:`GuidedPredictor.embed` (a
    second, semantic encoder reads it: :mod:`persam.methods.second_opinion`); ``semantic``: that encoder's
    features by encoder id, computed once per image.
    """

    features: Tensor
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    semantic: dict = field(default_factory=dict, repr=False, compare=False)


class Decoded:
    """One decoder call. C masks: 1 (single) or 3 (multimask).

    low_res_logits: C x 256 x 256. iou: C predicted IoUs. logits: C x H x W at the original image size,
    computed on first access (``mask_logits(i)``: mask i only, H x W); both equal upstream's bit for bit.
    """

    def __init__(self, low_res_logits: Tensor, iou: Tensor, upscale: Callable[[Tensor], Tensor] | None = None,
                 logits: Tensor | None = None) -> None:
        if upscale is None and logits is None:
            raise ValueError("Decoded needs the full-size logits or a way to compute them")
        self.low_res_logits = low_res_logits
        self.iou = iou
        self._upscale = upscale
        self._logits = logits
        self._one: dict[int, Tensor] = {}

    @property
    def logits(self) -> Tensor:
        if self._logits is None:
            self._logits = self._upscale(self.low_res_logits[None])[0]
        return self._logits

    @logits.setter
    def logits(self, value: Tensor) -> None:
        self._logits = value
        self._one.clear()

    def mask_logits(self, i: int) -> Tensor:
        """H x W logits of mask ``i`` at the original image size (upsampling that mask only)."""
        if self._logits is not None:
            return self._logits[i]
        if i not in self._one:
            self._one[i] = self._upscale(self.low_res_logits[None, i : i + 1])[0, 0]
        return self._one[i]

    def best(self) -> int:
        return int(self.iou.argmax())


class GuidedPredictor(SamPredictor):
    """segment-anything's ``SamPredictor`` with an embedding cache, a choice of encoder and decoder backend and
    PerSAM's decoder guidance. ``encoder``: ``fp32`` (upstream's, the default), ``onnx``, ``bf16``, ``exact`` or
    ``auto`` (:mod:`persam.models.encoders`); ``decoder``: ``eager`` (the default), ``compiled`` or ``auto``
    (:mod:`persam.models.decoders`)."""

    def __init__(self, loaded: LoadedSam, cache: EmbeddingCache | None = None, encoder: str = "fp32",
                 decoder: str = "eager") -> None:
        super().__init__(loaded.sam)
        self.loaded = loaded
        self.cache = cache
        self.encoder = build_encoder(loaded, encoder)
        self.guidance = DecoderGuidance.of(loaded.sam.mask_decoder)  # installed before compiling: hooks included
        self.mask_decoder = MaskDecoderRunner(loaded.sam.mask_decoder, loaded.device.type, decoder)
        self.encoder_calls = 0

    @property
    def encoder_id(self) -> str:
        """The encoder backend that produces this predictor's embeddings (in cache keys and provenance)."""
        return self.encoder.id

    @property
    def decoder_id(self) -> str:
        """How this predictor runs SAM's mask decoder (in provenance)."""
        return self.mask_decoder.id

    def expect_images(self, images: int) -> None:
        """The job will decode about ``images`` images: ``decoder=auto`` compiles the decoder if that pays."""
        self.mask_decoder.expect(images)

    @torch.no_grad()
    def embed(self, image: np.ndarray) -> ImageEmbedding:
        """Embedding of an H x W x 3 uint8 RGB image, from the cache when it holds one."""
        key = None
        if self.cache is not None:
            key = self.cache.key(self.loaded.name, self.loaded.sha256, f"{PREPROCESSING_ID}|{self.encoder.id}", image)
            entry = self.cache.get(key)
            if entry is not None:
                return ImageEmbedding(
                    entry["features"].to(self.device), tuple(entry["original_size"]), tuple(entry["input_size"]),
                    image,
                )
        x, input_size = self.encoder_input(image)
        features = self.encoder(x)
        self.encoder_calls += 1
        embedding = ImageEmbedding(features, tuple(image.shape[:2]), input_size, image)
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

    def encoder_input(self, image: np.ndarray) -> tuple[Tensor, tuple[int, int]]:
        """The encoder's 1 x 3 x 1024 x 1024 input for an H x W x 3 uint8 RGB image (resized, normalised and
        padded, as upstream's ``set_image``) and its size before the padding."""
        resized = self.transform.apply_image(image)
        tensor = torch.as_tensor(resized, device=self.device).permute(2, 0, 1).contiguous()[None]
        return self.model.preprocess(tensor), tuple(tensor.shape[-2:])

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
        """Decode prompts on the current embedding; returns logits rather than thresholded masks (upstream's
        ``predict_torch``, with the upsampling to the original size deferred, see :class:`Decoded`)."""
        if point_coords is None:  # one prompt set of decode_batch: the same prompt encoding and decoder call
            point_coords, point_labels = np.zeros((0, 2)), np.zeros(0, dtype=np.int64)
        return self.decode_batch([point_coords], [point_labels], [box], [mask_input], multimask, [guidance])[0]

    @torch.no_grad()
    def decode_batch(
        self,
        point_coords: list[np.ndarray],
        point_labels: list[np.ndarray],
        boxes: list[np.ndarray | None] | None = None,
        mask_inputs: list[Tensor | None] | None = None,
        multimask: bool = True,
        guidance: list[Guidance | None] | None = None,
    ) -> list[Decoded]:
        """Decode B prompt sets on the current embedding in as few decoder calls as possible; one
        :class:`Decoded` per set, in order.

        point_coords[i]: N_i x 2 XY pixels with labels point_labels[i] (N_i); boxes[i]: XYXY pixels or None;
        mask_inputs[i]: 1 x 256 x 256 logits or None; guidance[i]: that set's :class:`Guidance` or None.
        Sets that agree on which of box, mask input, attention bias and semantic embedding they have share
        one call; their points are padded to a common count with SAM's "not a point" label (-1), and those
        padding tokens are masked out as keys of the decoder's attentions over tokens
        (:meth:`DecoderGuidance.ignoring`), so they change nothing: every set decodes as :meth:`decode` would,
        to float rounding (batched matrix products; about 1e-5 in the logits).
        """
        if not self.is_image_set:
            raise RuntimeError("no image: call set_embedding (or set_image) before decode_batch")
        n = len(point_coords)
        boxes = boxes if boxes is not None else [None] * n
        mask_inputs = mask_inputs if mask_inputs is not None else [None] * n
        guidance = guidance if guidance is not None else [None] * n
        if not (len(point_labels) == len(boxes) == len(mask_inputs) == len(guidance) == n):
            raise ValueError("decode_batch: point_coords, point_labels, boxes, mask_inputs and guidance differ in length")
        groups: dict[tuple, list[int]] = {}
        for i in range(n):
            g = guidance[i]
            key = (boxes[i] is not None, mask_inputs[i] is not None,
                   g is not None and g.attn_bias is not None, g is not None and g.target_embedding is not None)
            groups.setdefault(key, []).append(i)
        results: list[Decoded | None] = [None] * n
        upscale = self.upscaler(self.input_size, self.original_size)
        for (has_box, has_mask, has_bias, has_semantic), members in groups.items():
            longest = max(len(point_coords[i]) for i in members)
            coords = np.zeros((len(members), longest, 2))
            labels = -np.ones((len(members), longest), dtype=np.int64)
            for row, i in enumerate(members):
                k = len(point_coords[i])
                if k:
                    coords[row, :k] = self.transform.apply_coords(np.asarray(point_coords[i], dtype=np.float64),
                                                                  self.original_size)
                    labels[row, :k] = np.asarray(point_labels[i])
            points = None
            if longest:
                points = (torch.as_tensor(coords, dtype=torch.float, device=self.device),
                          torch.as_tensor(labels, dtype=torch.int, device=self.device))
            box_tensor = mask_tensor = None
            if has_box:
                stacked = np.stack([np.asarray(boxes[i], dtype=np.float64) for i in members])
                box_tensor = torch.as_tensor(self.transform.apply_boxes(stacked, self.original_size),
                                             dtype=torch.float, device=self.device)
            if has_mask:
                mask_tensor = torch.stack([mask_inputs[i].to(self.device, torch.float).reshape(1, 256, 256)
                                           for i in members])
            batched = Guidance(
                attn_bias=torch.cat([guidance[i].attn_bias for i in members]) if has_bias else None,
                target_embedding=torch.cat([guidance[i].target_embedding for i in members]) if has_semantic else None,
            ) if (has_bias or has_semantic) else None
            sparse, dense = self.model.prompt_encoder(points=points, boxes=box_tensor, masks=mask_tensor)
            with self.guidance.active(batched), self.guidance.ignoring(self._padding(point_coords, members, sparse)):
                low_res, iou = self.mask_decoder(
                    image_embeddings=self.features,
                    image_pe=self._dense_pe(),
                    sparse_prompt_embeddings=sparse,
                    dense_prompt_embeddings=dense,
                    multimask_output=multimask,
                )
            for row, i in enumerate(members):
                results[i] = Decoded(low_res[row], iou[row], upscale)
        return results

    def _padding(self, point_coords: list[np.ndarray], members: list[int], sparse: Tensor) -> Tensor | None:
        """B x N_tokens: the padding points added to bring the members' sets to a common count (the decoder's
        output tokens come first, then the prompt tokens); None when there are none."""
        counts = [len(point_coords[i]) for i in members]
        longest = max(counts)
        if min(counts) == longest:
            return None
        first = 1 + self.model.mask_decoder.num_mask_tokens  # the IoU token and the mask tokens
        ignored = torch.zeros(len(members), first + sparse.shape[1], dtype=torch.bool, device=self.device)
        for row, k in enumerate(counts):
            ignored[row, first + k : first + longest] = True
        return ignored

    def _dense_pe(self) -> Tensor:
        """The prompt encoder's 1 x C x 64 x 64 positional encoding: a function of the frozen weights only."""
        pe = getattr(self, "_dense_pe_cache", None)
        if pe is None or pe.device != self.device:
            pe = self._dense_pe_cache = self.model.prompt_encoder.get_dense_pe()
        return pe

    def upscaler(self, input_size: tuple[int, int], original_size: tuple[int, int]) -> Callable[[Tensor], Tensor]:
        """B x C x 256 x 256 low-resolution logits -> B x C x H x W logits at the image's size."""
        model = self.model

        @torch.no_grad()
        def upscale(low_res: Tensor) -> Tensor:  # B x C x 256 x 256 -> B x C x H x W, as predict_torch
            return model.postprocess_masks(low_res, input_size, original_size)

        return upscale
