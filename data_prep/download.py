"""Download, verify and lay out the paper's datasets, then derive the benchmarks made from them.

    python data_prep/download.py --out data            # = make data; needs a network (about 3 GB)
    python data_prep/download.py --out data --only perseg davis2017 --no-derive

Writes, under ``--out``::

    downloads/<archive>.zip         the publishers' archives, kept (``<archive>.zip.part`` while downloading)
    SHA256SUMS                      the SHA-256 of every archive as first verified (``sha256sum -c`` format)
    PerSeg/                         PerSeg, 40 objects (Images/, Annotations/)
    DAVIS2017/                      DAVIS 2017 trainval 480p (JPEGImages/480p, Annotations/480p, ImageSets/2017)
    DAVIS2016/                      DAVIS 2016 480p (JPEGImages/480p, Annotations/480p, ImageSets/480p)
    davis_perseg/ davis_fewshot/    derived from DAVIS2017 (data_prep/davis_to_perseg.py, davis_fewshot.py)
    davis16_perseg/                 derived from DAVIS2016 (data_prep/davis16_to_perseg.py)
    perseg_instances/ davis_perseg_instances/ davis16_perseg_instances/   (data_prep/copy_paste_instances.py)

An archive is verified before it is kept: its size (where the publisher or the server states one), the
publisher's checksum (only DAVIS 2016 has one, an MD5), the SHA-256 recorded in ``SHA256SUMS`` (or the
constant below), and a zip integrity test (every member's CRC). A broken download resumes where it stopped
(HTTP Range, from ``<archive>.zip.part``); a corrupt archive is refused with one line naming it; a verified
archive or unpacked folder is never overwritten (delete it to fetch it again). ``--url KEY=URL`` takes an
archive from a mirror (or a ``file://`` path) instead.
"""

from __future__ import annotations

import argparse
import hashlib
import html.parser
import http.client
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "data_prep"))
sys.path.insert(0, str(ROOT))

CHUNK = 1 << 20
ATTEMPTS = 5  # connections per archive and run; each resumes where the last one stopped


@dataclass(frozen=True)
class Archive:
    key: str
    url: str
    filename: str  # under OUT/downloads/
    folder: str  # unpacked to OUT/<folder>
    required: tuple[str, ...]  # paths that the archive's data root holds (how it is found inside the zip)
    size: int | None = None  # bytes, where the publisher states it
    md5: str | None = None  # the publisher's checksum, where it gives one
    sha256: str | None = None  # recorded on a first download; see SHA-256 below
    skip: tuple[str, ...] = ()  # members with these path parts are not unpacked


# SHA-256: no publisher gives one, and these constants could not be recorded where this code was written (no
# network there); they stay None until someone records them. Until then the first verified download writes its
# own SHA-256 to OUT/SHA256SUMS, and every later run (or copy of OUT/) is checked against that record.
ARCHIVES = {
    # The Google Drive file that the official PerSAM repository's README links (ZrrSkywalker/Personalize-SAM);
    # it unpacks to a folder named "data 3/".
    "perseg": Archive("perseg", "https://drive.google.com/uc?export=download&id=18TbrwhZtAPY5dlaoEqkPa5h08G9Rjcio",
                      "PerSeg.zip", "PerSeg", ("Images", "Annotations")),
    # The URL of the DAVIS challenge's download page and davis2017-evaluation's instructions; no checksum published.
    "davis2017": Archive("davis2017", "https://data.vision.ee.ethz.ch/csergi/share/davis/DAVIS-2017-trainval-480p.zip",
                         "DAVIS-2017-trainval-480p.zip", "DAVIS2017",
                         ("JPEGImages/480p", "Annotations/480p", "ImageSets/2017/val.txt")),
    # The DAVIS 2016 download page's "TrainVal - Images and Annotations" (480p and 1080p; 1080p is not unpacked).
    # MD5 as published in the DAVIS 2016 toolkit's data/get_davis.sh (davisvideochallenge/davis), "1.9GB".
    "davis2016": Archive("davis2016", "https://graphics.ethz.ch/Downloads/Data/Davis/DAVIS-data.zip",
                         "DAVIS-data.zip", "DAVIS2016",
                         ("JPEGImages/480p", "Annotations/480p", "ImageSets/480p/train.txt"),
                         md5="0cb3cf9c5617209fa3cc4794e52a2ffa", skip=("1080p",)),
}


class Refused(Exception):
    """An archive that is not what was published: one line, naming the file."""


# ---- download with resume ----------------------------------------------------------------------------------------

