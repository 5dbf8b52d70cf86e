"""Reading images and masks as a person sees them, with one-line errors that name the file.

Images: any format Pillow reads; EXIF orientation applied; grayscale, RGBA, CMYK, palette and 16-bit
images become H x W x 3 uint8 RGB (16-bit is scaled down to 8 bits, alpha is dropped).
Masks: a palette PNG (DAVIS / PerSeg style) is read by palette index, a grayscale or RGB mask by value;
any non-zero pixel is the object, except DAVIS's 255 "void" which callers can ask to treat separately.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from persam.atomic import atomic_path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


class DataError(ValueError):
    """Bad input data. The message names the file and the problem."""


class UnreadableImageError(DataError):
    """An image or mask file that cannot be read; ``reason`` says why without the file's path (the batches
    list it beside the file's own name, :mod:`persam.segment.unreadable`)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def _open(path: Path) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
    except FileNotFoundError:
        raise UnreadableImageError(path, "file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        # Pillow's message repeats the path; the file's name is enough inside the reason.
        detail = str(err).replace(str(path), path.name)
        raise UnreadableImageError(path, f"not a readable image ({detail})") from None
    return ImageOps.exif_transpose(image)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """H x W x 3 uint8 RGB, upright as EXIF says."""
    path = Path(path)
    image = _open(path)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8).copy()


def read_label_map(path: str | os.PathLike) -> np.ndarray:
    """H x W integer labels: palette indices for palette PNGs, else the pixel value (max over channels)."""
    path = Path(path)
    image = _open(path)
    if image.mode == "P":
        return np.asarray(image, dtype=np.int64)
    array = np.asarray(image)
    if array.ndim == 3:
        array = array[..., :3].max(axis=2) if array.shape[2] in (3, 4) else array[..., 0]
    return array.astype(np.int64)


def read_mask(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """H x W boolean object mask (any non-zero label). ``size`` = expected (H, W) of its image."""
    labels = read_label_map(path)
    if size is not None and labels.shape != tuple(size):
        raise DataError(
            f"{path}: mask is {labels.shape[1]}x{labels.shape[0]} but its image is {size[1]}x{size[0]} (W x H)"
        )
    return labels > 0


def write_mask(path: str | os.PathLike, mask: np.ndarray, palette: list[int] | None = None) -> None:
    """Write an H x W label map (bool or small ints) as a palette PNG, atomically."""
    image = Image.fromarray(mask.astype(np.uint8), mode="P")
    image.putpalette(palette or DEFAULT_PALETTE)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def _davis_palette() -> list[int]:
    # The PASCAL VOC / DAVIS colour map: index bits spread over the high bits of R, G and B.
    palette = []
    for index in range(256):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette += [r, g, b]
    return palette


DEFAULT_PALETTE = _davis_palette()
