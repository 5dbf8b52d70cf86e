"""Where each input image's results go, so that no two inputs share an output file.

Each image keeps its path relative to the argument it was found through: inside one folder given alone, its
name (``masks/00.png``); when several folders or files are given, the folder's name comes first
(``masks/a/00.png``, ``masks/b/00.png``). Two inputs that would still meet (``x/a/`` and ``y/a/``, or
``00.jpg`` beside ``00.png``) are refused with an error naming both, never silently overwritten.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from persam.data.io import IMAGE_SUFFIXES, DataError


def images_in(path: Path) -> list[Path]:
    """The images directly inside a folder, sorted by name (hidden files skipped)."""
    return sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def image_files(paths: list[Path]) -> list[tuple[Path, PurePosixPath]]:
    """(image file, output key) for every image of ``paths`` (files or folders). The key is the relative
    output path without suffix: ``masks/<key>.png``, ``overlays/<key>.jpg``."""
    several = len(paths) > 1
    found: list[tuple[Path, PurePosixPath]] = []
    for path in paths:
        if path.is_dir():
            # The folder's name as given ("." and ".." made absolute first), not a link's target's name.
            prefix = PurePosixPath(Path(os.path.abspath(path)).name) if several else PurePosixPath()
            found += [(p, prefix / p.stem) for p in images_in(path)]
        elif path.is_file():
            found.append((path, PurePosixPath(path.stem)))
        else:
            raise DataError(f"{path}: no such file or folder")
    if not found:
        raise DataError(f"{', '.join(map(str, paths))}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    owner: dict[PurePosixPath, Path] = {}
    for file, key in found:
        if key in owner:
            raise DataError(f"{owner[key]} and {file} would both be written as {key}.png: rename one of them "
                            "or give them in separate runs")
        owner[key] = file
    return found
