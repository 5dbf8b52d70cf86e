"""The subject in every instance photo of a DreamBooth folder, from one reference mask or one click.

    masks = segment_instances(photos, Reference(image=photos[0], point=(410, 300)), method="persam_f")
    write_instance_masks(out, masks)   # <out>/<stem>.png (palette PNG, 1 = subject) and <out>/contact_sheet.png

The reference photo keeps the reference mask itself (the person's mask, or SAM's mask of the click); every other
photo is segmented by the PerSAM method (PerSAM-F by default, as the paper). A photo where the method decides the
subject is absent (``Prediction.present`` false) gets an empty mask and is listed as not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from persam.click_reference import ClickError, reference_mask_from_clicks
from persam.data.io import IMAGE_SUFFIXES, DataError, read_image, read_mask, write_mask
from persam.experiments.overlays import overlay, write_image
from persam.methods.builder import build_method, composed_method
from persam.methods.protocol import Shot
from persam.models import EmbeddingCache, GuidedPredictor, build_sam
from persam.models.decoders import default_decoder
from persam.models.encoders import default_encoder

SHEET_NAME = "contact_sheet.png"
TILE_HEIGHT = 256


@dataclass
class Reference:
    """Where the subject is shown: a photo and either a mask file or a click (XY pixels) on the subject."""

    image: Path
    mask: Path | None = None
    point: tuple[float, float] | None = None


@dataclass
class InstanceMask:
    """One photo's subject mask (H x W bool); ``present`` false when the method found no subject."""

    photo: Path
    mask: np.ndarray
    present: bool = True


def instance_photos(folder: Path) -> list[Path]:
    """The photos of an instance folder, sorted by name (hidden files skipped)."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
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


def build_predictor(model: str = "vit_t", checkpoint: str | None = None, device: str | None = None,
                    cache: bool = True) -> GuidedPredictor:
    return GuidedPredictor(build_sam(model, checkpoint, device), EmbeddingCache() if cache else None,
                           encoder=default_encoder(), decoder=default_decoder())


def reference_mask(predictor: GuidedPredictor, reference: Reference, image: np.ndarray) -> np.ndarray:
    """The H x W bool subject mask of the reference photo: the mask file, or SAM's mask of the click."""
    if reference.mask is not None:
        mask = read_mask(reference.mask, image.shape[:2])
    elif reference.point is not None:
        try:
            mask, _ = reference_mask_from_clicks(predictor, image, points=np.array([reference.point]))
        except ClickError as err:
            raise DataError(f"{reference.image}: {err}") from None
    else:
        raise DataError("give a reference mask or a reference point")
    if not mask.any():
        raise DataError(f"{reference.mask}: reference mask is empty (no non-zero pixel)")
    return mask


def segment_instances(photos: list[Path], reference: Reference, method: str = "persam_f",
                      predictor: GuidedPredictor | None = None) -> list[InstanceMask]:
    """The subject's mask in every photo (see the module doc)."""
    predictor = predictor or build_predictor()
    ref_image = read_image(reference.image)
    ref_mask = reference_mask(predictor, reference, ref_image)
    segmenter = build_method(predictor, composed_method(method))
    fitted = segmenter.fit([Shot(predictor.embed(ref_image), ref_mask)])
    results = []
    for photo in photos:
        if photo.resolve() == reference.image.resolve():
            results.append(InstanceMask(photo, ref_mask))
            continue
        prediction = segmenter.predict(predictor.embed(read_image(photo)), fitted)
        present = bool(getattr(prediction, "present", True)) and bool(prediction.mask.any())
        results.append(InstanceMask(photo, prediction.mask.astype(bool), present))
    return results


def contact_sheet(masks: list[InstanceMask], columns: int = 4) -> np.ndarray:
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


def write_instance_masks(out: Path, masks: list[InstanceMask]) -> Path:
    """``<out>/<stem>.png`` per photo (palette PNG, 1 = subject) and the contact sheet; returns the sheet's path."""
    for item in masks:
        write_mask(out / f"{item.photo.stem}.png", item.mask)
    write_image(out / SHEET_NAME, contact_sheet(masks))
    return out / SHEET_NAME


def read_instance_masks(folder: Path, photos: list[Path]) -> list[InstanceMask]:
    """The masks of ``photos`` from ``<folder>/<stem>.png`` (any non-zero pixel is the subject)."""
    masks = []
    for photo in photos:
        path = folder / f"{photo.stem}.png"
        if not path.is_file():
            raise DataError(f"{path}: no mask for instance photo {photo.name}")
        mask = read_mask(path, read_image(photo).shape[:2])
        masks.append(InstanceMask(photo, mask, bool(mask.any())))
    return masks
