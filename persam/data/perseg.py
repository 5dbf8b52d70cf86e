"""PerSeg layout: ``Images/<object>/NN.jpg`` and ``Annotations/<object>/NN.png``.

One object per folder; the references are the images with the stems ``ref_stems`` (default ``00``); every
other image is a target (except the stems in ``not_targets``: a few-shot comparison keeps its targets fixed
across the number of references), paired with the annotation of the same file stem (never by sorted position).
:func:`load_episodes` is the reference rotation instead: every image whose mask holds the object is the one
reference of an episode, the object's other images its targets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from persam.data.io import IMAGE_SUFFIXES, DataError


@dataclass(frozen=True)
class PerSegObject:
    name: str
    references: tuple[tuple[str, Path, Path], ...]  # (stem, image, mask), in the order of ref_stems
    targets: tuple[tuple[str, Path, Path], ...]  # (stem, image, ground-truth mask)

    @property
    def ref_image(self) -> Path:
        """The first reference's image."""
        return self.references[0][1]

    @property
    def ref_mask(self) -> Path:
        """The first reference's mask."""
        return self.references[0][2]


def _by_stem(folder: Path, kind: str) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.is_dir():
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(f"{path}: not an image file ({kind} folders hold only images)")
        if path.stem in files:
            raise DataError(f"{path}: two {kind} files share the stem {path.stem!r} ({files[path.stem].name})")
        files[path.stem] = path
    return files


def list_objects(root: str | Path) -> list[str]:
    images = Path(root) / "Images"
    if not images.is_dir():
        raise DataError(f"{images}: not a folder; a PerSeg root holds Images/<object>/ and Annotations/<object>/")
    return sorted(p.name for p in images.iterdir() if p.is_dir() and not p.name.startswith("."))


def _object_files(root: Path, name: str) -> tuple[Path, Path, dict[str, Path], dict[str, Path]]:
    """The object's image and annotation folders and their files by stem (an object without images: an error)."""
    image_dir, mask_dir = root / "Images" / name, root / "Annotations" / name
    if not image_dir.is_dir():
        raise DataError(f"{image_dir}: object folder not found")
    if not mask_dir.is_dir():
        raise DataError(f"{mask_dir}: annotation folder for object {name!r} not found")
    images, masks = _by_stem(image_dir, "image"), _by_stem(mask_dir, "annotation")
    if not images:
        raise DataError(f"{image_dir}: object folder has no images")
    return image_dir, mask_dir, images, masks


def _annotated(image: Path, stem: str, masks: dict[str, Path], mask_dir: Path) -> tuple[str, Path, Path]:
    if stem not in masks:
        raise DataError(f"{image}: target image has no ground-truth mask {mask_dir / (stem + '.png')}")
    return stem, image, masks[stem]


def load_object(root: str | Path, name: str, ref_stems: Sequence[str] = ("00",),
                not_targets: Sequence[str] = ()) -> PerSegObject:
    image_dir, mask_dir, images, masks = _object_files(Path(root), name)
    ref_stems = [str(s) for s in ref_stems]
    if not ref_stems:
        raise DataError(f"{image_dir}: no reference stems given (dataset.ref_stems is empty)")
    for ref_stem in ref_stems:
        if ref_stem not in images:
            raise DataError(f"{image_dir}: no reference image with stem {ref_stem!r} "
                            f"(found {', '.join(sorted(images))})")
        if ref_stem not in masks:
            raise DataError(f"{mask_dir}: no reference mask {ref_stem}.png for {images[ref_stem].name}")
    skip = set(ref_stems) | {str(s) for s in not_targets}
    targets = [_annotated(image, stem, masks, mask_dir) for stem, image in images.items() if stem not in skip]
    if not targets:
        raise DataError(f"{image_dir}: object {name!r} has no target image besides its references")
    references = tuple((stem, images[stem], masks[stem]) for stem in ref_stems)
    return PerSegObject(name, references, tuple(targets))


def load_episodes(root: str | Path, name: str, holds_object: Callable[[Path], bool]) -> list[PerSegObject]:
    """The reference rotation of one object: one episode per image whose mask holds the object
    (``holds_object(mask_path)``), that image the one reference and every other image of the object a target.
    An image with an empty mask (the object has left the view) is never a reference but stays a target."""
    image_dir, mask_dir, images, masks = _object_files(Path(root), name)
    every = [_annotated(image, stem, masks, mask_dir) for stem, image in images.items()]
    if len(every) < 2:
        raise DataError(f"{image_dir}: object {name!r} has one image; rotation needs a target besides the reference")
    references = [entry for entry in every if holds_object(entry[2])]
    if not references:
        raise DataError(f"{mask_dir}: every mask of object {name!r} is empty, so no image can be its reference")
    return [PerSegObject(name, (ref,), tuple(e for e in every if e[0] != ref[0])) for ref in references]


def object_names(root: str | Path, objects: list[str] | None = None) -> list[str]:
    """The object folders of a PerSeg root (all, or the named ones; a named object that is absent is an error)."""
    available = list_objects(root)
    if objects:
        missing = [o for o in objects if o not in available]
        if missing:
            raise DataError(f"{Path(root) / 'Images'}: objects not found: {', '.join(missing)}")
        names = list(objects)
    else:
        names = available
    if not names:
        raise DataError(f"{Path(root) / 'Images'}: no object folders")
    return names


def load_perseg(root: str | Path, objects: list[str] | None = None, ref_stems: Sequence[str] = ("00",),
                not_targets: Sequence[str] = ()) -> list[PerSegObject]:
    """The objects of a PerSeg folder (all, or the named ones; a named object that is absent is an error)."""
    return [load_object(root, name, ref_stems, not_targets) for name in object_names(root, objects)]
