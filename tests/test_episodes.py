"""The reference rotation (``dataset.references=rotate``): every annotated image once the reference, on the bundled
sample with real MobileSAM; the object's score is the mean over its episodes; resume per episode; tables."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLE
from PIL import Image

from persam.config import compose
from persam.data.io import DataError
from persam.experiments import image_task
from persam.experiments.evaluate import evaluate
from persam.experiments.references import reference_protocol
from persam.tables import pooled, table1
from persam.tables.runs import load_runs

OBJECTS = ["cat", "duck_toy"]  # two of the sample's three objects keep the runs short


def _cfg(*overrides, objects=OBJECTS):
    return compose(["progress=false", "outputs.overlays=false", f"dataset.objects=[{','.join(objects)}]", *overrides])


def _rows(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "results.csv", dtype={"item": str})


def _scores(run: Path) -> pd.DataFrame:
    rows = _rows(run)
    return rows[~rows.metric.str.contains("sec")][["item", "metric", "value"]].reset_index(drop=True)


@pytest.fixture(scope="module")
def fresh_predictor(vit_t, tmp_path_factory):
    """A predictor with an empty embedding cache, so a run's encoder calls count its distinct images."""
    from persam.models import EmbeddingCache, GuidedPredictor

    return GuidedPredictor(vit_t, EmbeddingCache(tmp_path_factory.mktemp("rotation-cache")))


@pytest.fixture(scope="module")
def rotation(tmp_path_factory, fresh_predictor) -> Path:
    out = tmp_path_factory.mktemp("rotation") / "persam"
    evaluate(_cfg("method=persam", "dataset.references=rotate"), out, predictor=fresh_predictor)
    return out


def test_rotation_runs_one_episode_per_image_and_averages_them_per_object(rotation):
    items = sorted(p.stem for p in (rotation / "items").glob("*.json"))
    assert items == [f"{o}@{s}" for o in OBJECTS for s in ("00", "01", "02")]
    rows = _rows(rotation)
    assert set(rows["protocol"]) == {"rotate"} and set(rows["shots"]) == {1}
    episodes = rows[rows["metric"] == "iou_episode"].set_index("item")["value"]
    objects = rows[rows["metric"] == "iou"].set_index("item")["value"]
    assert sorted(episodes.index) == items and sorted(objects.index) == OBJECTS
    for name in OBJECTS:
        assert objects[name] == pytest.approx(np.mean([episodes[f"{name}@{s}"] for s in ("00", "01", "02")]))
    summary = rows[rows["item"] == "ALL"].set_index("metric")["value"]
    assert summary["miou"] == pytest.approx(objects.mean())
    assert 80 < summary["miou"] <= 100
    record = json.loads((rotation / "provenance.json").read_text())
    assert record["protocol"] == "rotate" and record["data"]["items"] == OBJECTS
    assert record["episodes"] == {o: ["00", "01", "02"] for o in OBJECTS}
    assert record["data"]["target_images"] == 12 and record["images"] == 6
    assert record["embedding_cache"]["encoder_calls"] == 6  # every image encoded once, whichever episodes use it
    assert record["config"]["dataset"]["references"] == "rotate"
    assert (rotation / "masks" / "cat@01" / "00.png").is_file() and not (rotation / "masks" / "cat@01" / "01.png").exists()


def test_an_episode_is_scored_as_a_fixed_run_with_its_reference(rotation, fresh_predictor, tmp_path):
    out = tmp_path / "fixed"
    evaluate(_cfg("method=persam", "dataset.ref_stems=[\"01\"]", objects=["cat"]), out, predictor=fresh_predictor)
    fixed = _rows(out).set_index(["item", "metric"])["value"]
    episode = _rows(rotation).set_index(["item", "metric"])["value"]
    assert fixed[("cat", "iou")] == pytest.approx(episode[("cat@01", "iou_episode")])
    assert fixed[("cat", "acc")] == pytest.approx(episode[("cat@01", "acc_episode")])