class _Form(html.parser.HTMLParser):
    """A download form's action and hidden fields (Google Drive's "can't scan this file for viruses" page)."""

    def __init__(self):
        super().__init__()
        self.action, self.fields = None, {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = attrs.get("action")
        elif tag == "input" and attrs.get("name") and self.action is not None:
            self.fields[attrs["name"]] = attrs.get("value") or ""


def confirmation_target(url: str, page: str) -> str:
    """The URL that a confirmation page's download form leads to (large Google Drive files answer the first
    request with a "can't scan this file for viruses" page instead of the file)."""
    form = _Form()
    form.feed(page)
    if not form.action:
        raise Refused(f"{url}: returned a web page, not the archive (a quota or sign-in page?); download it "
                      "by hand into the downloads folder and run again")
    return urllib.parse.urljoin(url, form.action) + "?" + urllib.parse.urlencode(form.fields)


def fetch(url: str, part: Path, opener: urllib.request.OpenerDirector) -> tuple[int | None, str | None]:
    """Append the rest of ``url`` to ``part`` (a Range request from its current size). Returns the full size
    where the server states it, and the URL to ask instead when ``url`` answered with a confirmation page.
    A server that ignores the Range starts the file anew."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = opener.open(request, timeout=60)
    except urllib.error.HTTPError as err:
        if err.code == 416:  # nothing beyond what we hold
            total = err.headers.get("Content-Range", "").rpartition("/")[2]
            return (int(total) if total.isdigit() else offset), None
        raise
    with response:
        if "text/html" in response.headers.get("Content-Type", ""):
            return None, confirmation_target(url, response.read(1 << 20).decode("utf-8", "replace"))
        resumed = bool(offset) and getattr(response, "status", None) == 206
        length = response.headers.get("Content-Length")
        total_header = response.headers.get("Content-Range", "").rpartition("/")[2]
        total = int(total_header) if resumed and total_header.isdigit() else None
        if total is None and length is not None:
            total = int(length) + (offset if resumed else 0)
        with part.open("ab" if resumed else "wb") as out:
            try:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
            except (http.client.IncompleteRead, ConnectionError, TimeoutError):
                pass  # the caller sees the short file and resumes
    return total, None


def download(archive: Archive, target: Path) -> None:
    """Download ``archive`` to ``target`` by way of ``target.part``, resuming across connections and runs."""
    part = target.with_name(target.name + ".part")
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    url, total = archive.url, archive.size
    for _ in range(ATTEMPTS):
        try:
            stated, confirmed = fetch(url, part, opener)
        except urllib.error.HTTPError as err:
            if err.code < 500:
                raise Refused(f"{url}: HTTP {err.code} {err.reason}") from None
            print(f"{archive.filename}: {err}; resuming", file=sys.stderr)
            continue
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            print(f"{archive.filename}: connection failed ({err}); resuming", file=sys.stderr)
            continue
        if confirmed:
            url = confirmed
            continue
        if stated is not None and archive.size is not None and stated != archive.size:
            raise Refused(f"{part}: size mismatch (the server states {stated} bytes, the publisher {archive.size})")
        total = total or stated
        if total is None or part.stat().st_size >= total:
            break
        print(f"{archive.filename}: {part.stat().st_size} of {total} bytes; resuming", file=sys.stderr)
    held = part.stat().st_size if part.exists() else 0
    if not held or (total is not None and held != total):
        raise Refused(f"{part}: size mismatch (got {held} bytes, expected {total or 'more'}); run again to resume")
    part.replace(target)


# ---- verification --------------------------------------------------------------------------------------------------

def digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def read_record(record: Path) -> dict[str, str]:
    """``SHA256SUMS``: archive path (relative to OUT) -> SHA-256."""
    if not record.is_file():
        return {}
    sums = {}
    for line in record.read_text().splitlines():
        if line.strip():
            value, _, name = line.partition("  ")
            sums[name.strip()] = value.strip()
    return sums


def verify(archive: Archive, path: Path, recorded: str | None) -> str:
    """Check ``path`` against everything known of ``archive``; its SHA-256. Raises Refused."""
    if archive.size is not None and path.stat().st_size != archive.size:
        raise Refused(f"{path}: size mismatch ({path.stat().st_size} bytes, expected {archive.size})")
    sha256 = digest(path, "sha256")
    for expected, source in ((archive.sha256, "the published"), (recorded, "the recorded (SHA256SUMS)")):
        if expected and sha256 != expected:
            raise Refused(f"{path}: checksum mismatch (SHA-256 {sha256}, {source} {expected})")
    if archive.md5 and digest(path, "md5") != archive.md5:
        raise Refused(f"{path}: checksum mismatch (MD5 differs from the publisher's {archive.md5})")
    if not recorded:  # a first verification: the zip's own CRCs (later runs compare the recorded SHA-256)
        try:
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise Refused(f"{path}: not a valid zip archive ({err})") from None
        if bad is not None:
            raise Refused(f"{path}: zip integrity test failed (member {bad!r} is corrupt)")
    return sha256


def obtain(archive: Archive, out: Path) -> Path:
    """The verified archive under ``out/downloads``: kept if present (and verified), else downloaded."""
    target = out / "downloads" / archive.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    record = out / "SHA256SUMS"
    name = f"downloads/{archive.filename}"
    recorded = read_record(record).get(name)
    if target.exists():
        sha256 = verify(archive, target, recorded)  # never replaced: a copy that fails is refused, not overwritten
        print(f"{target}: present, verified")
    else:
        download(archive, target)
        try:
            sha256 = verify(archive, target, recorded)
        except Refused:
            target.unlink()  # not kept as if verified; the next run downloads it anew
            raise
        print(f"{target}: downloaded, verified")
    if not recorded:
        with record.open("a") as f:
            f.write(f"{sha256}  {name}\n")
    return target


# ---- unpacking -----------------------------------------------------------------------------------------------------

def data_root(zf: zipfile.ZipFile, archive: Archive, path: Path) -> str:
    """The folder inside the zip (``"data 3/"``, ``"DAVIS/"``, or ``""``) that holds ``archive.required``."""
    names = set(zf.namelist())
    folders = {n[:i + 1] for n in names for i, c in enumerate(n) if c == "/"} | {""}
    for folder in sorted(folders, key=len):
        if all(any(n == folder + r or n.startswith(folder + r + "/") for n in names) for r in archive.required):
            return folder
    raise Refused(f"{path}: holds no folder with {', '.join(archive.required)}")


def unpack(archive: Archive, path: Path, out: Path) -> Path:
    """Unpack the archive's data root to ``out/<folder>`` (by way of a temporary folder); kept if present."""
    dest = out / archive.folder
    if dest.exists():
        print(f"{dest}: present, kept")
        return dest
    tmp = out / f".{archive.folder}.unpacking"
    if tmp.exists():
        shutil.rmtree(tmp)
    with zipfile.ZipFile(path) as zf:
        prefix = data_root(zf, archive, path)
        members = [m for m in zf.namelist() if m.startswith(prefix) and not set(archive.skip) & set(m.split("/"))]
        zf.extractall(tmp, members)
    (tmp / prefix).replace(dest)  # tmp itself where the data root is the zip's top
    if tmp.exists():
        shutil.rmtree(tmp)
    print(f"{dest}: unpacked")
    return dest


# ---- derived sets --------------------------------------------------------------------------------------------------

def derive_all(out: Path, roots: dict[str, Path]) -> None:
    """davis_perseg, davis_fewshot, davis16_perseg and the copy-paste composites, by the data_prep scripts."""
    from copy_paste_instances import build
    from davis16_to_perseg import derive16
    from davis_fewshot import derive_fewshot
    from davis_to_perseg import default_sequences, derive

    def fresh(name: str) -> Path:
        if (out / name).exists():
            shutil.rmtree(out / name)
        return out / name

    image_sets = {}
    if "davis2017" in roots:
        sequences = default_sequences(roots["davis2017"])
        derive(roots["davis2017"], fresh("davis_perseg"), sequences)
        derive_fewshot(roots["davis2017"], fresh("davis_fewshot"), sequences)
        image_sets["davis_perseg"] = out / "davis_perseg"
    if "davis2016" in roots:
        image_sets["davis16_perseg"] = out / "davis16_perseg"
        derive16(roots["davis2016"], image_sets["davis16_perseg"])
    if "perseg" in roots:
        image_sets["perseg"] = roots["perseg"]
    for name, src in image_sets.items():
        manifest = build(src, fresh(f"{name}_instances"))
        made = sum(len(v) for v in manifest["objects"].values())
        print(f"{out / (name + '_instances')}: {len(manifest['objects'])} objects, {made} composites")


# ---- command line --------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data"))
    parser.add_argument("--only", nargs="+", choices=sorted(ARCHIVES), help="some archives only (default: all)")
    parser.add_argument("--url", action="append", default=[], metavar="KEY=URL", help="a mirror for an archive")
    parser.add_argument("--no-derive", action="store_true", help="download and unpack only")
    args = parser.parse_args(argv)
    archives = dict(ARCHIVES)
    for item in args.url:
        key, _, url = item.partition("=")
        if key not in archives or not url:
            parser.error(f"--url {item}: expected KEY=URL with KEY one of {', '.join(sorted(archives))}")
        archives[key] = replace(archives[key], url=url)
    from perseg import verify as verify_perseg

    args.out.mkdir(parents=True, exist_ok=True)
    roots = {}
    try:
        for key in args.only or list(archives):
            roots[key] = unpack(archives[key], obtain(archives[key], args.out), args.out)
    except Refused as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if "perseg" in roots and (problems := verify_perseg(roots["perseg"])):
        print(f"error: {roots['perseg']}: not the full PerSeg ({len(problems)} problems, e.g. {problems[0]})",
              file=sys.stderr)
        return 1
    if not args.no_derive:
        derive_all(args.out, roots)
    return 0


if __name__ == "__main__":
    sys.exit(main())
