"""Outputs never overwrite each other (equal file names in several folders), and the COCO export reads back
through pycocotools as the very masks written as PNGs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from conftest import SAMPLE
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from persam.cli import main as cli_main
from persam.data.io import DataError, read_mask
from persam.segment.coco_export import CocoMasks
from persam.segment.output_paths import image_files


def make_folders(root: Path) -> tuple[Path, Path]:
    a, b = root / "a", root / "b"
    for folder, obj in ((a, "cat"), (b, "duck_toy")):
        folder.mkdir(parents=True)
        shutil.copy(SAMPLE / "Images" / obj / "01.jpg", folder / "00.jpg")
    shutil.copy(SAMPLE / "Images" / "cat" / "02.jpg", a / "01.jpg")
    return a, b


def test_output_keys(tmp_path):
    a, b = make_folders(tmp_path)
    assert [k for _, k in image_files([a])] == [PurePosixPath("00"), PurePosixPath("01")]
    assert [str(k) for _, k in image_files([a, b])] == ["a/00", "a/01", "b/00"]
    assert [str(k) for _, k in image_files([a / "00.jpg", b])] == ["00", "b/00"]
    with pytest.raises(DataError, match="would both be written as 00.png"):
        image_files([a / "00.jpg", b / "00.jpg"])
    shutil.copy(a / "00.jpg", a / "00.png")
    with pytest.raises(DataError, match=r"00.jpg and .*00.png would both be written as 00.png"):
        image_files([a])


def test_two_folders_with_equal_names_keep_every_result_and_coco(tmp_path, capsys):
    a, b = make_folders(tmp_path / "in")
    out = tmp_path / "out"
    assert cli_main(["segment", "--ref-image", str(SAMPLE / "Images" / "cat" / "00.jpg"),
                     "--ref-mask", str(SAMPLE / "Annotations" / "cat" / "00.png"),
                     "--images", str(a), str(b), "--out", str(out), "--device", "cpu", "--coco"]) == 0
    assert capsys.readouterr().out.startswith("3 masks in")
    written = sorted(p.relative_to(out / "masks").as_posix() for p in (out / "masks").rglob("*.png"))
    assert written == ["a/00.png", "a/01.png", "b/00.png"]
    assert sorted(p.relative_to(out / "overlays").as_posix() for p in (out / "overlays").rglob("*.jpg")) == [
        "a/00.jpg", "a/01.jpg", "b/00.jpg"]
    cat = read_mask(out / "masks" / "a" / "00.png")
    gt = read_mask(SAMPLE / "Annotations" / "cat" / "01.png")
    assert (cat & gt).sum() / (cat | gt).sum() > 0.8  # a/00 is the cat photo, not overwritten by b/00

    coco = COCO(str(out / "masks_coco.json"))
    assert sorted(img["file_name"] for img in coco.dataset["images"]) == written
    for image in coco.dataset["images"]:
        png = read_mask(out / "masks" / image["file_name"])
        decoded = np.zeros(png.shape, bool)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=image["id"])):
            decoded |= coco.annToMask(ann).astype(bool)
        assert np.array_equal(decoded, png), image["file_name"]


def test_coco_masks_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    masks = {"x.png": rng.random((40, 60)) > 0.5, "empty.png": np.zeros((10, 20), bool)}
    masks["x.png"][:5] = False
    export = CocoMasks("dog")
    for name, mask in masks.items():
        export.add(name, mask, score=0.7 if name == "x.png" else float("nan"))
    data = json.loads(export.write(tmp_path / "c.json").read_text())
    assert data["categories"] == [{"id": 1, "name": "dog", "supercategory": "object"}]
    assert [(i["file_name"], i["height"], i["width"]) for i in data["images"]] == [("x.png", 40, 60),
                                                                                    ("empty.png", 10, 20)]
    (ann,) = data["annotations"]  # the empty mask has no annotation
    assert ann["score"] == 0.7 and ann["area"] == int(masks["x.png"].sum())
    ys, xs = np.nonzero(masks["x.png"])
    assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
    rle = dict(ann["segmentation"], counts=ann["segmentation"]["counts"].encode())
    assert np.array_equal(mask_utils.decode(rle).astype(bool), masks["x.png"])
