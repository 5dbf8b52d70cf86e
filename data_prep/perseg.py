"""Verify a copy of PerSeg (40 objects), the dataset of PerSAM's Table 1.

    python data_prep/perseg.py verify data/PerSeg               # layout, all 40 objects, image/mask pairs

PerSeg is published only as a Google Drive zip by the PerSAM authors (it unpacks to a folder named
``data 3/`` holding ``Images/`` and ``Annotations/``); ``python data_prep/download.py --only perseg``
(``make data``) downloads it. Beyond the archive's checksums, ``verify`` checks what can be checked: the 40
object names (``perseg_objects.txt``), every image paired with a mask of the same stem and size, and each
object's reference ``00``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

OBJECTS = (Path(__file__).with_name("perseg_objects.txt")).read_text().split()


def verify(root: Path) -> list[str]:
    """Problems found in a PerSeg folder (empty when it is complete)."""
    from PIL import Image

    problems = []
    for obj in OBJECTS:
        images = {p.stem: p for p in (root / "Images" / obj).glob("*.jpg")}
        masks = {p.stem: p for p in (root / "Annotations" / obj).glob("*.png")}
        if not images:
            problems.append(f"{root / 'Images' / obj}: missing or empty")
            continue
        if "00" not in images:
            problems.append(f"{root / 'Images' / obj}: no reference image 00.jpg")
        for stem in sorted(set(images) - set(masks)):
            problems.append(f"{images[stem]}: no mask {stem}.png")
        for stem in sorted(set(images) & set(masks)):
            if Image.open(images[stem]).size != Image.open(masks[stem]).size:
                problems.append(f"{masks[stem]}: size differs from its image")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("verify").add_argument("root", type=Path)
    root = parser.parse_args().root
    problems = verify(root)
    for problem in problems:
        print(problem)
    found = sum((root / "Images" / o).is_dir() for o in OBJECTS)
    print(f"{root}: {found} of {len(OBJECTS)} PerSeg objects present; {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
