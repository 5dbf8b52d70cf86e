"""The default methods are chosen by paired verdicts: a synthetic results folder with known differences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from persam.tables.default import IMAGE_TABLES, finding, standings

COLUMNS = ["experiment", "dataset", "subset", "method", "label", "model", "corruption", "shots", "item", "metric",
           "value"]


def _rows(table: str, dataset: str, metric: str, offsets: dict[str, float], objects: int = 20,
          corruption: str = "none") -> pd.DataFrame:
    rng = np.random.default_rng(0)
    base = rng.uniform(50, 90, objects)
    rows = [[table, dataset, "synthetic", m, m.upper(), "vit_t", corruption, 1, f"o{i}", metric,
             base[i] + offset]
            for m, offset in offsets.items() for i in range(objects)]
    return pd.DataFrame(rows, columns=COLUMNS)


def _write(root: Path, table: str, dataset: str, frame: pd.DataFrame) -> None:
    folder = root / table / dataset
    folder.mkdir(parents=True)
    frame.to_csv(folder / "results.csv", index=False)


HELD = "davis16_perseg"  # a held-out set (persam/conf/dataset/davis16_perseg.yaml)


def test_the_default_is_non_inferior_everywhere_on_held_out_data_only(tmp_path):
    # a: best of the non-oracles; b: 5 points under a; oracle: best of all but reads the ground truth;
    # c: better than a, but only in table1 (not measured elsewhere, so not a candidate).
    _write(tmp_path, "table1", HELD, _rows("table1", HELD, "iou", {"a": 0, "b": -5, "baseline_oracle_box": 8, "c": 3}))
    # Table 4: the mask as given repeats Table 1's condition (a 20-point loss there would count twice), and a
    # dilated mask where a and b are equal.
    _write(tmp_path, "table4", HELD, pd.concat([_rows("table4", HELD, "iou", {"a": 0, "b": 20}),
                                                _rows("table4", HELD, "iou", {"a": 0, "b": 0}, corruption="dilate75")]))
    # A development set where b is far better than a: it decides nothing.
    _write(tmp_path, "table1", "davis_perseg", _rows("table1", "davis_perseg", "iou", {"a": 0, "b": 20}))
    tables = {"table1": "iou", "table4": "iou"}
    found = {s.method: s for s in standings(tmp_path, tables)}
    assert "baseline_oracle_box" not in found  # neither candidate nor rival
    assert len(found["a"].family) == 3 and all("davis_perseg" not in w for w, _ in found["b"].family)
    assert [w for w, _ in found["a"].family if w.startswith("table4")] == [f"table4 {HELD} dilate75 vs B"]
    short, better, worse = found["a"].judged()
    assert short == [f"table1 {HELD} vs C (-3.00)"] and better == [f"table1 {HELD} vs B (+5.00)"]
    assert worse == [f"table1 {HELD} vs C (-3.00)"]
    text = finding(tmp_path, tables, "image")
    assert f"held-out data only: {HELD} (20 objects: table1, table4)" in text and "margin of 2 points" in text
    assert "Holm-corrected within its family" in text
    assert "No method qualifies" in text
    assert f"A (family of 3 comparisons, not shown non-inferior in 1), worse in 1: table1 {HELD} vs C (-3.00)" in text
    # Without c, a qualifies: better than b in table1, equal to b (non-inferior within 2 points) in table4.
    _rows("table1", HELD, "iou", {"a": 0, "b": -5, "baseline_oracle_box": 8}).to_csv(
        tmp_path / "table1" / HELD / "results.csv", index=False)
    text = finding(tmp_path, tables, "image")
    assert "Qualifies: A (family of 2 comparisons; better in 1)" in text and "B (family" not in text
    assert f"A is better in: table1 {HELD} vs B (+5.00)." in text


def test_a_set_without_a_role_is_a_clear_error(tmp_path):
    import pytest

    _write(tmp_path, "table1", "d1", _rows("table1", "d1", "iou", {"a": 0, "b": -5}))
    with pytest.raises(ValueError, match="d1.*no config persam/conf/dataset/d1.yaml"):
        finding(tmp_path, {"table1": "iou"}, "image")


def test_the_committed_results_name_their_image_default():
    text = finding(Path(__file__).resolve().parents[1] / "results", IMAGE_TABLES, "image")
    assert text.startswith("**Default image method, by paired verdicts on held-out data only: davis16_perseg (20 ")
    for development in ("perseg", "davis_perseg", "davis_fewshot", "davis_instances"):
        assert f": {development} (" not in text and f"; {development} (" not in text
        assert f" {development} vs" not in text
