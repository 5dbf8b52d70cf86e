"""Derive the ``davis16_perseg`` image benchmark from a DAVIS 2016 release (``DAVIS-data.zip``, unpacked).

    python data_prep/davis16_to_perseg.py --davis data/DAVIS2016 --out data/davis16_perseg

The objects: the DAVIS-2016 **train** sequences (``ImageSets/480p/train.txt``, 30 sequences, one object each)
whose 1-based position in the sorted list is not a multiple of 3: 20 sequences, the ones of
../shared/data/davis16_train20_perseg (its SOURCES.md; the other 10 are held out for evaluation elsewhere).
None of them is in DAVIS 2017 val. ``--sequences`` names others (e.g. all 30).

The frames: davis_perseg's rule, by its code (data_prep/davis_to_perseg.py): frame 00000 is the reference
``00``, the frames ``round(linspace(0, n - 1, 6))[1:]`` the targets ``01``..``05``; images copied byte for
byte, DAVIS 2016's 0/255 masks written as palette PNGs with values {0, 1}. Besides ``Images/`` and
``Annotations/``, the output holds ``sequences.txt`` and ``frames.json`` (each sequence's ``n_frames`` and
``frame_indices``), as the shared copy does.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "data_prep"))
sys.path.insert(0, str(ROOT))

from davis_to_perseg import derive  # noqa: E402

HELD_OUT_EVERY = 3  # every 3rd train sequence (1-based) is held out


def train_sequences(davis: Path) -> list[str]:
    """The sorted sequence names of ``ImageSets/480p/train.txt``. DAVIS 2016 lists frame pairs there
    (``/JPEGImages/480p/bear/00000.jpg /Annotations/480p/bear/00000.png``); a plain list of names is read too."""
    split = davis / "ImageSets" / "480p" / "train.txt"
    if not split.is_file():
        raise SystemExit(f"error: {split}: not found; is {davis} an unpacked DAVIS 2016 release (DAVIS-data.zip)?")
    names = {Path(line.split()[0]).parent.name if "/" in line else line.split()[0]
             for line in split.read_text().splitlines() if line.strip()}
    return sorted(names)


def selected_sequences(train: list[str]) -> list[str]:
    """The train sequences whose 1-based position is not a multiple of ``HELD_OUT_EVERY``."""
    return [seq for position, seq in enumerate(train, start=1) if position % HELD_OUT_EVERY]


def derive16(davis: Path, out: Path, sequences: list[str] | None = None) -> dict:
    """Write davis16_perseg to ``out`` (replaced); returns ``frames.json``'s content."""
    sequences = sequences or selected_sequences(train_sequences(davis))
    if out.exists():
        shutil.rmtree(out)
    chosen = derive(davis, out, sequences, quiet=True, year=2016)
    (out / "sequences.txt").write_text("".join(f"{seq}\n" for seq in sequences))
    (out / "frames.json").write_text(json.dumps(chosen, indent=1) + "\n")
    print(f"{out}: {len(sequences)} DAVIS-2016 objects, 1 reference + 5 targets each")
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--davis", type=Path, required=True, help="an unpacked DAVIS 2016 release (ImageSets/480p/)")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "davis16_perseg")
    parser.add_argument("--sequences", nargs="*", help="default: 20 of the 30 train sequences (see above)")
    args = parser.parse_args()
    derive16(args.davis, args.out, args.sequences)
    return 0


if __name__ == "__main__":
    sys.exit(main())
