"""The subject in every photo of a DreamBooth subject folder, from one reference mask or one click.

(diffusers and the DreamBooth paper call these the "instance" photos; persam says "subject", as "instances"
are the several objects of ``--max-instances``.)

    masks, skipped = segment_subject(photos, Reference(image=photos[0], point=(410, 300)), out, method="persam_f")
    # <out>/<stem>.png (palette PNG, 1 = subject), <out>/overlays/<stem>.jpg, <out>/scores.csv
    # (persam.segment.folder's loop) and <out>/contact_sheet.png

The reference photo keeps the reference mask itself (the person's mask, or SAM's mask of the click); every other
photo is segmented by the PerSAM method (PerSAM-F by default, as the paper). A photo where the method decides the
subject is absent (``Prediction.present`` false) is listed as not found. A photo that cannot be read is skipped
(no mask, not on the contact sheet) and returned with its reason (:mod:`persam.segment.unreadable`); an unreadable
reference photo stops at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageDraw

from persam.data.io import IMAGE_SUFFIXES, DataError, read_image, read_mask
from persam.drawing import overlay, write_image
from persam.methods.protocol import Shot
from persam.models.predictor import GuidedPredictor
from persam.segment.click_reference import clicked_reference
from persam.segment.folder import segment_folder
from persam.segment.output_paths import images_in
from persam.segment.predictor import method_config, user_method, user_predictor
from persam.segment.references import read_reference_mask
from persam.segment.unreadable import Skipped

SHEET_NAME = "contact_sheet.png"
TILE_HEIGHT = 256


@dataclass
class Reference:
    """Where the subject is shown: a photo and either a mask file or a click (XY pixels) on the subject."""

    image: Path
    mask: Path | None = None
    point: tuple[float, float] | None = None


@dataclass
class SubjectMask:
    """One photo's subject mask (H x W bool); ``present`` false when the method found no subject."""

    photo: Path
    mask: np.ndarray
    present: bool = True


def subject_photos(folder: Path) -> list[Path]:
    """The photos of a subject folder, sorted by name (hidden files skipped)."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    photos = images_in(folder)
    if not photos:
        raise DataError(f"{folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return photos


def parse_point(text: str) -> tuple[float, float]:
    """``"X,Y"`` (pixels) -> (x, y)."""
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise DataError(f"reference point {text!r}: expected X,Y in pixels, e.g. 410,300") from None
    return x, y


def reference_mask(predictor: GuidedPredictor, reference: Reference, image: np.ndarray) -> np.ndarray:
    """The H x W bool subject mask of the reference photo: the mask file, or SAM's mask of the click."""
    if reference.mask is not None:
        return read_reference_mask(reference.mask, image.shape[:2])
    if reference.point is None:
        raise DataError("give a reference mask or a reference point")
    return clicked_reference(predictor, image, reference.image, points=[reference.point])[0]


def segment_subject(photos: list[Path], reference: Reference, out: Path, method: str = "persam_f",
                    predictor: GuidedPredictor | None = None) -> tuple[list[SubjectMask], list[Skipped]]:
    """The subject's mask in every readable photo, written under ``out``, and the photos skipped (see the module
    doc)."""
    settings = method_config(method)  # refuses an oracle before SAM is loaded
    predictor = predictor or user_predictor()
    ref_image = read_image(reference.image)
    ref_mask = reference_mask(predictor, reference, ref_image)
    segmenter = user_method(predictor, settings)
    fitted = segmenter.fit([Shot(predictor.embed(ref_image), ref_mask)])
    by_key = {p.stem: p for p in photos}
    run = segment_folder(segmenter, fitted, predictor, [(p, PurePosixPath(p.stem)) for p in photos], out,
                         masks_dir=".", given={reference.image: ref_mask}, desc=settings.get("label", method))
    masks = [SubjectMask(by_key[r.key], read_mask(out / f"{r.key}.png"), r.present) for r in run.images]
    if masks:
        write_image(out / SHEET_NAME, contact_sheet(masks))
    return masks, run.skipped


def contact_sheet(masks: list[SubjectMask], columns: int = 4) -> np.ndarray:
    """One RGB picture of every photo with its mask tinted, named, and 'NOT FOUND' where the subject is absent."""
    tiles = []
    for item in masks:
        picture = Image.fromarray(overlay(read_image(item.photo), item.mask))
        width = max(1, round(picture.width * TILE_HEIGHT / picture.height))
        tile = picture.resize((width, TILE_HEIGHT), Image.Resampling.BILINEAR)
        draw = ImageDraw.Draw(tile)
        label = item.photo.name if item.present else f"{item.photo.name}: NOT FOUND"
        draw.rectangle((0, 0, 8 + 7 * len(label), 16), fill=(0, 0, 0))
        draw.text((4, 2), label, fill=(255, 255, 255) if item.present else (255, 80, 80))
        tiles.append(tile)
    columns = min(columns, len(tiles))
    cell_w = max(t.width for t in tiles)
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * cell_w, rows * TILE_HEIGHT), (32, 32, 32))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % columns) * cell_w, (i // columns) * TILE_HEIGHT))
    return np.asarray(sheet)


def read_subject_masks(folder: Path, photos: list[Path]) -> list[SubjectMask]:
    """The masks of ``photos`` from ``<folder>/<stem>.png`` (any non-zero pixel is the subject)."""
    masks = []
    for photo in photos:
        path = folder / f"{photo.stem}.png"
        if not path.is_file():
            raise DataError(f"{path}: no mask for subject photo {photo.name}")
        mask = read_mask(path, read_image(photo).shape[:2])
        masks.append(SubjectMask(photo, mask, bool(mask.any())))
    return masks
