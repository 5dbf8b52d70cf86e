"""Data reached through symbolic links (a dataset root that is a link, object or sequence folders that are
links to elsewhere) runs to the end like a copy: results, masks and a completed provenance record whose paths
name no folder of this machine. And the record is written when the run starts, so a run that fails at its
very end loses neither its finished items nor the record of what it was."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pandas as pd
import pytest
from conftest import SAMPLE
from davis_util import DAVIS

from persam.config import compose
from persam.experiments import provenance
from persam.experiments.evaluate import evaluate
from persam.segment.output_paths import image_files


def linked_perseg(tmp_path: Path, objects: list[str]) -> Path:
    """A PerSeg root whose object folders are links to the bundled sample's, reached through a linked root."""
    real = tmp_path / "perseg_real"
    for kind in ("Images", "Annotations"):
        (real / kind).mkdir(parents=True)
        for name in objects:
            (real / kind / name).symlink_to(SAMPLE / kind / name, target_is_directory=True)
    root = tmp_path / "perseg"
    root.symlink_to(real, target_is_directory=True)
    return root


def linked_davis(tmp_path: Path, sequences: list[str]) -> Path:
    """A DAVIS root whose sequence folders are links to the bundled clip's (6 frames each), through a linked root."""
    real = tmp_path / "davis_real"
    for kind in ("JPEGImages", "Annotations"):
        (real / kind / "480p").mkdir(parents=True)
        for name in sequences:
            (real / kind / "480p" / name).symlink_to(DAVIS / kind / "480p" / name, target_is_directory=True)
    root = tmp_path / "davis"
    root.symlink_to(real, target_is_directory=True)
    return root


def completed(run: Path) -> dict:
    assert (run / "results.csv").is_file()
    record = json.loads((run / "provenance.json").read_text())
    assert record["status"] == "complete" and record["started"] <= record["date"]
    recorded = json.dumps({k: v for k, v in record.items() if k != "config"})  # the config holds the overrides
    assert str(run.parent) not in recorded and str(Path.home()) + "/" not in recorded  # no folder of this machine
    return record


def test_a_linked_perseg_root_runs_to_the_end(tmp_path, predictor):
    root = linked_perseg(tmp_path, ["cat"])
    cfg = compose(["progress=false", "outputs.overlays=false", f"dataset.root={root}", "dataset.objects=[cat]"])
    evaluate(cfg, tmp_path / "run", predictor=predictor)
    record = completed(tmp_path / "run")
    assert record["data"]["root"] == "perseg" and record["data"]["items"] == ["cat"]
    # The manifest names the files inside the root as given: the same hash as the sample's own files.
    files = [SAMPLE / kind / "cat" / f"{stem}.{ext}" for kind, ext in (("Images", "jpg"), ("Annotations", "png"))
             for stem in ("00", "01", "02")]
    assert record["data"]["manifest"] == provenance.data_manifest(files, SAMPLE)
    rows = pd.read_csv(tmp_path / "run" / "results.csv").set_index(["item", "metric"])["value"]
    assert rows[("cat", "iou")] == pytest.approx(93.13, abs=0.05)  # the sample's cat, as tests/test_pinned_scores.py
    assert sorted(p.name for p in (tmp_path / "run" / "masks" / "cat").iterdir()) == ["01.png", "02.png"]


def test_a_linked_davis_root_runs_to_the_end(tmp_path, predictor):
    root = linked_davis(tmp_path, ["blackswan"])
    cfg = compose(["progress=false", "outputs.overlays=false", "dataset=davis2017", f"dataset.root={root}",
                   "dataset.sequences=[blackswan]"])
    evaluate(cfg, tmp_path / "run", predictor=predictor)
    record = completed(tmp_path / "run")
    assert record["data"]["root"] == "davis" and record["data"]["items"] == ["blackswan"]
    assert record["data"]["frames"] == 5 and record["data"]["manifest"]["files"] == 12
    rows = pd.read_csv(tmp_path / "run" / "results.csv").set_index(["item", "metric"])["value"]
    assert {("blackswan", "J"), ("blackswan", "F"), ("ALL", "J&F")} <= set(rows.index)
    assert len(list((tmp_path / "run" / "masks" / "blackswan").glob("*.png"))) == 6


def test_a_run_that_fails_at_its_end_keeps_its_record_and_items(tmp_path, predictor, monkeypatch):
    """The record says "running" from the start; the finished items and results.csv survive a failure while
    the record is completed, and the rerun reuses every item and completes it."""
    root = linked_perseg(tmp_path, ["cat"])
    cfg = compose(["progress=false", "outputs.overlays=false", f"dataset.root={root}", "dataset.objects=[cat]"])
    seen = {}

    def fail(files, root):
        seen.update(json.loads((tmp_path / "run" / "provenance.json").read_text()))
        raise OSError("disk full")

    monkeypatch.setattr(provenance, "data_manifest", fail)
    with pytest.raises(OSError, match="disk full"):
        evaluate(cfg, tmp_path / "run", predictor=predictor)
    assert seen["status"] == "running" and seen["config"]["dataset"]["objects"] == ["cat"]
    on_disk = json.loads((tmp_path / "run" / "provenance.json").read_text())
    assert on_disk["status"] == "running" and on_disk["fingerprint"] and on_disk["model"]["sha256"]
    assert (tmp_path / "run" / "items" / "cat.json").is_file() and (tmp_path / "run" / "results.csv").is_file()
    monkeypatch.undo()
    calls = predictor.encoder_calls
    evaluate(cfg, tmp_path / "run", predictor=predictor)
    assert completed(tmp_path / "run")["resumed_items"] == ["cat"] and predictor.encoder_calls == calls


def test_paths_are_recorded_as_given_never_resolved(tmp_path):
    target = SAMPLE / "Images"  # inside the repository
    link = tmp_path / "photos"
    link.symlink_to(target, target_is_directory=True)
    assert provenance.portable_path(link) == "photos"  # the link's own name, not where it leads
    assert provenance.portable_path(target) == "persam/sample_data/perseg/Images"
    assert provenance.portable_path(SAMPLE / "Images" / ".." / "Annotations") == "persam/sample_data/perseg/Annotations"
    assert provenance.portable_path("data/perseg") == "data/perseg"


def test_output_folders_keep_the_names_they_were_given(tmp_path):
    """Several folders given to `persam segment`: a link is named as given, not as its target."""
    (tmp_path / "a").symlink_to(SAMPLE / "Images" / "cat", target_is_directory=True)
    (tmp_path / "b").symlink_to(SAMPLE / "Images" / "duck_toy", target_is_directory=True)
    keys = [k for _, k in image_files([tmp_path / "a", tmp_path / "b"])]
    assert keys[0] == PurePosixPath("a/00") and keys[-1] == PurePosixPath("b/02") and len(keys) == 6
