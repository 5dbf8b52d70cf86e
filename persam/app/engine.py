"""The work behind the page, without the page: SAM predictors, the reference mask from clicks, and a run
over the targets that writes the downloads.

A run's outputs go to a folder of their own (``<root>/run-<n>``): what the one folder loop writes
(:mod:`persam.segment.folder`: ``masks/<key>.png`` palette PNGs, ``overlays/<key>.jpg`` and ``scores.csv``),
``masks.zip`` (the masks folder) and ``masks_coco.json`` (:mod:`persam.segment.coco_export`). A target that
cannot be read is skipped, named with its reason in the result (and in ``scores.csv``). Embeddings come
from the on-disk cache, so an upload is encoded once however often the method or the clicks change.
"""

from __future__ import annotations

import itertools
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from persam.app.methods import method_settings
from persam.app.targets import Targets, read_targets
from persam.data.io import DataError
from persam.methods.protocol import Shot
from persam.models import EmbeddingCache, GuidedPredictor
from persam.models.checkpoints import CheckpointError
from persam.models.predictor import ImageEmbedding
from persam.segment.click_reference import ClickError, reference_mask_from_clicks
from persam.segment.coco_export import CocoMasks
from persam.segment.folder import overlay_path, segment_folder
from persam.segment.predictor import user_method, user_predictor


class AppError(ValueError):
    """A problem the person can fix (the message says how); shown on the page, never as a traceback."""


# Errors whose message is for the person at the page: bad uploads, clicks, checkpoints, choices.
USER_ERRORS = (AppError, ClickError, DataError, CheckpointError)


@dataclass
class RunResult:
    """One run: the gallery (overlay file, caption), keys of the images the object is absent from, the
    download files, the messages about uploads that were not used, and the targets skipped as unreadable
    (``<file>: <reason>``)."""

    gallery: list[tuple[str, str]] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    downloads: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


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
                self._predictors[key] = user_predictor(model, checkpoint, device, cache=self.cache)
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
        """The method of ``persam/conf/method/<method>.yaml`` (oracles refused: a message on the page)."""
        return user_method(predictor, method_settings(method))

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
        files = [(path, PurePosixPath(key)) for key, path in targets.images]
        with self.lock:
            built = self.build(predictor, method)
            reference = built.fit([Shot(predictor.embed(ref_image), ref_mask)])
            run = segment_folder(built, reference, predictor, files, out, coco=coco, progress=progress)
        result.skipped = [f"{s.file}: {s.reason}" for s in run.skipped]
        if not run.images:
            raise AppError("no usable target: " + "; ".join(targets.problems + result.skipped))
        for image in run.images:
            result.gallery.append((str(overlay_path(out, image.key)),
                                   image.key if image.present else f"{image.key} (absent)"))
            if not image.present:
                result.absent.append(image.key)
        result.downloads = [self._zip_masks(out), coco.write(out / "masks_coco.json"), out / "scores.csv"]
        return result

    @staticmethod
    def _zip_masks(out: Path) -> Path:
        archive = out / "masks.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for mask in sorted((out / "masks").rglob("*.png")):
                zf.write(mask, mask.relative_to(out).as_posix())
        return archive
