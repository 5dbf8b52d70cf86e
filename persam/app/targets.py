"""What a person uploads as targets, as image files: photos, zips of photos, videos (frames read with OpenCV).

Each usable image gets a unique key (its output path without suffix): ``<photo stem>``,
``<zip stem>/<path inside the zip>``, ``<video stem>/<frame index, 5 digits>``; a key already taken gets
``-2``, ``-3``, ... so that no result overwrites another. Uploads that cannot be used are reported, one line
each, naming the file and the problem. Photos are taken by their suffix, as ``persam segment`` takes a folder's;
one that turns out unreadable is skipped by the run, which says why (:mod:`persam.segment.unreadable`).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import cv2

from persam.data.io import IMAGE_SUFFIXES

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}
MAX_VIDEO_FRAMES = 300  # a laptop CPU segments ~1 frame/s; longer videos keep their first frames (said so)


@dataclass
class Targets:
    """Usable images as (key, file), and one message per upload (or part of one) that was not used."""

    images: list[tuple[str, Path]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, key: PurePosixPath, path: Path) -> None:
        taken = {k for k, _ in self.images}
        unique, n = str(key), 1
        while unique in taken:
            n += 1
            unique = f"{key}-{n}"
        self.images.append((unique, path))


def read_video(path: Path, frames_dir: Path, targets: Targets) -> None:
    """Write the video's frames as JPEGs under ``frames_dir`` (at most ``MAX_VIDEO_FRAMES``)."""
    capture = cv2.VideoCapture(str(path))
    count = 0
    try:
        while capture.isOpened() and count < MAX_VIDEO_FRAMES:
            ok, frame = capture.read()
            if not ok:
                break
            file = frames_dir / f"{count:05d}.jpg"
            file.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(file), frame)
            targets.add(PurePosixPath(path.stem) / f"{count:05d}", file)
            count += 1
        more = count == MAX_VIDEO_FRAMES and capture.read()[0]
    finally:
        capture.release()
    if count == 0:
        targets.problems.append(f"{path.name}: no readable frame (not a video OpenCV can decode)")
    elif more:
        targets.problems.append(f"{path.name}: only the first {MAX_VIDEO_FRAMES} frames were used")


def read_zip(path: Path, unpack_dir: Path, targets: Targets) -> None:
    """Extract the zip's images (other members are skipped, and counted in a message)."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        targets.problems.append(f"{path.name}: not a readable zip file")
        return
    skipped = 0
    with archive:
        for member in sorted(archive.namelist()):
            inner = PurePosixPath(member)
            if member.endswith("/") or inner.name.startswith(".") or "__MACOSX" in inner.parts:
                continue
            if inner.suffix.lower() not in IMAGE_SUFFIXES or ".." in inner.parts:
                skipped += 1
                continue
            file = unpack_dir / Path(*inner.parts)
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(archive.read(member))
            targets.add(PurePosixPath(path.stem) / inner.with_suffix(""), file)
    if skipped:
        targets.problems.append(f"{path.name}: {skipped} file(s) inside are not images and were skipped")
    if not any(key.startswith(f"{path.stem}/") for key, _ in targets.images):
        targets.problems.append(f"{path.name}: the zip holds no image")


def read_targets(uploads: list[Path], work_dir: Path) -> Targets:
    """Sort the uploads into images; zips and videos are unpacked under ``work_dir``."""
    targets = Targets()
    for i, path in enumerate(uploads):
        suffix = path.suffix.lower()
        if suffix == ".zip":
            read_zip(path, work_dir / f"zip{i}", targets)
        elif suffix in VIDEO_SUFFIXES:
            read_video(path, work_dir / f"video{i}", targets)
        elif suffix in IMAGE_SUFFIXES:
            targets.add(PurePosixPath(path.stem), path)
        else:
            targets.problems.append(f"{path.name}: not an image, a zip of images or a video")
    return targets
