"""Derive a PerSeg-layout image benchmark (``davis_perseg``) from DAVIS sequences.

    python data_prep/davis_to_perseg.py --davis ../shared/data/davis2017 --out data/davis_perseg

For each sequence with a single object: the reference is frame 00000 (written as ``00``) and the targets are
the 5 frames at indices ``numpy.round(numpy.linspace(0, n - 1, 6))[1:]`` (written as ``01``..``05``). Images
are copied byte for byte; masks become PerSeg-style palette PNGs with values {0, 1}. The sequence list
defaults to ``ImageSets/2017/val_available.txt`` (else ``val.txt``); a listed sequence that is missing, or
one with several objects, is an error.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from persam.data.davis import read_annotation  # noqa: E402
from persam.data.io import write_mask  # noqa: E402


def target_indices(n_frames: int) -> list[int]:
    """The 5 target frames of a sequence of ``n_frames``: ``round(linspace(0, n - 1, 6))[1:]`` (frame 0 is the
    reference). (n - 1) k / 5 never ends in .5, so numpy's half-to-even rounding never decides a frame."""
    return [int(i) for i in np.round(np.linspace(0, n_frames - 1, 6))[1:]]


def frame_indices(n_frames: int) -> list[int]:
    """Reference and targets, in the order of the stems 00..05."""
    return [0, *target_indices(n_frames)]


def copy_frame(davis: Path, out: Path, seq: str, frame: Path, stem: str, year: int = 2017) -> None:
    """Copy one DAVIS frame to ``Images/<seq>/<stem>.jpg`` and its 1-object annotation to a {0, 1} palette PNG
    (``year=2016``: DAVIS 2016's binary 0/255 masks, every non-zero pixel the object)."""
    annotation = davis / "Annotations" / "480p" / seq / f"{frame.stem}.png"
    labels = read_annotation(annotation, year)
    objects = set(np.unique(labels)) - {0, 255}
    if len(objects) > 1:
        raise SystemExit(f"error: {annotation}: {len(objects)} objects; davis_perseg takes 1-object sequences")
    (out / "Images" / seq).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(frame, out / "Images" / seq / f"{stem}.jpg")
    write_mask(out / "Annotations" / seq / f"{stem}.png", (labels > 0) & (labels != 255))


def sequence_frames(davis: Path, seq: str) -> list[Path]:
    frames = sorted((davis / "JPEGImages" / "480p" / seq).glob("*.jpg"))
    if not frames:
        raise SystemExit(f"error: {davis / 'JPEGImages' / '480p' / seq}: sequence not found or empty")
    return frames


def derive(davis: Path, out: Path, sequences: list[str], quiet: bool = False, year: int = 2017) -> dict:
    """Write the PerSeg-layout set; returns each sequence's ``{"n_frames", "frame_indices"}``."""
    chosen = {}
    for seq in sequences:
        frames = sequence_frames(davis, seq)
        chosen[seq] = {"n_frames": len(frames), "frame_indices": frame_indices(len(frames))}
        for new_index, frame_index in enumerate(chosen[seq]["frame_indices"]):
            copy_frame(davis, out, seq, frames[frame_index], f"{new_index:02d}", year)
    if not quiet:
        print(f"{out}: {len(sequences)} objects, 1 reference + 5 targets each")
    return chosen


def default_sequences(davis: Path) -> list[str]:
    """``ImageSets/2017/val_available.txt`` where it exists, else the one-object sequences of ``val.txt``
    (objects counted in each sequence's first annotation, where DAVIS 2017 labels every object)."""
    sets = davis / "ImageSets" / "2017"
    if (sets / "val_available.txt").is_file():
        return (sets / "val_available.txt").read_text().split()
    if not (sets / "val.txt").is_file():
        raise SystemExit(f"error: {sets / 'val.txt'}: no sequence list; pass --sequences")
    return [seq for seq in (sets / "val.txt").read_text().split() if object_count(davis, seq) == 1]


def object_count(davis: Path, seq: str) -> int:
    first = davis / "Annotations" / "480p" / seq / f"{sequence_frames(davis, seq)[0].stem}.png"
    return len(set(np.unique(read_annotation(first))) - {0, 255})


def command_line(description: str, default_out: Path, derive_fn) -> int:
    """The command line of a DAVIS derivation: ``--davis``, ``--out`` (replaced if it exists), ``--sequences``;
    runs ``derive_fn(davis, out, sequences)``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--davis", type=Path, required=True, help="a DAVIS root (JPEGImages/, Annotations/, ImageSets/)")
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--sequences", nargs="*", help="default: ImageSets/2017/val_available.txt, else val.txt")
    args = parser.parse_args()
    sequences = args.sequences or default_sequences(args.davis)
    if args.out.exists():
        shutil.rmtree(args.out)
    derive_fn(args.davis, args.out, sequences)
    return 0


def main() -> int:
    return command_line(__doc__.split("\n")[0], ROOT / "data" / "davis_perseg", derive)


if __name__ == "__main__":
    sys.exit(main())
