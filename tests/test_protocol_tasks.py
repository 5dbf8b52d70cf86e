"""The presence and instances tasks end to end (real MobileSAM, bundled sample), and their tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import SAMPLE

from persam.config import compose
from persam.experiments.evaluate import evaluate
from persam.tables.cli import TABLES

ROOT = Path(__file__).resolve().parents[1]


def _cfg(*overrides):
    return compose(["progress=false", "outputs.overlays=false", *overrides])


def _all(run: Path) -> pd.Series:
    rows = pd.read_csv(run / "results.csv")
    return rows[rows["item"] == "ALL"].set_index("metric")["value"]


def test_experiment_configs_compose():
    for name, task in (("fewshot", "images"), ("presence", "presence"), ("instances", "instances")):
        cfg = _cfg(f"experiment={name}")
        assert cfg.dataset.task == task and cfg.experiment_name == name
    assert _cfg("experiment=fewshot").dataset.not_targets == ["r1", "r2"]
    assert _cfg("experiment=presence").method.presence is True


@pytest.mark.slow
def test_presence_task_on_two_sample_objects(tmp_path, predictor):
    cfg = _cfg("experiment=presence", "dataset=perseg", f"dataset.root={SAMPLE}", "dataset.objects=[cat,duck_toy]")
    evaluate(cfg, tmp_path / "run", predictor=predictor)
    summary = _all(tmp_path / "run")
    assert {"auroc", "tpr", "fpr", "miou_pos", "miou_unchecked", "oracle_fpr"} <= set(summary.index)
    assert summary["auroc"] == 100 and summary["tpr"] == 100 and summary["fpr"] == 0  # measured on this sample
    assert summary["oracle_fpr"] == 0  # AUROC 1: every negative scores below every positive
    assert summary["miou_pos"] == pytest.approx(summary["miou_unchecked"]) and summary["miou_pos"] > 85
    # Every decision right (TPR 100, FPR 0): IL_MCC 1; cgF1 = 100 x positive micro-F1, below 100 only where a
    # mask's IoU misses the higher IoU thresholds.
    assert summary["il_mcc"] == pytest.approx(1, abs=1e-5) and 50 < summary["cgf1"] < 100
    table = TABLES["presence"]([tmp_path / "run"], tmp_path / "table")
    assert table.iloc[0]["TPR"] == 100 and (tmp_path / "table" / "README.md").is_file()


@pytest.mark.slow
def test_instances_task_on_sample_composites(tmp_path, predictor):
    sys.path.insert(0, str(ROOT / "data_prep"))
    from copy_paste_instances import build

    build(SAMPLE, tmp_path / "composites")
    runs = []
    for n in (1, 3):
        cfg = _cfg("experiment=instances", "dataset=perseg_instances", f"dataset.root={tmp_path / 'composites'}",
                   "dataset.objects=[cat,duck_toy]", f"method.max_instances={n}")
        evaluate(cfg, tmp_path / f"max{n}", predictor=predictor)
        runs.append(tmp_path / f"max{n}")
    one, three = _all(runs[0]), _all(runs[1])
    assert one["recall"] == 50  # one instance of the two found in each composite
    assert three["recall"] == 100 and three["precision"] == 100
    assert three["miou_single"] == pytest.approx(one["miou_single"])
    cat = json.loads((runs[0] / "items" / "cat.json").read_text())["images"]  # where instances were lost, per image
    assert {"image": "c01", "matched": 1, "true": 2, "predicted": 1} in cat
    assert {"image": "01", "matched": 1, "true": 1, "predicted": 1} in cat
    table = TABLES["instances"](runs, tmp_path / "table")
    assert [label.endswith(f"(max_instances={n})") for label, n in zip(table["method"], [1, 3], strict=True)] == [True] * 2
    assert list(table["recall ci_low"]) == [50, 100] and list(table["recall ci_high"]) == [50, 100]  # both agree
