"""Copy-paste composites for the several-instances protocol, from a PerSeg-layout dataset.

    python data_prep/copy_paste_instances.py --src data/davis_perseg --out data/davis_perseg_instances
    python data_prep/copy_paste_instances.py --src ../shared/data/perseg --out data/perseg_instances

For every object of ``--src`` (reference stem ``--ref-stem``, default ``00``; every other image a target):

* the reference image and mask are copied unchanged (``00.jpg``, ``00.png``);
* each target ``T`` is copied unchanged (``T.jpg``; its mask becomes an instance label map with label 1);
* each target ``T`` also gets a composite ``cT.jpg``: a second copy of the object, cut from the next target
  of that object in sorted order (the first for the last; never the reference, which the method has seen), is
  pasted into ``T``. The copy is scaled to the area of ``T``'s own object, times 0.85 as often as needed
  (down to 0.2 of that area) until it fits inside the image without touching ``T``'s object dilated by
  ``MARGIN`` pixels; of the placements that fit, the one whose centre is farthest from ``T``'s object's
  centroid is taken (ties: the first in raster order); ``--placement near`` takes the nearest instead, the copy
  beside the object (where SAM can take both copies for one object: the case PerSAM+'s rule 9 is for). Pasted
  pixels replace the target's (a hard mask, so the ground truth is exact). Its label map: 1 = ``T``'s own
  object, 2 = the pasted copy. A target where no scale fits is skipped and listed.

Everything is deterministic (no random numbers). Output, a PerSeg layout whose masks are instance label maps
(palette PNG, 0 background, 1..n instances; ``read_mask`` still reads their union)::

    OUT/Images/<object>/{00,T,cT}.jpg
    OUT/Annotations/<object>/{00,T,cT}.png
    OUT/manifest.json    {"source": SRC, "ref_stem": "00", "margin": MARGIN, "placement": "far" or "near",
                          "objects": {<object>: {"cT": {"target": "T", "pasted_from": "S", "scale": s,
                                                        "box_xyxy": [x0, y0, x1, y1]}, ...}},
                          "skipped": ["<object>/T", ...]}
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from persam.data.io import DataError, read_image, read_mask, write_mask  # noqa: E402
from persam.data.perseg import load_perseg  # noqa: E402

MARGIN = 8  # pixels kept free around the target's own object
SHRINK = 0.85
MIN_AREA_RATIO = 0.2
PLACEMENTS = ("far", "near")  # the copy's centre farthest from / nearest to the target's own object


@dataclass
class Paste:
    image: np.ndarray  # H x W x 3 uint8, the composite
    labels: np.ndarray  # H x W uint8, 1 = own object, 2 = pasted copy
    scale: float  # the pasted copy's linear scale relative to its source image
    box: tuple[int, int, int, int]  # XYXY pixels of the pasted copy (x1, y1 exclusive)


def cut_object(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The object's bounding-box crop (h x w x 3) and its mask there (h x w bool)."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return image[y0:y1, x0:x1], mask[y0:y1, x0:x1]


def placements(obstacle: np.ndarray, patch_mask: np.ndarray) -> np.ndarray:
    """(H - h + 1) x (W - w + 1) bool: where the top-left corner of ``patch_mask`` may go without covering any
    ``obstacle`` pixel (cross-correlation of the two masks is the overlap at each placement)."""
    overlap = cv2.matchTemplate(obstacle.astype(np.float32), patch_mask.astype(np.float32), cv2.TM_CCORR)
    return overlap < 0.5


def composite(target: np.ndarray, target_mask: np.ndarray, source: np.ndarray, source_mask: np.ndarray,
              margin: int = MARGIN, placement: str = "far") -> Paste | None:
    """Paste the source's object into ``target`` beside its own object, ``placement`` far from it or near it (see
    module doc); None if it never fits."""
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}")
    crop, crop_mask = cut_object(source, source_mask)
    h, w = target_mask.shape
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    obstacle = cv2.dilate(target_mask.astype(np.uint8), kernel) > 0
    centroid = np.argwhere(target_mask).mean(0)  # (y, x)
    scale = float(np.sqrt(target_mask.sum() / crop_mask.sum()))
    floor = scale * np.sqrt(MIN_AREA_RATIO)
    while scale >= floor:
        ph, pw = round(crop_mask.shape[0] * scale), round(crop_mask.shape[1] * scale)
        if 0 < ph <= h and 0 < pw <= w:
            patch_mask = cv2.resize(crop_mask.astype(np.uint8), (pw, ph), interpolation=cv2.INTER_NEAREST) > 0
            free = placements(obstacle, patch_mask) if patch_mask.any() else np.zeros((1, 1), bool)
            if free.any():
                ys, xs = np.nonzero(free)
                distance = (ys + ph / 2 - centroid[0]) ** 2 + (xs + pw / 2 - centroid[1]) ** 2
                # argmax / argmin take the first extremum: raster order on ties
                best = int(np.argmax(distance) if placement == "far" else np.argmin(distance))
                y0, x0 = int(ys[best]), int(xs[best])
                patch = cv2.resize(crop, (pw, ph), interpolation=cv2.INTER_AREA)
                image, labels = target.copy(), target_mask.astype(np.uint8)
                window = image[y0:y0 + ph, x0:x0 + pw]
                window[patch_mask] = patch[patch_mask]
                labels[y0:y0 + ph, x0:x0 + pw][patch_mask] = 2
                return Paste(image, labels, scale, (x0, y0, x0 + pw, y0 + ph))
        scale *= SHRINK
    return None


def build(src: Path, out: Path, ref_stem: str = "00", margin: int = MARGIN, placement: str = "far") -> dict:
    """Write the composites and the unmodified targets of every object of ``src`` to ``out``; the manifest."""
    manifest: dict = {"source": str(src), "ref_stem": ref_stem, "margin": margin, "placement": placement,
                      "objects": {}, "skipped": []}
    for obj in load_perseg(src, ref_stems=[ref_stem]):
        images, annotations = out / "Images" / obj.name, out / "Annotations" / obj.name
        images.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(obj.ref_image, images / f"{ref_stem}{obj.ref_image.suffix.lower()}")
        write_mask(annotations / f"{ref_stem}.png", read_mask(obj.ref_mask))
        if len(obj.targets) < 2:
            raise DataError(f"{src / 'Images' / obj.name}: {len(obj.targets)} target(s); a composite pastes the "
                            "object from another target, so each object needs at least 2")
        loaded = [(stem, read_image(image)) for stem, image, _ in obj.targets]
        masks = [read_mask(gt, image.shape[:2]) for (_, image), (_, _, gt) in zip(loaded, obj.targets, strict=True)]
        entries = manifest["objects"][obj.name] = {}
        for i, ((stem, image), mask) in enumerate(zip(loaded, masks, strict=True)):
            shutil.copyfile(obj.targets[i][1], images / f"{stem}{obj.targets[i][1].suffix.lower()}")
            write_mask(annotations / f"{stem}.png", mask)
            j = (i + 1) % len(loaded)
            if not mask.any() or not masks[j].any():
                manifest["skipped"].append(f"{obj.name}/{stem}")
                continue
            paste = composite(image, mask, loaded[j][1], masks[j], margin, placement)
            if paste is None:
                manifest["skipped"].append(f"{obj.name}/{stem}")
                continue
            Image.fromarray(paste.image).save(images / f"c{stem}.jpg", quality=95)
            write_mask(annotations / f"c{stem}.png", paste.labels)
            entries[f"c{stem}"] = {"target": stem, "pasted_from": loaded[j][0], "scale": round(paste.scale, 4),
                                   "box_xyxy": list(paste.box)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", type=Path, required=True, help="a PerSeg-layout root (Images/, Annotations/)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ref-stem", default="00")
    parser.add_argument("--placement", choices=PLACEMENTS, default="far",
                        help="the copy farthest from the target's object (default) or nearest to it")
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    try:
        manifest = build(args.src, args.out, args.ref_stem, placement=args.placement)
    except DataError as err:
        raise SystemExit(f"error: {err}") from None
    made = sum(len(v) for v in manifest["objects"].values())
    print(f"{args.out}: {len(manifest['objects'])} objects, {made} composites"
          + (f", skipped (no room, or an empty object): {', '.join(manifest['skipped'])}" if manifest["skipped"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
