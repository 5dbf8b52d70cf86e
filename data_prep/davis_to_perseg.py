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

from persam.data.io import read_label_map, write_mask  # noqa: E402


def target_indices(n_frames: int) -> list[int]:
    return [int(i) for i in np.round(np.linspace(0, n_frames - 1, 6))[1:]]


def copy_frame(davis: Path, out: Path, seq: str, frame: Path, stem: str) -> None:
    """Copy one DAVIS frame to ``Images/<seq>/<stem>.jpg`` and its 1-object annotation to a {0, 1} palette PNG."""
    annotation = davis / "Annotations" / "480p" / seq / f"{frame.stem}.png"
    labels = read_label_map(annotation)
    objects = set(np.unique(labels)) - {0, 255}
    if len(objects) > 1:
        raise SystemExit(f"error: {annotation}: {len(objects)} objects; davis_perseg takes 1-object sequences")
    (out / "Images" / seq).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(frame, out / "Images" / seq / f"{stem}.jpg")
    write_mask(out / "Annotations" / seq / f"{stem}.png", (labels > 0) & (labels != 255))


def derive(davis: Path, out: Path, sequences: list[str], quiet: bool = False) -> None:
    for seq in sequences:
        frames = sorted((davis / "JPEGImages" / "480p" / seq).glob("*.jpg"))
        if not frames:
            raise SystemExit(f"error: {davis / 'JPEGImages' / '480p' / seq}: sequence not found or empty")
        for new_index, frame_index in enumerate([0, *target_indices(len(frames))]):
            copy_frame(davis, out, seq, frames[frame_index], f"{new_index:02d}")
    if not quiet:
        print(f"{out}: {len(sequences)} objects, 1 reference + 5 targets each")


def default_sequences(davis: Path) -> list[str]:
    """The sequences of ``ImageSets/2017/val_available.txt`` (else ``val.txt``)."""
    sets = davis / "ImageSets" / "2017"
    split = sets / "val_available.txt" if (sets / "val_available.txt").is_file() else sets / "val.txt"
    if not split.is_file():
        raise SystemExit(f"error: {split}: no sequence list; pass --sequences")
    return split.read_text().split()


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
