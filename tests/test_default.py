"""The default methods are chosen by paired verdicts: a synthetic results folder with known differences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from persam.tables.default import IMAGE_TABLES, finding, standings

COLUMNS = ["experiment", "dataset", "subset", "method", "label", "model", "corruption", "shots", "item", "metric",
           "value"]


def _rows(table: str, dataset: str, metric: str, offsets: dict[str, float], objects: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    base = rng.uniform(50, 90, objects)
    rows = [[table, dataset, "synthetic", m, m.upper(), "vit_t", "none", 1, f"o{i}", metric,
             base[i] + offset]
            for m, offset in offsets.items() for i in range(objects)]
    return pd.DataFrame(rows, columns=COLUMNS)


def _write(root: Path, table: str, dataset: str, frame: pd.DataFrame) -> None:
    folder = root / table / dataset
    folder.mkdir(parents=True)
    frame.to_csv(folder / "results.csv", index=False)


def test_the_default_is_never_worse_and_measured_everywhere(tmp_path):
    # a: best of the non-oracles; b: 5 points under a; oracle: best of all but reads the ground truth;
    # c: better than a, but only in table1 (not measured elsewhere, so not a candidate).
    _write(tmp_path, "table1", "d1", _rows("table1", "d1", "iou",
                                           {"a": 0, "b": -5, "baseline_oracle_box": 8, "c": 3}))
    _write(tmp_path, "table4", "d1", _rows("table4", "d1", "iou", {"a": 0, "b": 0}))
    tables = {"table1": "iou", "table4": "iou"}
    found = {s.method: s for s in standings(tmp_path, tables)}
    assert "baseline_oracle_box" not in found  # neither candidate nor rival
    assert len(found["b"].losses) == 2 and found["a"].losses == ["table1 d1 vs C (-3.00)"]
    text = finding(tmp_path, tables, "image")
    assert "no method is never worse" in text and "the fewest losses: A, worse in 1" in text
    # Without c, a qualifies: better than b in table1, no detectable difference in table4.
    _rows("table1", "d1", "iou", {"a": 0, "b": -5, "baseline_oracle_box": 8}).to_csv(
        tmp_path / "table1" / "d1" / "results.csv", index=False)
    text = finding(tmp_path, tables, "image")
    assert text.startswith("**Default image method, by paired verdicts**") and ": A (better in 1 comparison)." in text
    assert "A is better in: table1 d1 vs B (+5.00)." in text


def test_the_committed_results_name_their_image_default():
    text = finding(Path(__file__).resolve().parents[1] / "results", IMAGE_TABLES, "image")
    assert text.startswith("**Default image method, by paired verdicts**")
