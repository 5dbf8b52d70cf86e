"""Batches that survive bad items: ``persam segment``, ``persam track``, ``persam dreambooth-masks`` and the
app's runs segment every readable photo or frame, list the unreadable ones with their reason (printed, in
``scores.csv``, in the app's result) and the commands exit with 3; a bad reference still stops at once (real
MobileSAM, bundled samples)."""

from __future__ import annotations

import csv
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE
from PIL import Image

from persam.cli import main as cli_main
from persam.data.io import read_image, read_mask
from persam.segment.unreadable import SKIPPED_EXIT_CODE

CAT, CAT_MASK = SAMPLE / "Images" / "cat", SAMPLE / "Annotations" / "cat" / "00.png"
DOG = SAMPLE.parent / "davis" / "JPEGImages" / "480p" / "dog"
DOG_MASK = SAMPLE.parent / "davis" / "Annotations" / "480p" / "dog" / "00000.png"


@pytest.fixture(autouse=True)
def shared_embeddings(embedding_cache, monkeypatch):
    monkeypatch.setenv("PERSAM_CACHE_DIR", str(embedding_cache.root))  # each photo is encoded once per session


def scores(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def photos_and_notes(folder: Path) -> Path:
    """Two cat photos and a text file named like a photo."""
    folder.mkdir()
    for stem in ("01", "02"):
        shutil.copy(CAT / f"{stem}.jpg", folder / f"{stem}.jpg")
    (folder / "notes.jpg").write_text("shopping list, not a photo")
    return folder


def test_segment_skips_an_unreadable_file_and_exits_3(tmp_path, capsys):
    photos = photos_and_notes(tmp_path / "my_photos")
    out = tmp_path / "out"
    code = cli_main(["segment", "--ref-image", str(CAT / "00.jpg"), "--ref-mask", str(CAT_MASK), "--images",
                     str(photos), "--out", str(out), "--method", "persam", "--device", "cpu"])
    printed = capsys.readouterr().out.splitlines()
    assert code == SKIPPED_EXIT_CODE == 3
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["01.png", "02.png"]
    assert all(read_mask(out / "masks" / f"{stem}.png").sum() > 1000 for stem in ("01", "02"))
    assert "skipped (1, no mask):" in printed
    assert any(line.startswith("  notes.jpg: not a readable image (") for line in printed)
    assert printed[-1] == "found in 2 of 2 images (0 with several instances); 1 file skipped"
    rows = scores(out / "scores.csv")
    assert list(rows[0]) == ["file", "present", "score", "instances", "skipped"]
    assert [(r["file"], r["present"], r["instances"], r["skipped"]) for r in rows[:2]] == [
        ("01.jpg", "1", "1", ""), ("02.jpg", "1", "1", "")]
    assert rows[2]["file"] == "notes.jpg" and rows[2]["present"] == "0" and rows[2]["score"] == ""
    assert rows[2]["skipped"].startswith("not a readable image") and str(tmp_path) not in rows[2]["skipped"]


def test_a_bad_reference_still_stops_at_once(tmp_path, capsys):
    photos = photos_and_notes(tmp_path / "my_photos")
    code = cli_main(["segment", "--ref-image", str(photos / "notes.jpg"), "--ref-mask", str(CAT_MASK), "--images",
                     str(photos), "--out", str(tmp_path / "out"), "--method", "persam", "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "notes.jpg: not a readable image" in err and "\n" not in err
    assert not (tmp_path / "out" / "masks").exists()


def test_track_continues_from_the_last_good_frame(tmp_path, capsys):
    clean, broken = tmp_path / "clean", tmp_path / "broken"
    for folder in (clean, broken):
        folder.mkdir()
        for stem in ("00000", "00001", "00003"):
            shutil.copy(DOG / f"{stem}.jpg", folder / f"{stem}.jpg")
    data = (DOG / "00002.jpg").read_bytes()
    (broken / "00002.jpg").write_bytes(data[: len(data) // 3])  # a truncated frame
    command = ["track", "--ref-mask", str(DOG_MASK), "--method", "persam", "--device", "cpu"]
    assert cli_main([*command, "--frames", str(clean), "--out", str(tmp_path / "a")]) == 0
    assert "skipped" not in capsys.readouterr().out
    assert cli_main([*command, "--frames", str(broken), "--out", str(tmp_path / "b")]) == SKIPPED_EXIT_CODE
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("3 masks in ") and printed[1:3] == ["skipped (1, no mask):", printed[2]]
    assert printed[2].startswith("  00002.jpg: not a readable image (")
    masks = sorted(p.stem for p in (tmp_path / "b" / "masks").glob("*.png"))
    assert masks == ["00000", "00001", "00003"]
    assert Image.open(tmp_path / "b" / "overlay.gif").n_frames == 3
    # Frame 3 follows frame 1 as if the broken frame had not been in the folder.
    for stem in ("00001", "00003"):
        a = np.array(Image.open(tmp_path / "a" / "masks" / f"{stem}.png"))
        assert a.any() and np.array_equal(a, np.array(Image.open(tmp_path / "b" / "masks" / f"{stem}.png")))


def test_dreambooth_masks_skips_an_unreadable_photo(tmp_path, capsys):
    photos = photos_and_notes(tmp_path / "subject")
    shutil.copy(CAT / "00.jpg", photos / "00.jpg")
    out = tmp_path / "masks"
    code = cli_main(["dreambooth-masks", "--subject-dir", str(photos), "--ref-mask", str(CAT_MASK), "--method",
                     "persam", "--out", str(out), "--device", "cpu"])
    printed = capsys.readouterr().out.splitlines()
    assert code == SKIPPED_EXIT_CODE
    assert sorted(p.name for p in out.glob("*.png")) == ["00.png", "01.png", "02.png", "contact_sheet.png"]
    assert printed[0].startswith("3 masks in ") and "skipped (1, no mask):" in printed
    assert printed[-1].startswith("  notes.jpg: not a readable image (")
    rows = scores(out / "scores.csv")
    assert [(r["file"], r["skipped"] != "") for r in rows] == [("00.jpg", False), ("01.jpg", False),
                                                               ("02.jpg", False), ("notes.jpg", True)]


def test_app_run_lists_unreadable_uploads(tmp_path, embedding_cache):
    from persam.app.engine import Engine

    engine = Engine(tmp_path / "app", embedding_cache)
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    archive = tmp_path / "more.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(CAT / "02.jpg", "good.jpg")
        zf.writestr("broken.png", b"\x89PNG but no more")
    result = engine.run(engine.predictor(), "persam", read_image(CAT / "00.jpg"), read_mask(CAT_MASK),
                        [CAT / "01.jpg", notes, archive])
    assert [caption for _, caption in result.gallery] == ["01", "more/good"]
    assert len(result.skipped) == 2
    assert result.skipped[0].startswith("notes.jpg: not a readable image (")
    assert result.skipped[1].startswith("more/broken.png: not a readable image (")
    rows = scores(result.downloads[2])
    assert [(r["file"], r["present"], r["skipped"] != "") for r in rows] == [
        ("01.jpg", "1", False), ("more/good.jpg", "1", False), ("notes.jpg", "0", True), ("more/broken.png", "0", True)]
