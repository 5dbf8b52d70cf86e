"""``make data`` (data_prep/download.py) end to end, without a network: archives built here in the publishers'
layouts (PerSeg's zip unpacks to ``data 3/``; DAVIS 2017 trainval and DAVIS 2016's DAVIS-data.zip to
``DAVIS/``), served by a loopback HTTP server that answers Range requests, can cut a response short, and can
put a Google-Drive-like confirmation page before the file. Then davis16_perseg's derivation against the frames
recorded in ../shared/data/davis16_train20_perseg/frames.json, object by object."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import threading
import urllib.parse
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA
from PIL import Image

from persam.data.davis import load_davis
from persam.data.perseg import load_perseg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "data_prep"))
import download  # noqa: E402
from davis16_to_perseg import derive16  # noqa: E402

SHARED16 = SHARED_DATA / "davis16_train20_perseg"
PERSEG_OBJECTS = (REPO / "data_prep" / "perseg_objects.txt").read_text().split()
# DAVIS 2016's 30 train sequences (sorted); davis16_perseg takes 20 of them.
TRAIN16 = ["bear", "bmx-bumps", "boat", "breakdance-flare", "bus", "car-turn", "dance-jump", "dog-agility",
           "drift-turn", "elephant", "flamingo", "hike", "hockey", "horsejump-low", "kite-walk", "lucia",
           "mallard-fly", "mallard-water", "motocross-bumps", "motorbike", "paragliding", "rhino", "rollerblade",
           "scooter-gray", "soccerball", "stroller", "surf", "swing", "tennis", "train"]
W, H = 48, 32


# ---- archives in the publishers' layouts ----------------------------------------------------------------------

def jpeg(index: int) -> bytes:
    """A tiny frame whose bytes identify ``index`` (so a copied frame tells which one it was)."""
    image = np.full((H, W, 3), 40, np.uint8)
    image[:, :, 0] = index % 256
    image[:, :, 1] = index // 256
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def png(labels: np.ndarray, palette: bool) -> bytes:
    image = Image.fromarray(labels.astype(np.uint8), mode="P" if palette else "L")
    if palette:
        image.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * 759)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def square(labels: np.ndarray, x: int, value: int) -> np.ndarray:
    labels[10:18, x:x + 8] = value
    return labels


def perseg_files() -> dict[str, bytes]:
    files = {}
    for i, obj in enumerate(PERSEG_OBJECTS):
        for n in range(3):
            files[f"data 3/Images/{obj}/{n:02d}.jpg"] = jpeg(i * 3 + n)
            files[f"data 3/Annotations/{obj}/{n:02d}.png"] = png(square(np.zeros((H, W)), 4 + n, 1), True)
    return files


def davis_frames(prefix: str, seq: str, n: int, objects: int, palette: bool) -> dict[str, bytes]:
    files = {}
    for t in range(n):
        labels = np.zeros((H, W))
        for k in range(objects):
            square(labels, 2 + 20 * k + t % 3, (k + 1) if palette else 255)
        files[f"{prefix}/JPEGImages/480p/{seq}/{t:05d}.jpg"] = jpeg(t)
        files[f"{prefix}/Annotations/480p/{seq}/{t:05d}.png"] = png(labels, palette)
    return files


DAVIS17_VAL = {"pair": 2, "solo-a": 1, "solo-b": 1}  # sequence: objects


def davis2017_files() -> dict[str, bytes]:
    files = {"DAVIS/ImageSets/2017/train.txt": b"trainer\n", "DAVIS/ImageSets/2017/val.txt": b"pair\nsolo-a\nsolo-b\n"}
    for seq, objects in {**DAVIS17_VAL, "trainer": 1}.items():
        files |= davis_frames("DAVIS", seq, 12, objects, palette=True)
    return files


def davis2016_files(lengths: dict[str, int], prefix: str = "DAVIS") -> dict[str, bytes]:
    """DAVIS-data.zip's layout: binary 0/255 masks, ImageSets/480p/*.txt listing frame pairs, a 1080p copy."""
    files = {f"{prefix}/JPEGImages/1080p/bear/00000.jpg": jpeg(0)}
    for split, names in (("train", TRAIN16), ("val", ["blackswan"])):
        lines = [f"/JPEGImages/480p/{s}/{t:05d}.jpg /Annotations/480p/{s}/{t:05d}.png"
                 for s in names for t in range(lengths.get(s, 8))]
        files[f"{prefix}/ImageSets/480p/{split}.txt"] = ("\n".join(lines) + "\n").encode()
    for seq in [*TRAIN16, "blackswan"]:
        files |= davis_frames(prefix, seq, lengths.get(seq, 8), 1, palette=False)
    return files


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def archives() -> dict[str, bytes]:
    return {"perseg": zipped(perseg_files()), "davis2017": zipped(davis2017_files()),
            "davis2016": zipped(davis2016_files({}))}


# ---- a loopback server ------------------------------------------------------------------------------------------

