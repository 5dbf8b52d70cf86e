"""The page's uploads: photos, zips of photos and videos become image files with unique keys; what cannot
be used is said, naming the file (no SAM needed)."""

from __future__ import annotations

import shutil
import zipfile

import cv2
import numpy as np
from conftest import SAMPLE

from persam.app.targets import read_targets

CAT = SAMPLE / "Images" / "cat"


def test_photos_zip_and_video(tmp_path):
    photos = tmp_path / "up"
    photos.mkdir()
    shutil.copy(CAT / "01.jpg", photos / "01.jpg")
    archive = tmp_path / "up" / "more.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(CAT / "01.jpg", "a/01.jpg")
        zf.write(CAT / "02.jpg", "b/01.jpg")
        zf.writestr("readme.txt", "hello")
        zf.writestr("__MACOSX/a/._01.jpg", "junk")
    video = tmp_path / "up" / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for i in range(3):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    second = tmp_path / "other"
    second.mkdir()
    shutil.copy(CAT / "02.jpg", second / "01.jpg")  # same name as the first photo

    targets = read_targets([photos / "01.jpg", archive, video, second / "01.jpg"], tmp_path / "work")
    keys = [key for key, _ in targets.images]
    assert keys == ["01", "more/a/01", "more/b/01", "clip/00000", "clip/00001", "clip/00002", "01-2"]
    assert all(path.is_file() for _, path in targets.images)
    assert cv2.imread(str(dict(targets.images)["clip/00002"])).shape == (48, 64, 3)
    assert targets.problems == ["more.zip: 1 file(s) inside are not images and were skipped"]


def test_unusable_uploads_are_named(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    fake_video = tmp_path / "broken.mp4"
    fake_video.write_bytes(b"\x00" * 100)
    bad_zip = tmp_path / "photos.zip"
    bad_zip.write_bytes(b"PK nope")
    empty_zip = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty_zip, "w") as zf:
        zf.writestr("a.txt", "x")
    targets = read_targets([text, fake_video, bad_zip, empty_zip], tmp_path / "work")
    assert targets.images == []
    assert targets.problems == [
        "notes.txt: not an image, a zip of images or a video",
        "broken.mp4: no readable frame (not a video OpenCV can decode)",
        "photos.zip: not a readable zip file",
        "empty.zip: 1 file(s) inside are not images and were skipped",
        "empty.zip: the zip holds no image",
    ]
