"""Download and verify PerSeg (40 objects), the dataset of PerSAM's Table 1.

    python data_prep/perseg.py download --dest data/PerSeg     # needs a network
    python data_prep/perseg.py verify data/PerSeg               # layout, all 40 objects, image/mask pairs

PerSeg is published only as a Google Drive zip by the PerSAM authors (it unpacks to a folder named
``data 3/`` holding ``Images/`` and ``Annotations/``). No checksum is published, so ``verify`` checks what
can be checked: the 40 object names (``perseg_objects.txt``), every image paired with a mask of the same
stem and size, and each object's reference ``00``.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import re
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

DRIVE_ID = "18TbrwhZtAPY5dlaoEqkPa5h08G9Rjcio"
DRIVE_URL = "https://drive.google.com/uc?export=download&id=" + DRIVE_ID
OBJECTS = (Path(__file__).with_name("perseg_objects.txt")).read_text().split()


def download(dest: Path) -> None:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "perseg.zip"
        try:
            with opener.open(DRIVE_URL, timeout=60) as response:
                body = response.read()
            if body[:2] != b"PK":  # Google's "can't scan this file for viruses" page: follow its confirm link
                html = body.decode("utf-8", "replace")
                token = re.search(r'name="confirm" value="([^"]+)"', html) or re.search(r"confirm=([0-9A-Za-z_-]+)", html)
                uuid = re.search(r'name="uuid" value="([^"]+)"', html)
                url = "https://drive.usercontent.google.com/download?export=download&id=" + DRIVE_ID
                url += f"&confirm={token.group(1) if token else 't'}" + (f"&uuid={uuid.group(1)}" if uuid else "")
                with opener.open(url, timeout=600) as response:
                    body = response.read()
            archive.write_bytes(body)
        except OSError as err:
            sys.exit(f"error: could not download PerSeg from Google Drive ({err}). Without a network, download "
                     f"https://drive.google.com/file/d/{DRIVE_ID}/view elsewhere, unzip it and pass its folder "
                     "(the one holding Images/ and Annotations/) as dataset.root.")
        if not zipfile.is_zipfile(archive):
            sys.exit(f"error: {DRIVE_URL} did not return a zip file (Google Drive may ask for a manual download)")
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        roots = [p.parent for p in Path(tmp).rglob("Images") if (p.parent / "Annotations").is_dir()]
        if not roots:
            sys.exit("error: the archive holds no Images/ + Annotations/ folders")
        dest.mkdir(parents=True, exist_ok=True)
        for kind in ("Images", "Annotations"):
            shutil.copytree(roots[0] / kind, dest / kind, dirs_exist_ok=True)
    print(f"PerSeg unpacked into {dest}")


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
    sub.add_parser("download").add_argument("--dest", type=Path, default=Path("data/PerSeg"))
    sub.add_parser("verify").add_argument("root", type=Path)
    args = parser.parse_args()
    if args.command == "download":
        download(args.dest)
        root = args.dest
    else:
        root = args.root
    problems = verify(root)
    for problem in problems:
        print(problem)
    found = sum((root / "Images" / o).is_dir() for o in OBJECTS)
    print(f"{root}: {found} of {len(OBJECTS)} PerSeg objects present; {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