class Server:
    """Serves ``files`` (URL path -> bytes) on 127.0.0.1 with Range support. ``cut_first``: paths whose first
    full response stops halfway (the Content-Length still says the whole). ``/uc?id=NAME`` answers with a
    confirmation page whose form leads to ``/download?id=NAME&confirm=t``, as Google Drive does."""

    def __init__(self, files: dict[str, bytes], cut_first: set[str] = frozenset()):
        self.files, self.cut = files, set(cut_first)
        self.log: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                server.log.append((self.path, self.headers.get("Range")))
                if url.path == "/uc":
                    page = (f'<html><form id="download-form" action="/download" method="get">'
                            f'<input type="hidden" name="id" value="{query["id"]}">'
                            f'<input type="hidden" name="confirm" value="t"></form></html>').encode()
                    return self.reply(200, page, {"Content-Type": "text/html; charset=utf-8"})
                name = query["id"] if url.path == "/download" and query.get("confirm") == "t" else url.path
                data = server.files.get(name)
                if data is None:
                    return self.reply(404, b"not found", {})
                ranged = self.headers.get("Range")
                if ranged:
                    start = int(ranged.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        return self.reply(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                    return self.reply(206, data[start:], {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
                if name in server.cut:
                    server.cut.discard(name)
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("Content-Type", "application/zip")
                    self.end_headers()
                    self.wfile.write(data[:len(data) // 2])
                    self.close_connection = True
                    return None
                return self.reply(200, data, {})

            def reply(self, code, body, headers):
                self.send_response(code)
                headers = {"Content-Type": "application/zip", **headers, "Content-Length": str(len(body))}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(files, cut_first=frozenset()):
        servers.append(Server(files, cut_first))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def publisher_md5(monkeypatch, archives):
    """DAVIS 2016's published MD5 is the real archive's: the test archive's stands in for it."""
    md5 = hashlib.md5(archives["davis2016"]).hexdigest()
    monkeypatch.setitem(download.ARCHIVES, "davis2016", download.replace(download.ARCHIVES["davis2016"], md5=md5))


def urls(server: Server) -> list[str]:
    return ["--url", f"perseg={server.url}/uc?export=download&id=/perseg.zip",
            "--url", f"davis2017={server.url}/davis2017.zip", "--url", f"davis2016={server.url}/davis2016.zip"]


def served(archives):
    return {f"/{key}.zip": data for key, data in archives.items()}


# ---- the tests -------------------------------------------------------------------------------------------------

def test_downloads_verifies_unpacks_and_derives(tmp_path, serve, archives, publisher_md5, capsys):
    server = serve(served(archives), cut_first={"/davis2017.zip"})
    out = tmp_path / "data"
    assert download.main(["--out", str(out), *urls(server)]) == 0

    # the Drive-like confirmation page was followed; the cut response was resumed by a Range request
    assert [path for path, _ in server.log if "perseg" in path] == ["/uc?export=download&id=/perseg.zip",
                                                                   "/download?id=%2Fperseg.zip&confirm=t"]
    davis17 = [rng for path, rng in server.log if path == "/davis2017.zip"]
    assert davis17 == [None, f"bytes={len(archives['davis2017']) // 2}-"]
    for key, name in (("perseg", "PerSeg.zip"), ("davis2017", "DAVIS-2017-trainval-480p.zip"),
                      ("davis2016", "DAVIS-data.zip")):
        assert (out / "downloads" / name).read_bytes() == archives[key]
        assert not (out / "downloads" / f"{name}.part").exists()
    assert (out / "SHA256SUMS").read_text().splitlines() == [
        f"{hashlib.sha256(archives['perseg']).hexdigest()}  downloads/PerSeg.zip",
        f"{hashlib.sha256(archives['davis2017']).hexdigest()}  downloads/DAVIS-2017-trainval-480p.zip",
        f"{hashlib.sha256(archives['davis2016']).hexdigest()}  downloads/DAVIS-data.zip"]

    # the layouts: PerSeg's 40 objects; DAVIS 2017 val with its two-object sequence; DAVIS 2016 without 1080p
    assert [o.name for o in load_perseg(out / "PerSeg")] == sorted(PERSEG_OBJECTS)
    val = load_davis(out / "DAVIS2017", split="val")
    assert [s.name for s in val] == ["pair", "solo-a", "solo-b"]
    assert sorted(set(np.unique(val[0].annotation(0))) - {0}) == [1, 2]
    assert not (out / "DAVIS2016" / "JPEGImages" / "1080p").exists()
    assert (out / "DAVIS2016" / "ImageSets" / "480p" / "train.txt").is_file()

    # derived: davis_perseg / davis_fewshot from the one-object val sequences, davis16_perseg from 20 train ones
    assert [o.name for o in load_perseg(out / "davis_perseg")] == ["solo-a", "solo-b"]
    assert sorted(p.stem for p in (out / "davis_fewshot" / "Images" / "solo-a").iterdir()) == \
        ["00", "01", "02", "03", "04", "05", "r1", "r2"]
    assert (out / "davis16_perseg" / "sequences.txt").read_text().split() == \
        [s for i, s in enumerate(TRAIN16, start=1) if i % 3]
    for name in ("perseg", "davis_perseg", "davis16_perseg"):
        manifest = json.loads((out / f"{name}_instances" / "manifest.json").read_text())
        assert sum(len(v) for v in manifest["objects"].values()) > 0, name

    # a second run: everything present and verified, nothing fetched, nothing rewritten
    stamps = {p: p.stat().st_mtime_ns for p in [*(out / "downloads").iterdir(), out / "PerSeg" / "Images"]}
    requests = len(server.log)
    capsys.readouterr()
    assert download.main(["--out", str(out), "--no-derive", *urls(server)]) == 0
    assert len(server.log) == requests
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    printed = capsys.readouterr().out
    assert printed.count("present, verified") == 3 and printed.count("present, kept") == 3


def test_a_partial_file_is_resumed_with_a_range_request(tmp_path, serve, archives):
    server = serve(served(archives))
    part = tmp_path / "downloads" / "DAVIS-2017-trainval-480p.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(archives["davis2017"][:1000])
    assert download.main(["--out", str(tmp_path), "--only", "davis2017", "--no-derive", *urls(server)]) == 0
    assert server.log == [("/davis2017.zip", "bytes=1000-")]
    assert (tmp_path / "downloads" / "DAVIS-2017-trainval-480p.zip").read_bytes() == archives["davis2017"]


def corrupted(data: bytes) -> bytes:
    """The zip with one byte of a stored member flipped: sizes and directory intact, the member's CRC wrong."""
    at = data.index(b"JFIF") + 40
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def test_a_corrupt_archive_is_refused_in_one_line(tmp_path, serve, archives):
    server = serve({"/davis2017.zip": corrupted(archives["davis2017"])})
    done = subprocess.run([sys.executable, "data_prep/download.py", "--out", str(tmp_path), "--only", "davis2017",
                           *urls(server)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
    assert "DAVIS-2017-trainval-480p.zip: zip integrity test failed" in done.stderr
    assert not (tmp_path / "downloads" / "DAVIS-2017-trainval-480p.zip").exists()
    assert not (tmp_path / "SHA256SUMS").exists() and not (tmp_path / "DAVIS2017").exists()


def test_a_verified_copy_is_checked_against_the_record_and_never_overwritten(tmp_path, archives, publisher_md5,
                                                                             capsys):
    source = tmp_path / "mirror" / "DAVIS-data.zip"  # a file:// mirror
    source.parent.mkdir()
    source.write_bytes(archives["davis2016"])
    args = ["--out", str(tmp_path / "data"), "--only", "davis2016", "--no-derive", "--url",
            f"davis2016={source.as_uri()}"]
    assert download.main(args) == 0
    kept = tmp_path / "data" / "downloads" / "DAVIS-data.zip"
    tampered = corrupted(kept.read_bytes())
    kept.write_bytes(tampered)
    capsys.readouterr()
    assert download.main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{kept}: checksum mismatch (SHA-256" in err and "recorded (SHA256SUMS)" in err
    assert kept.read_bytes() == tampered  # refused, not replaced by a new download


def test_the_publishers_checksum_and_size_are_enforced(tmp_path, serve, archives, monkeypatch, capsys):
    server = serve(served(archives))
    assert download.main(["--out", str(tmp_path), "--only", "davis2016", "--no-derive", *urls(server)]) == 1
    assert "DAVIS-data.zip: checksum mismatch (MD5 differs from the publisher's " in capsys.readouterr().err
    wrong = download.replace(download.ARCHIVES["davis2017"], size=len(archives["davis2017"]) + 1)
    monkeypatch.setitem(download.ARCHIVES, "davis2017", wrong)
    assert download.main(["--out", str(tmp_path), "--only", "davis2017", "--no-derive", *urls(server)]) == 1
    assert "DAVIS-2017-trainval-480p.zip.part: size mismatch" in capsys.readouterr().err
    assert not (tmp_path / "SHA256SUMS").exists()


@pytest.mark.skipif(not (SHARED16 / "frames.json").is_file(), reason="../shared/data/davis16_train20_perseg absent")
def test_davis16_derivation_picks_the_recorded_frames(tmp_path):
    """On a DAVIS 2016 root with the recorded sequence lengths, the derivation takes the shared copy's 20
    objects and, for every one, exactly the frames of its frames.json (checked by the copied bytes too)."""
    recorded = json.loads((SHARED16 / "frames.json").read_text())
    for name, data in davis2016_files({s: r["n_frames"] for s, r in recorded.items()}, prefix="DAVIS2016").items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    chosen = derive16(tmp_path / "DAVIS2016", tmp_path / "out")
    assert chosen == recorded
    assert json.loads((tmp_path / "out" / "frames.json").read_text()) == recorded
    assert (tmp_path / "out" / "sequences.txt").read_text() == (SHARED16 / "sequences.txt").read_text()
    for seq, record in recorded.items():
        for stem, index in enumerate(record["frame_indices"]):
            assert (tmp_path / "out" / "Images" / seq / f"{stem:02d}.jpg").read_bytes() == jpeg(index), (seq, stem)
            mask = Image.open(tmp_path / "out" / "Annotations" / seq / f"{stem:02d}.png")
            assert mask.mode == "P" and set(np.unique(np.array(mask))) == {0, 1}
