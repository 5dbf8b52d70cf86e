"""DAVIS layout: ``JPEGImages/480p/<seq>/NNNNN.jpg``, ``Annotations/480p/<seq>/NNNNN.png``,
``ImageSets/<year>/<split>.txt``.

* DAVIS 2017 (``year=2017``): annotations are palette PNGs read by index: 0 background, 1..N the objects,
  255 void (where present).
* DAVIS 2016 (``year=2016``): binary annotations (0 / 255, grayscale or palette); every non-zero pixel is the
  one object, label 1 (255 is the object here, not void).

Frames and annotations are paired by file stem; a frame without its annotation is an error (the first
frame's annotation is the prompt, the others are the ground truth). A sequence that is named (in the split
file or explicitly) but absent is an error, never skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from persam.data.io import DEFAULT_PALETTE, DataError, read_label_map

VOID = 255
YEARS = (2016, 2017)


@dataclass(frozen=True)
class DavisSequence:
    """One sequence: its frames (stem, image, annotation), frame 0 first."""

    name: str
    frames: tuple[tuple[str, Path, Path], ...]
    year: int = 2017

    @property
    def stems(self) -> list[str]:
        return [stem for stem, _, _ in self.frames]

    def annotation(self, index: int) -> np.ndarray:
        """H x W uint8 label map of frame ``index`` (0 background, 1..N objects, 255 void for 2017)."""
        return read_annotation(self.frames[index][2], self.year)

    def palette(self) -> list[int]:
        """The palette of the first annotation (so predictions look like the ground truth), else DAVIS's."""
        return annotation_palette(self.frames[0][2])


def read_annotation(path: str | Path, year: int = 2017) -> np.ndarray:
    """H x W uint8 labels of a DAVIS annotation (see module doc for the two years' encodings)."""
    if year not in YEARS:
        raise ValueError(f"DAVIS year must be one of {YEARS}, got {year!r}")
    labels = read_label_map(path)
    if year == 2016:
        return (labels > 0).astype(np.uint8)
    if labels.max(initial=0) > 255 or labels.min(initial=0) < 0:
        raise DataError(f"{path}: labels outside 0..255; a DAVIS 2017 annotation is an 8-bit palette PNG")
    return labels.astype(np.uint8)


def annotation_palette(path: str | Path) -> list[int]:
    try:
        with Image.open(path) as image:
            palette = image.getpalette() if image.mode == "P" else None
    except OSError:
        palette = None
    if not palette:
        return list(DEFAULT_PALETTE)
    return (palette + DEFAULT_PALETTE[len(palette):])[:768]


def split_names(root: str | Path, split: str, year: int = 2017) -> list[str]:
    """Sequence names of a split: ``ImageSets/<year>/<split>.txt`` under ``root``, or ``split`` as a path
    to such a file (one name per line). DAVIS 2016 roots without ImageSets/2016 fall back to 2017's lists."""
    root = Path(root)
    candidates = [Path(split)] if split.endswith(".txt") or "/" in split else []
    candidates += [root / "ImageSets" / str(y) / f"{split}.txt" for y in dict.fromkeys((year, 2017))]
    for path in candidates:
        if path.is_file():
            names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
            if not names:
                raise DataError(f"{path}: the split file lists no sequences")
            return names
    raise DataError(f"split {split!r} not found (looked for {', '.join(str(c) for c in candidates)})")


def _by_stem(folder: Path, suffixes: set[str]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.is_dir() or path.suffix.lower() not in suffixes:
            continue
        if path.stem in files:
            raise DataError(f"{path}: two files share the stem {path.stem!r} ({files[path.stem].name})")
        files[path.stem] = path
    return files


def load_sequence(root: str | Path, name: str, year: int = 2017, resolution: str = "480p") -> DavisSequence:
    root = Path(root)
    image_dir = root / "JPEGImages" / resolution / name
    mask_dir = root / "Annotations" / resolution / name
    if not image_dir.is_dir():
        raise DataError(f"{image_dir}: sequence {name!r} not found")
    if not mask_dir.is_dir():
        raise DataError(f"{mask_dir}: annotations of sequence {name!r} not found")
    images = _by_stem(image_dir, {".jpg", ".jpeg", ".png"})
    masks = _by_stem(mask_dir, {".png"})
    if not images:
        raise DataError(f"{image_dir}: sequence {name!r} has no frames")
    frames = []
    for stem in sorted(images):
        if stem not in masks:
            raise DataError(f"{images[stem]}: frame has no annotation {mask_dir / (stem + '.png')}")
        frames.append((stem, images[stem], masks[stem]))
    orphans = sorted(set(masks) - set(images))
    if orphans:
        raise DataError(f"{masks[orphans[0]]}: annotation has no frame {image_dir / (orphans[0] + '.jpg')} "
                        f"({len(orphans)} such)")
    if all(stem.isdigit() for stem in images):  # DAVIS numbers its frames 00000, 00001, ...: a gap is a lost frame
        numbers = sorted(int(stem) for stem in images)
        gaps = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
        if gaps:
            width = len(frames[0][0])
            raise DataError(f"{image_dir}: frame {gaps[0]:0{width}d} is missing ({len(gaps)} missing between "
                            f"{numbers[0]:0{width}d} and {numbers[-1]:0{width}d}); is the sequence fully extracted?")
    return DavisSequence(name, tuple(frames), year)


def load_davis(root: str | Path, sequences: list[str] | str | None = None, split: str = "val", year: int = 2017,
               resolution: str = "480p") -> list[DavisSequence]:
    """The sequences of a DAVIS folder: the named ones (a list, or a comma-separated string), else those of
    ``split`` (a split name under ``ImageSets/<year>/`` or a path to a split file). A named sequence that is
    absent is an error."""
    root = Path(root)
    if year not in YEARS:
        raise ValueError(f"DAVIS year must be one of {YEARS}, got {year!r}")
    if not (root / "JPEGImages" / resolution).is_dir():
        raise DataError(f"{root / 'JPEGImages' / resolution}: not a folder; a DAVIS root holds "
                        f"JPEGImages/{resolution}/<seq>/ and Annotations/{resolution}/<seq>/")
    if isinstance(sequences, str):
        sequences = [s.strip() for s in sequences.split(",") if s.strip()]
    names = list(sequences) if sequences else split_names(root, split, year)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DataError(f"sequences named twice: {', '.join(duplicates)}")
    missing = [n for n in names if not (root / "JPEGImages" / resolution / n).is_dir()]
    if missing:
        raise DataError(f"{root / 'JPEGImages' / resolution}: sequences not found: {', '.join(missing)}")
    return [load_sequence(root, name, year, resolution) for name in names]

