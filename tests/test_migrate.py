"""The one-off migration of result files written before the setting columns: derived from the labels once."""

from __future__ import annotations

import pandas as pd

from persam.experiments.records import COLUMNS
from persam.tables.migrate import main
from persam.tables.runs import load_runs
from persam.tables.verdicts import settings

OLD = ["experiment", "dataset", "subset", "method", "label", "model", "corruption", "shots", "item", "metric", "value"]


def _row(label: str, metric: str, value: float = 50.0) -> list:
    return ["x", "d", "s", "persam", label, "vit_t", "none", 1, "o1", metric, value]


def test_old_rows_gain_the_setting_columns_from_their_labels_once(tmp_path, capsys):
    rows = pd.DataFrame([
        _row("PerSAM", "iou"),
        _row("PerSAM + second opinion (efficientnet_lite0)", "auroc"),  # the presence task: its rows hold auroc
        _row("PerSAM + second opinion (efficientnet_lite0) with presence check (max_instances=3)", "iou_union"),
        _row("PerSAM (max_instances=1)", "iou_union"),
        _row("PerSAM", "J"),
    ], columns=OLD)
    for name in ("a", "b"):  # two files with the same labels: the presence and the video rows apart
        (tmp_path / name).mkdir()
    rows.iloc[[0, 2, 3]].to_csv(tmp_path / "a" / "results.csv", index=False)
    rows.iloc[[1, 4]].to_csv(tmp_path / "b" / "results.csv", index=False)
    assert main([str(tmp_path)]) == 0 and "migrated 2" in capsys.readouterr().out
    a = pd.read_csv(tmp_path / "a" / "results.csv")
    b = pd.read_csv(tmp_path / "b" / "results.csv")
    assert list(a.columns) == COLUMNS and set(a["protocol"]) == {"fixed"}
    assert list(a["task"]) == ["images", "instances", "instances"] and list(b["task"]) == ["presence", "video"]
    assert list(a["second_opinion"]) == ["none", "efficientnet_lite0", "none"]
    assert list(a["presence"]) == [False, True, False] and list(b["presence"]) == [True, False]
    assert list(a["max_instances"]) == [1, 3, 1]
    assert list(settings(a)) == ["", "second_opinion=efficientnet_lite0, presence=on, max_instances=3",
                                 "max_instances=1"]
    before = (tmp_path / "a" / "results.csv").read_text()
    assert main([str(tmp_path)]) == 0 and "migrated 0" in capsys.readouterr().out  # a second pass changes nothing
    assert (tmp_path / "a" / "results.csv").read_text() == before


def test_a_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2 and "not a folder" in capsys.readouterr().err


def test_the_tables_read_the_columns(tmp_path):
    rows = pd.DataFrame([_row("PerSAM (max_instances=3)", "iou")], columns=OLD).assign(
        protocol="fixed", task="instances", second_opinion="none", presence=False, max_instances=1)
    (tmp_path / "r").mkdir()
    rows.to_csv(tmp_path / "r" / "results.csv", index=False)
    (tmp_path / "r" / "provenance.json").write_text("{}")
    assert list(settings(load_runs([tmp_path / "r"]).rows)) == ["max_instances=1"]  # the columns, not the label
