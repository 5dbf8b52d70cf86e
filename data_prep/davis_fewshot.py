"""Derive a few-shot PerSeg-layout benchmark (``davis_fewshot``) from DAVIS sequences.

    python data_prep/davis_fewshot.py --davis ../shared/data/davis2017 --out data/davis_fewshot

It is ``davis_perseg`` (data_prep/davis_to_perseg.py, whose code this reuses) plus two extra reference frames
per sequence. For a sequence of n frames:

* ``00``: frame 0, the one reference of davis_perseg (and of every k);
* ``01``..``05``: the targets, frames ``round(linspace(0, n - 1, 6))[1:]`` (fractions 0.2, 0.4, ..., 1.0 of
  the sequence), identical to davis_perseg's, so k = 1 here is davis_perseg itself;
* ``r1``, ``r2``: the extra references, frames ``round(0.3 (n - 1))`` and ``round(0.7 (n - 1))``.

Rule for the extra references: the references of k = 3 (fractions 0, 0.3, 0.7) are spread over the sequence
as evenly as frames that are no target allow (each lies midway between two targets, 0.1 of the sequence from
either), and k = 2 takes the first of them (``r1``). A sequence too short for the five targets and two extra
frames to be distinct is an error.

The few-shot protocol compares k = 1, 2, 3 on the same targets, ``01``..``05`` (the images that are a
reference for no k): ``dataset.ref_stems=[00]``, ``[00,r1]``, ``[00,r1,r2]`` with ``r1``, ``r2`` kept out of
the targets for every k.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "data_prep"))
sys.path.insert(0, str(ROOT))

from davis_to_perseg import command_line, copy_frame, derive, target_indices  # noqa: E402

EXTRA_REFERENCE_FRACTIONS = {"r1": 0.3, "r2": 0.7}
REFERENCE_STEMS = ["00", *EXTRA_REFERENCE_FRACTIONS]


def extra_reference_indices(n_frames: int) -> dict[str, int]:
    """Frame index of each extra reference stem (see module doc); checked to be distinct from every target."""
    chosen = {stem: int(np.round(f * (n_frames - 1))) for stem, f in EXTRA_REFERENCE_FRACTIONS.items()}
    taken = {0, *target_indices(n_frames)}
    if len(taken) != 6 or taken & set(chosen.values()) or len(set(chosen.values())) != len(chosen):
        raise ValueError(f"a sequence of {n_frames} frames is too short for 5 targets and "
                         f"{len(chosen)} extra references on distinct frames")
    return chosen


def derive_fewshot(davis: Path, out: Path, sequences: list[str]) -> None:
    derive(davis, out, sequences, quiet=True)
    for seq in sequences:
        frames = sorted((davis / "JPEGImages" / "480p" / seq).glob("*.jpg"))
        try:
            chosen = extra_reference_indices(len(frames))
        except ValueError as err:
            raise SystemExit(f"error: {davis / 'JPEGImages' / '480p' / seq}: {err}") from None
        for stem, frame_index in chosen.items():
            copy_frame(davis, out, seq, frames[frame_index], stem)
    print(f"{out}: {len(sequences)} objects, references {', '.join(REFERENCE_STEMS)} + 5 targets (01..05) each")


def main() -> int:
    return command_line(__doc__.split("\n")[0], ROOT / "data" / "davis_fewshot", derive_fewshot)


if __name__ == "__main__":
    sys.exit(main())
