"""The work behind the page, without the page: SAM predictors, the reference mask from clicks, and a run
over the targets that writes the downloads.

A run's outputs go to a folder of their own (``<root>/run-<n>``): ``masks/<key>.png`` (palette PNGs,
1 = the object), ``overlays/<key>.jpg``, ``masks.zip`` (the masks folder), ``masks_coco.json``
(:mod:`persam.coco_export`) and ``scores.csv`` (one row per image: key, uploaded file, present, score,
mask pixels). Embeddings come from the on-disk cache, so an upload is encoded once however often the
method or the clicks change.
"""

from __future__ import annotations

import csv
import itertools
import math
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from persam.app.methods import method_settings
from persam.app.targets import Targets, read_targets
from persam.click_reference import ClickError, reference_mask_from_clicks
from persam.coco_export import CocoMasks
from persam.data.io import DataError, read_image, write_mask
from persam.experiments.overlays import overlay, write_image
from persam.methods.builder import build_method
from persam.methods.protocol import Shot
from persam.models import EmbeddingCache, GuidedPredictor, build_sam
from persam.models.checkpoints import CheckpointError
from persam.models.decoders import default_decoder
from persam.models.encoders import default_encoder
from persam.models.predictor import ImageEmbedding


class AppError(ValueError):
    """A problem the person can fix (the message says how); shown on the page, never as a traceback."""


# Errors whose message is for the person at the page: bad uploads, clicks, checkpoints, choices.
USER_ERRORS = (AppError, ClickError, DataError, CheckpointError)


@dataclass
class RunResult:
    """One run: the gallery (overlay file, caption), keys of the images the object is absent from, the
    download files, and the messages about uploads that were not used."""

    gallery: list[tuple[str, str]] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    downloads: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Engine:
    """Predictors by (model, checkpoint, device), built on first use and kept; one decoding at a time (a
    predictor holds its current image)."""

    def __init__(self, root: Path | None = None, cache: EmbeddingCache | None = None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="persam-app-"))
        self.cache = cache if cache is not None else EmbeddingCache()
        self.lock = threading.RLock()
        self._predictors: dict[tuple, GuidedPredictor] = {}
        self._runs = itertools.count(1)

    def predictor(self, model: str = "vit_t", checkpoint: str | None = None, device: str = "cpu") -> GuidedPredictor:
        key = (model, checkpoint or None, device)
        with self.lock:
            if key not in self._predictors:
                # The runs' default encoder (auto: the fastest path that passed make bench's accuracy checks).
                self._predictors[key] = GuidedPredictor(build_sam(model, checkpoint or None, device), self.cache,
                                                        encoder=default_encoder(),
                                                        decoder=default_decoder())
            return self._predictors[key]

    def embed(self, predictor: GuidedPredictor, image: np.ndarray) -> ImageEmbedding:
        with self.lock:
            return predictor.embed(image)

    def reference_mask(self, predictor: GuidedPredictor, image: np.ndarray,
                       clicks: list[tuple[float, float, int]]) -> tuple[np.ndarray, float]:
        """SAM's mask of the clicked object: ``clicks`` are (x, y, label) in image pixels, 1 = object."""
        points = np.asarray([c[:2] for c in clicks], dtype=np.float64).reshape(-1, 2)
        labels = np.asarray([c[2] for c in clicks], dtype=np.int64)
        with self.lock:
            return reference_mask_from_clicks(predictor, image, points, labels)

    def build(self, predictor: GuidedPredictor, method: str):
        """The method of ``persam/conf/method/<method>.yaml`` (the one place the page builds a method)."""
        built = build_method(predictor, method_settings(method))
        if getattr(built, "needs_ground_truth", False):
            raise AppError(f"{method_settings(method).get('label', method)} reads the ground truth (an oracle "
                           "for the paper's tables), which uploaded photos do not have: choose another method")
        return built

    def run(self, predictor: GuidedPredictor, method: str, ref_image: np.ndarray, ref_mask: np.ndarray,
            uploads: list[Path], progress: Callable[[int, int, str], None] = lambda i, n, key: None) -> RunResult:
        """Find the reference's object in every upload; ``progress(done, total, key)`` after each image."""
        if not ref_mask.any():
            raise AppError("the reference mask is empty: click on the object in the reference photo")
        out = self.root / f"run-{next(self._runs)}"
        targets: Targets = read_targets(uploads, out / "unpacked")
        result = RunResult(problems=targets.problems)
        if not targets.images:
            raise AppError("no usable target: " + "; ".join(targets.problems or ["upload photos, a zip or a video"]))
        coco = CocoMasks("object")
        rows = []
        with self.lock:
            built = self.build(predictor, method)
            reference = built.fit([Shot(predictor.embed(ref_image), ref_mask)])
            for i, (key, path) in enumerate(targets.images):
                image = read_image(path)
                prediction = built.predict(predictor.embed(image), reference)
                present = bool(getattr(prediction, "present", True))
                score = float(getattr(prediction, "score", float("nan")))
                write_mask(out / "masks" / f"{key}.png", prediction.mask)
                picture = out / "overlays" / f"{key}.jpg"
                write_image(picture, overlay(image, prediction.mask, prediction.point_coords, prediction.point_labels))
                result.gallery.append((str(picture), key if present else f"{key} (absent)"))
                if not present:
                    result.absent.append(key)
                coco.add(f"{key}.png", prediction.mask, score)
                rows.append({"image": key, "file": path.name, "present": present,
                             "score": "" if math.isnan(score) else f"{score:.4f}",
                             "mask_pixels": int(prediction.mask.sum())})
                progress(i + 1, len(targets.images), key)
        result.downloads = [self._zip_masks(out), coco.write(out / "masks_coco.json"), self._csv(out, rows)]
        return result

    @staticmethod
    def _zip_masks(out: Path) -> Path:
        archive = out / "masks.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for mask in sorted((out / "masks").rglob("*.png")):
                zf.write(mask, mask.relative_to(out).as_posix())
        return archive

    @staticmethod
    def _csv(out: Path, rows: list[dict]) -> Path:
        path = out / "scores.csv"
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["image", "file", "present", "score", "mask_pixels"])
            writer.writeheader()
            writer.writerows(rows)
        return path

