"""COCO-format JSON of predicted masks, for CVAT, Label Studio, FiftyOne or pycocotools.

One category (the personalised object). ``images``: id, file_name (as given, e.g. the path relative to the
output's masks folder or the uploaded name), height, width. ``annotations``: one per non-empty mask, with
the mask as compressed RLE (pycocotools, ``counts`` as a string), its area, XYWH bbox, iscrowd 0, and the
method's presence score when it has one. An image whose mask is empty is listed with no annotation.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from persam.atomic import write_atomic


class CocoMasks:
    """COCO export built one image at a time (each mask is RLE-encoded when added, so a long run keeps only
    the compressed masks in memory). Image and annotation ids start at 1."""

    def __init__(self, category: str = "object") -> None:
        self.category = category
        self.images: list[dict] = []
        self.annotations: list[dict] = []

    def add(self, file_name: str, mask: np.ndarray, score: float = float("nan")) -> None:
        """One image: its name in the export and its H x W boolean mask (``score``: presence, NaN = none)."""
        mask = np.asarray(mask, dtype=bool)
        image_id = len(self.images) + 1
        self.images.append({"id": image_id, "file_name": file_name, "height": int(mask.shape[0]),
                            "width": int(mask.shape[1])})
        if not mask.any():
            return
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        annotation = {
            "id": len(self.annotations) + 1,
            "image_id": image_id,
            "category_id": 1,
            "segmentation": {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")},
            "area": int(mask_utils.area(rle)),
            "bbox": [float(v) for v in mask_utils.toBbox(rle)],
            "iscrowd": 0,
        }
        if not math.isnan(score):
            annotation["score"] = float(score)
        self.annotations.append(annotation)

    def dataset(self) -> dict:
        """The COCO dict: ``images``, ``annotations``, ``categories``."""
        return {"images": self.images, "annotations": self.annotations,
                "categories": [{"id": 1, "name": self.category, "supercategory": "object"}]}

    def write(self, path: str | os.PathLike) -> Path:
        """Write the JSON atomically; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(self.dataset()))
        return path