def test_an_interrupted_rotation_resumes_episode_by_episode(rotation, fresh_predictor, tmp_path, monkeypatch):
    out, cfg = tmp_path / "run", _cfg("method=persam", "dataset.references=rotate")
    calls = []
    real = image_task.run_object

    def stops_at_the_fourth(*args, **kwargs):
        calls.append(args[3])
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(image_task, "run_object", stops_at_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        evaluate(cfg, out, predictor=fresh_predictor)
    finished = sorted(p.stem for p in (out / "items").glob("*.json"))
    assert finished == sorted(calls[:3]) and not (out / "results.csv").exists()
    monkeypatch.setattr(image_task, "run_object", real)
    evaluate(cfg, out, predictor=fresh_predictor)
    record = json.loads((out / "provenance.json").read_text())
    assert record["resumed_items"] == calls[:3] and record["status"] == "complete"
    pd.testing.assert_frame_equal(_scores(out), _scores(rotation))


def test_an_image_with_an_empty_mask_is_a_target_never_a_reference(tmp_path, fresh_predictor):
    root = tmp_path / "data"
    for kind in ("Images", "Annotations"):
        shutil.copytree(SAMPLE / kind / "cat", root / kind / "cat")
    empty = root / "Annotations" / "cat" / "02.png"
    Image.fromarray(np.zeros(np.array(Image.open(empty)).shape, np.uint8)).save(empty)
    out = tmp_path / "run"
    evaluate(_cfg("method=persam", "dataset.references=rotate", f"dataset.root={root}", objects=["cat"]), out,
             predictor=fresh_predictor)
    assert sorted(p.stem for p in (out / "items").glob("*.json")) == ["cat@00", "cat@01"]
    assert json.loads((out / "provenance.json").read_text())["episodes"] == {"cat": ["00", "01"]}
    assert (out / "masks" / "cat@00" / "02.png").is_file() and (out / "masks" / "cat@01" / "02.png").is_file()


@pytest.mark.parametrize("overrides, message", [
    (["dataset.references=rotate", "dataset.ref_stems=[\"00\",\"01\"]"], "names 2"),
    (["dataset.references=rotate", "dataset.not_targets=[\"01\"]"], "not_targets"),
    (["experiment=presence", "dataset.references=rotate"], "image task only"),
    (["experiment=instances", "dataset.references=rotate"], "image task only"),
    (["dataset.references=sometimes"], "must be one of fixed, rotate"),
])
def test_rotation_refuses_what_it_cannot_run(overrides, message):
    with pytest.raises(DataError, match=message):
        reference_protocol(_cfg(*overrides))
    assert reference_protocol(_cfg()) == "fixed"


def test_table1_and_the_pooled_table_show_reference_00_beside_the_rotation(rotation, fresh_predictor, tmp_path):
    runs = tmp_path / "runs"
    evaluate(_cfg("method=persam"), runs / "persam", predictor=fresh_predictor)
    for protocol in ("fixed", "rotate"):
        evaluate(_cfg("method=baseline_similarity", f"dataset.references={protocol}"),
                 runs / f"similarity-{protocol}", predictor=fresh_predictor)
    shutil.copytree(rotation, runs / "persam-rotate")
    table = table1.write(load_runs([runs]), tmp_path / "table1" / "perseg")
    row = table.set_index("key").loc["persam"]
    rotated = _rows(rotation)
    assert row["mIoU (rotation)"] == pytest.approx(rotated[rotated["metric"] == "iou"]["value"].mean(), abs=0.01)
    fixed = _rows(runs / "persam")
    assert row["mIoU (ref 00)"] == pytest.approx(fixed[fixed["metric"] == "iou"]["value"].mean(), abs=0.01)
    assert row["cat"] == pytest.approx(fixed.set_index(["item", "metric"])["value"][("cat", "iou")], abs=0.01)
    merged = pooled.write(table1, [tmp_path / "table1" / "perseg"], tmp_path / "table1")
    assert {"perseg (ref 00, 2, development)", "perseg (rotation, 2, development)", "pooled (ref 00, 2)",
            "pooled (rotation, 2)"} <= set(merged)
    readme = (tmp_path / "table1" / "README.md").read_text()
    assert "## Paired-interval width: one reference against the rotation" in readme
    assert "| perseg | " in readme and "(1 method)" in readme
