"""What every task loop is handed: the run's configuration, model, method and where to write."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig

from persam.methods.builder import MethodSpec
from persam.models.predictor import GuidedPredictor, ImageEmbedding


@dataclass
class StageClock:
    """Seconds spent encoding (cache misses only), in the method, and how many images each covered; the
    basis of the comparable timing rows (seconds per image after the encoder, encoder seconds per image)."""

    encoder_seconds: float = 0.0
    encoded_images: int = 0
    method_seconds: float = 0.0
    method_images: int = 0


@dataclass
class TaskContext:
    cfg: DictConfig
    predictor: GuidedPredictor
    method: object
    spec: MethodSpec
    out_dir: Path
    base: dict  # the columns every row of this run shares
    key: str  # the run's fingerprint
    clock: StageClock = field(default_factory=StageClock)

    def embed(self, image) -> ImageEmbedding:
        """The predictor's embedding, timed when the encoder (not the cache) produced it."""
        calls = self.predictor.encoder_calls
        start = time.perf_counter()
        embedding = self.predictor.embed(image)
        if self.predictor.encoder_calls > calls:
            self.clock.encoder_seconds += time.perf_counter() - start
            self.clock.encoded_images += 1
        return embedding

    def timing_rows(self) -> list[dict]:
        """ALL rows: method seconds per target image (warm-cache comparable) and, when the encoder ran,
        its seconds per encoded image."""
        c = self.clock
        rows = [{**self.base, "item": "ALL", "metric": "sec_per_image_post_encoder",
                 "value": c.method_seconds / max(c.method_images, 1)}]
        if c.encoded_images:
            rows.append({**self.base, "item": "ALL", "metric": "encoder_sec_per_image",
                         "value": c.encoder_seconds / c.encoded_images})
        return rows
