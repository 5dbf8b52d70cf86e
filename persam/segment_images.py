"""``persam segment``'s work: find a personalised object in a folder of photos, saying where it is absent.

For each image: the method's prediction (presence decided by the method when it has ``presence`` on;
several instances when ``max_instances`` > 1), written as

* ``<out>/masks/<key>.png``: a palette PNG label map (0 background, 1..n the instances; all 0 where the
  object is absent); ``<key>`` is the image's output key (:func:`persam.output_paths.image_files`);
* ``<out>/overlays/<key>.jpg``: the image with the instances tinted and the prompts drawn;
* ``<out>/scores.csv``: one row per image, ``file,present,score,instances`` (file: the key with the image's
  suffix; score: the presence score, empty where the method has none);
* optionally the masks into a COCO JSON (:class:`persam.coco_export.CocoMasks`);

and a summary line, e.g. ``found in 37 of 120 images (2 with several instances)``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from tqdm import tqdm

from persam.data.io import DEFAULT_PALETTE, read_image, write_mask
from persam.experiments.overlays import overlay_labels, write_image
from persam.experiments.records import write_atomic


@dataclass
class ImageResult:
    file: str
    present: bool
    score: float
    instances: int


def instance_labels(prediction) -> np.ndarray:
    """H x W uint8 labels: the prediction's instance map, or its mask as instance 1 (empty when absent)."""
    if prediction.instances is not None:
        return np.asarray(prediction.instances, dtype=np.uint8)
    return prediction.mask.astype(np.uint8)


def segment_files(method, reference, predictor, files: Sequence[tuple[Path, PurePosixPath]], out: Path,
                  desc: str = "", coco=None) -> list[ImageResult]:
    """Predict every (file, output key) against the fitted ``reference``; write masks, overlays and
    ``scores.csv`` (and add each mask to ``coco`` when given)."""
    results = []
    for path, key in tqdm(files, desc=desc, unit="img"):
        image = read_image(path)
        prediction = method.predict(predictor.embed(image), reference)
        labels = instance_labels(prediction)
        count = len(np.unique(labels[labels > 0]))
        present = bool(prediction.present) and count > 0
        write_mask(out / "masks" / f"{key}.png", labels)
        points = [prediction.point_coords] if present and len(prediction.point_coords) else None
        write_image(out / "overlays" / f"{key}.jpg", overlay_labels(image, labels, DEFAULT_PALETTE, points))
        if coco is not None:
            coco.add(f"{key}.png", labels > 0, float(prediction.score))
        results.append(ImageResult(f"{key}{path.suffix}", present, float(prediction.score), count))
    write_scores(out / "scores.csv", results)
    return results


def write_scores(path: Path, results: Sequence[ImageResult]) -> None:
    """``file,present,score,instances``, one row per image (score blank where the method gives none)."""
    lines = [["file", "present", "score", "instances"]]
    lines += [[r.file, int(r.present), "" if math.isnan(r.score) else f"{r.score:.6f}", r.instances] for r in results]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(lines)
    write_atomic(path, text.getvalue())


def summary(results: Sequence[ImageResult]) -> str:
    """E.g. ``found in 37 of 120 images (2 with several instances)``."""
    found = sum(r.present for r in results)
    several = sum(r.instances > 1 for r in results)
    return f"found in {found} of {len(results)} images ({several} with several instances)"
