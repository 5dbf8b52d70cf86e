"""The page's engine with real MobileSAM: a video upload segmented frame by frame, the downloads agree
with each other, and the person's mistakes are messages (AppError / ClickError / OracleMethodError), not
tracebacks."""

from __future__ import annotations

import csv
import json
import zipfile

import cv2
import numpy as np
import pytest
from conftest import SAMPLE
from pycocotools import mask as mask_utils

from persam.app.engine import AppError, Engine
from persam.data.io import read_image, read_mask
from persam.segment.click_reference import ClickError
from persam.segment.predictor import OracleMethodError


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from persam.models import EmbeddingCache

    return Engine(tmp_path_factory.mktemp("app"), EmbeddingCache(tmp_path_factory.mktemp("embeddings")))


def small(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (320, 240), interpolation=cv2.INTER_AREA)  # keeps the CPU test short


def test_video_run_and_downloads(engine, tmp_path):
    predictor = engine.predictor()
    ref = small(read_image(SAMPLE / "Images" / "cat" / "00.jpg"))
    ref_mask = cv2.resize(read_mask(SAMPLE / "Annotations" / "cat" / "00.png").astype(np.uint8), (320, 240),
                          interpolation=cv2.INTER_NEAREST).astype(bool)
    video = tmp_path / "cat.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (320, 240))
    for stem in ("01", "02"):
        writer.write(cv2.cvtColor(small(read_image(SAMPLE / "Images" / "cat" / f"{stem}.jpg")), cv2.COLOR_RGB2BGR))
    writer.release()
    seen = []
    result = engine.run(predictor, "persam", ref, ref_mask, [video], lambda i, n, key: seen.append((i, n, key)))
    assert seen == [(1, 2, "cat/00000"), (2, 2, "cat/00001")]
    assert [caption for _, caption in result.gallery] == ["cat/00000", "cat/00001"] and result.absent == []
    archive, coco_json, scores = result.downloads
    coco = json.loads(coco_json.read_text())
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == ["masks/cat/00000.png", "masks/cat/00001.png"]
        zf.extractall(tmp_path / "z")
    rows = list(csv.DictReader(scores.open()))
    for image, row in zip(coco["images"], rows, strict=True):
        mask = read_mask(tmp_path / "z" / "masks" / image["file_name"])
        (ann,) = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        rle = dict(ann["segmentation"], counts=ann["segmentation"]["counts"].encode())
        assert np.array_equal(mask_utils.decode(rle).astype(bool), mask)
        assert row["file"] == image["file_name"].removesuffix(".png") + ".jpg" and mask.sum() > 1000
        assert (row["present"], row["instances"]) == ("1", "1")


def test_mistakes_are_messages(engine, tmp_path):
    predictor = engine.predictor()
    ref = small(read_image(SAMPLE / "Images" / "cat" / "00.jpg"))
    with pytest.raises(ClickError, match="outside the 320x240 image"):
        engine.reference_mask(predictor, ref, [(400.0, 10.0, 1)])
    with pytest.raises(AppError, match="reference mask is empty"):
        engine.run(predictor, "persam", ref, np.zeros((240, 320), bool), [SAMPLE / "Images" / "cat" / "01.jpg"])
    mask = np.zeros((240, 320), bool)
    mask[100:150, 100:200] = True
    with pytest.raises(OracleMethodError, match="reads the ground truth"):
        engine.run(predictor, "baseline_oracle_box", ref, mask, [SAMPLE / "Images" / "cat" / "01.jpg"])
    text = tmp_path / "notes.txt"
    text.write_text("hi")
    with pytest.raises(AppError, match="no usable target: notes.txt: not an image"):
        engine.run(predictor, "persam", ref, mask, [text])


class EveryOtherAbsent:
    """A method with a presence check (none in main has one yet): PerSAM, but the object is declared absent
    from every second target, with a presence score."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0

    def fit(self, references, prompts=None):
        return self.inner.fit(references)

    def predict(self, embedding, reference):
        from persam.methods.protocol import Prediction

        self.calls += 1
        if self.calls % 2 == 0:
            return Prediction.empty(tuple(embedding.original_size), score=0.1)
        prediction = self.inner.predict(embedding, reference)
        return Prediction(prediction.mask, prediction.point_coords, prediction.point_labels, score=0.9)


def test_absent_images_are_listed(engine, monkeypatch):
    build = Engine.build
    monkeypatch.setattr(Engine, "build", lambda self, predictor, method: EveryOtherAbsent(build(self, predictor, method)))
    ref = read_image(SAMPLE / "Images" / "cat" / "00.jpg")
    mask = read_mask(SAMPLE / "Annotations" / "cat" / "00.png")
    targets = [SAMPLE / "Images" / "cat" / "01.jpg", SAMPLE / "Images" / "duck_toy" / "01.jpg"]
    result = engine.run(engine.predictor(), "persam", ref, mask, targets)
    assert result.absent == ["01-2"] and [c for _, c in result.gallery] == ["01", "01-2 (absent)"]
    rows = list(csv.DictReader(result.downloads[2].open()))
    assert [(r["present"], r["score"]) for r in rows] == [("1", "0.900000"), ("0", "0.100000")]
    coco = json.loads(result.downloads[1].read_text())
    assert [a["image_id"] for a in coco["annotations"]] == [1] and coco["annotations"][0]["score"] == 0.9
