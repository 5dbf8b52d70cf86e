"""The one folder loop: find a personalised object in a list of photos, saying where it is absent. ``persam
segment``, the app's runs and ``persam dreambooth-masks`` (and DreamBooth's trainer) all write through it.

For each image: the method's prediction (presence decided by the method when it has ``presence`` on;
several instances when ``max_instances`` > 1), written as

* ``<out>/<masks_dir>/<key>.png`` (``masks_dir`` ``masks`` but for DreamBooth's ``.``): a palette PNG label map
  (0 background, 1..n the instances; all 0 where the object is absent); ``<key>`` is the image's output key
  (:func:`persam.segment.output_paths.image_files`, the app's upload keys, a DreamBooth photo's stem);
* ``<out>/overlays/<key>.jpg``: the image with the instances tinted and the prompts drawn;
* ``<out>/scores.csv``: one row per image, columns ``file,present,score,instances``:

  - ``file``: the key with the image's suffix (``a/00.jpg``);
  - ``present``: 1 when the object was found (the method says present and the mask is not empty), else 0;
  - ``score``: the method's presence score with 6 decimals, empty where the method gives none;
  - ``instances``: how many instances the mask holds (0 where absent);
  - ``skipped``, only when some images could not be read (:mod:`persam.segment.unreadable`): empty for the
    images segmented; after them one row per unreadable file, with ``present`` 0, ``score`` empty,
    ``instances`` 0 and here the reason (no mask, no overlay). The first four columns keep their meaning, so
    readers of those are unaffected, and a run without a bad file writes exactly these four;

* optionally each mask into a COCO JSON (:class:`persam.segment.coco_export.CocoMasks`);

and :func:`summary`'s line, e.g. ``found in 37 of 120 images (2 with several instances)``, followed by
``; 1 file skipped`` when one could not be read.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from tqdm import tqdm

from persam.atomic import write_atomic
from persam.data.io import DEFAULT_PALETTE, write_mask
from persam.drawing import overlay_labels, write_image
from persam.segment.unreadable import Skipped, read_or_skip

SCORES_COLUMNS = ("file", "present", "score", "instances")
SKIPPED_COLUMN = "skipped"


@dataclass
class ImageResult:
    """One image's row of ``scores.csv`` (``file``), and its output ``key``."""

    key: str
    file: str
    present: bool
    score: float
    instances: int


@dataclass
class FolderRun:
    """The images segmented, in input order, and the files skipped because they could not be read."""

    images: list[ImageResult]
    skipped: list[Skipped]


def instance_labels(prediction) -> np.ndarray:
    """H x W uint8 labels: the prediction's instance map, or its mask as instance 1 (empty when absent)."""
    if prediction.instances is not None:
        return np.asarray(prediction.instances, dtype=np.uint8)
    return prediction.mask.astype(np.uint8)


def overlay_path(out: Path, key: str | PurePosixPath) -> Path:
    return out / "overlays" / f"{key}.jpg"


def segment_folder(method, reference, predictor, files: Sequence[tuple[Path, PurePosixPath | str]], out: Path, *,
                   masks_dir: str = "masks", given: Mapping[Path, np.ndarray] | None = None, coco=None,
                   desc: str = "", progress: Callable[[int, int, str], None] | None = None) -> FolderRun:
    """Predict every (file, output key) against the fitted ``reference`` and write the outputs of the module
    doc; a file that cannot be read is skipped and recorded. ``given``: masks already known by file
    (DreamBooth's reference photo keeps its reference mask), written as they are, not predicted.
    ``progress(done, total, key)`` after each image (default: a tqdm bar ``desc``)."""
    given = {path.resolve(): mask for path, mask in (given or {}).items()}
    results, skipped = [], []
    for i, (path, key) in enumerate(tqdm(files, desc=desc, unit="img", disable=progress is not None)):
        image = read_or_skip(path, f"{key}{path.suffix}", skipped)
        if image is None:
            if progress is not None:
                progress(i + 1, len(files), str(key))
            continue
        known = given.get(path.resolve())
        if known is not None:
            labels, score, points, present = np.asarray(known, dtype=np.uint8), math.nan, None, True
        else:
            prediction = method.predict(predictor.embed(image), reference)
            labels, score, present = instance_labels(prediction), float(prediction.score), bool(prediction.present)
            points = [prediction.point_coords] if len(prediction.point_coords) else None
        count = len(np.unique(labels[labels > 0]))
        present = present and count > 0
        write_mask(out / masks_dir / f"{key}.png", labels)
        write_image(overlay_path(out, key), overlay_labels(image, labels, DEFAULT_PALETTE, points if present else None))
        if coco is not None:
            coco.add(f"{key}.png", labels > 0, score)
        results.append(ImageResult(str(key), f"{key}{path.suffix}", present, score, count))
        if progress is not None:
            progress(i + 1, len(files), str(key))
    write_scores(out / "scores.csv", results, skipped)
    return FolderRun(results, skipped)


def write_scores(path: Path, results: Sequence[ImageResult], skipped: Sequence[Skipped] = ()) -> None:
    """``scores.csv`` (columns: see the module doc), one row per image, then one per skipped file."""
    lines = [[r.file, int(r.present), "" if math.isnan(r.score) else f"{r.score:.6f}", r.instances] for r in results]
    header = list(SCORES_COLUMNS)
    if skipped:
        header.append(SKIPPED_COLUMN)
        lines = [[*line, ""] for line in lines] + [[s.file, 0, "", 0, s.reason] for s in skipped]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([header, *lines])
    write_atomic(path, text.getvalue())


def summary(run: FolderRun) -> str:
    """E.g. ``found in 37 of 120 images (2 with several instances)``, then ``; 1 file skipped`` when some
    could not be read."""
    found = sum(r.present for r in run.images)
    several = sum(r.instances > 1 for r in run.images)
    line = f"found in {found} of {len(run.images)} images ({several} with several instances)"
    if run.skipped:
        line += f"; {len(run.skipped)} file{'s' if len(run.skipped) != 1 else ''} skipped"
    return line
