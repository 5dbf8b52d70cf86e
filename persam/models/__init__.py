"""SAM models by name, checkpoints, the guided decoder and the image-embedding cache."""

from persam.models.checkpoints import CHECKPOINTS, CheckpointError, resolve_checkpoint
from persam.models.embedding_cache import EmbeddingCache
from persam.models.guided_decoder import DecoderGuidance, Guidance
from persam.models.predictor import Decoded, GuidedPredictor, ImageEmbedding
from persam.models.registry import SAM_BUILDERS, LoadedSam, build_sam

__all__ = [
    "CHECKPOINTS",
    "CheckpointError",
    "Decoded",
    "DecoderGuidance",
    "EmbeddingCache",
    "Guidance",
    "GuidedPredictor",
    "ImageEmbedding",
    "LoadedSam",
    "SAM_BUILDERS",
    "build_sam",
    "resolve_checkpoint",
]
