"""The ``subset`` label of image runs comes from the data: "N of 40" only for a root holding PerSeg's own objects
(any subset of its 40, as the bundled sample and ../shared/data/perseg), a person's own folder in the PerSeg
layout is labelled by its own count and name; likewise for davis16_perseg's 30 DAVIS-2016 train objects."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SHARED_DATA
from omegaconf import open_dict

from persam.config import compose
from persam.experiments.evaluate import fingerprint
from persam.experiments.image_task import dataset_root, subset_label
from persam.experiments.provenance import portable_path

PERSEG_NAMES = (Path(__file__).resolve().parents[1] / "data_prep" / "perseg_objects.txt").read_text().split()


def folder_of(root: Path, names: list[str]) -> Path:
    for name in names:
        (root / "Images" / name).mkdir(parents=True)
        (root / "Annotations" / name).mkdir(parents=True)
    return root


def label(dataset: str, root: Path | None = None, n_objects: int | None = None) -> str:
    cfg = compose([f"dataset={dataset}", *([f"dataset.root={root}"] if root else [])])
    return subset_label(cfg, dataset_root(cfg), n_objects)


def test_perseg_config_knows_the_40_objects_of_data_prep():
    assert list(compose(["dataset=perseg"]).dataset.known_objects) == PERSEG_NAMES and len(PERSEG_NAMES) == 40


def test_a_persons_own_folder_is_counted_by_itself(tmp_path):
    root = folder_of(tmp_path / "my_folder", [f"thing{i}" for i in range(10)])
    assert label("perseg", root, 10) == f"10 objects ({portable_path(str(root))})"
    mixed = folder_of(tmp_path / "mixed", ["cat", "my_mug"])  # one PerSeg name does not make it PerSeg
    assert label("perseg", mixed, 2) == f"2 objects ({portable_path(str(mixed))})"
    davis_named = folder_of(tmp_path / "clips", ["bear", "my_dog"])
    assert label("davis16_perseg", davis_named, 2) == f"2 objects ({portable_path(str(davis_named))})"


def test_perseg_own_objects_are_counted_of_40(tmp_path):
    assert label("perseg", None, 3) == "3 of 40 objects (bundled sample)"
    subset = folder_of(tmp_path / "perseg", ["cat", "colorful_sneaker", "duck_toy"])
    assert label("perseg", subset, 3) == f"3 of 40 objects ({portable_path(str(subset))})"
    assert label("perseg", subset, 1) == f"1 of 40 objects ({portable_path(str(subset))})"  # dataset.objects=[cat]
    whole = folder_of(tmp_path / "PerSeg", PERSEG_NAMES)
    assert label("perseg", whole, 40) == f"40 objects ({portable_path(str(whole))})"
    davis = folder_of(tmp_path / "davis16", ["bear", "bmx-bumps", "swing"])
    assert label("davis16_perseg", davis, 3) == f"3 of 30 DAVIS-2016 train objects ({portable_path(str(davis))})"


@pytest.mark.skipif(not (SHARED_DATA / "perseg").is_dir(), reason="needs ../shared/data/perseg")
def test_the_committed_perseg_data_is_still_3_of_40():
    root = SHARED_DATA / "perseg"
    assert label("perseg", root, 3) == f"3 of 40 objects ({portable_path(str(root))})"


def test_the_known_objects_only_label_so_the_fingerprint_ignores_them():
    cfg = compose(["dataset=perseg"])
    bare = cfg.copy()
    with open_dict(bare):
        del bare.dataset["known_objects"]
    assert fingerprint(cfg, "sha", "enc") == fingerprint(bare, "sha", "enc")
