"""Uncertainty on every number: the bootstrap interval over objects, paired verdicts, the intervals a table
carries (rebuilt here from its rows by an independent computation), the pooled table and ``compare``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_tables import OBJECTS, make_run

from persam.metrics.bootstrap import bootstrap_ci, ratio_bootstrap_ci
from persam.metrics.paired_test import BETTER, EQUIVALENT, TOO_FEW, UNDECIDED, WORSE, decide, paired
from persam.tables import main, write_table1


def test_identical_methods_are_equivalent():
    scores = np.random.default_rng(1).uniform(30, 97, size=20)
    c = paired(scores, scores)
    assert c.interval() == (0.0, 0.0) and c.mean_difference == 0.0
    assert decide(c) == EQUIVALENT and (c.wins, c.ties, c.losses) == (0, 20, 0)


def test_noise_around_zero_is_neither_better_nor_worse():
    rng = np.random.default_rng(2)
    baseline = rng.uniform(30, 97, size=36)
    noise = rng.normal(0, 5, size=36)
    c = paired(baseline + noise - noise.mean(), baseline)  # differences of mean exactly 0
    low, high = c.interval()
    assert low < 0 < high and decide(c) in (EQUIVALENT, UNDECIDED)
    assert abs(c.mean_difference) < 1e-9


def test_a_constant_gain_is_better_with_a_point_interval():
    baseline = np.random.default_rng(3).uniform(30, 90, size=13)
    c = paired(baseline + 5, baseline)
    assert c.interval() == pytest.approx((5, 5)) and decide(c) == BETTER
    assert (c.wins, c.ties, c.losses) == (13, 0, 0)
    assert decide(paired(baseline - 5, baseline)) == WORSE


def test_interval_is_fixed_by_the_seed_and_not_by_the_object_order():
    values = np.random.default_rng(4).uniform(0, 100, size=20)
    low, high = bootstrap_ci(values)
    assert low < values.mean() < high
    assert bootstrap_ci(values[::-1]) == (low, high) == bootstrap_ci(list(values))
    assert bootstrap_ci(values, seed=1) != (low, high)


def test_a_pooled_ratio_interval_resamples_objects():
    """Recall pooled over objects (matched / true instances, summed): the interval holds the pooled ratio, does not
    depend on the object order, and is wider when the objects disagree."""
    matched, true = np.array([9, 10, 4, 8, 10, 6, 10, 7]), np.full(8, 10)
    low, high = ratio_bootstrap_ci(matched, true)
    assert low < matched.sum() / true.sum() < high
    assert ratio_bootstrap_ci(matched[::-1], true[::-1]) == (low, high)
    agree_low, agree_high = ratio_bootstrap_ci(np.full(8, 8), true)
    assert agree_low == agree_high == 0.8 and high - low > 0.05
    with pytest.raises(ValueError, match="sum to 0"):
        ratio_bootstrap_ci([0, 0], [0, 0])


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_ci([])
    with pytest.raises(ValueError, match="same objects"):
        paired([1.0, 2.0], [1.0])


def test_table_intervals_are_rebuilt_from_the_per_object_rows(tmp_path):
    """The CSV's mIoU ci_low / ci_high equal a percentile bootstrap computed here from the rows, independently."""
    runs = [make_run(tmp_path / "runs", m, v) for m, v in (("persam", 70.0), ("persam_f", 80.0))]
    rows = pd.read_csv(runs[0] / "results.csv")
    noisy = rows["metric"] == "iou"
    rows.loc[noisy, "value"] = [31.0, 64.0, 97.0]  # a spread, so the interval is not a point
    rows.loc[rows["metric"] == "miou", "value"] = 64.0
    rows.to_csv(runs[0] / "results.csv", index=False)
    table = write_table1(runs, tmp_path / "out").set_index("key")
    values = np.sort(np.array([31.0, 64.0, 97.0]))
    picks = np.random.default_rng(0).integers(0, 3, size=(10_000, 3))
    low, high = np.percentile(values[picks].mean(axis=1), [2.5, 97.5])
    assert table.loc["persam", "mIoU"] == 64.0
    assert (table.loc["persam", "mIoU ci_low"], table.loc["persam", "mIoU ci_high"]) == (round(low, 2), round(high, 2))
    readme = (tmp_path / "out" / "README.md").read_text()
    assert f"| 64.0 [{low:.1f}, {high:.1f}] |" in readme
    assert "## Paired verdicts against PERSAM_F" in readme  # Table 1's baseline is PerSAM-F


def _dataset_tables(tmp_path) -> list[str]:
    """Two datasets' Table 1 folders: perseg (3 objects) and davis_perseg (2 objects)."""
    out = []
    for dataset, objects in (("perseg", OBJECTS), ("davis_perseg", ["dog", "goat"])):
        runs = [make_run(tmp_path / dataset, m, v, objects=objects, dataset=dataset)
                for m, v in (("persam", 70.0), ("persam_f", 80.0), ("persam_plus", 80.0))]
        write_table1(runs, tmp_path / "results" / dataset)
        out.append(str(tmp_path / "results" / dataset))
    return out


def test_pooled_table_weighs_every_object_once(tmp_path):
    dirs = _dataset_tables(tmp_path)
    assert main(["pooled", "table1", *dirs, "--out", str(tmp_path / "results")]) == 0
    pooled = pd.read_csv(tmp_path / "results" / "pooled.csv").set_index("key")
    # persam: perseg 70, 71, 72 and davis_perseg 70, 71 -> (70 + 71 + 72 + 70 + 71) / 5
    assert pooled.loc["persam", "pooled (5)"] == 70.8
    assert pooled.loc["persam", "perseg (3, development)"] == 71.0
    assert pooled.loc["persam", "davis_perseg (2, development)"] == 70.5
    readme = (tmp_path / "results" / "README.md").read_text()
    assert "Paired verdicts against PERSAM_F, pooled over 5 objects" in readme
    assert f"| PERSAM | 5 | -10.0 (no test) | 0 / 0 / 5 | {TOO_FEW} |" in readme  # 5 objects: no verdict


def test_a_pooled_cell_over_fewer_objects_than_its_header_says_so_in_words(tmp_path):
    dirs = _dataset_tables(tmp_path)
    rows = Path(dirs[1]) / "results.csv"  # persam ran only one of davis_perseg's two objects
    frame = pd.read_csv(rows)
    frame[(frame["method"] != "persam") | (frame["item"] != "goat")].to_csv(rows, index=False)
    assert main(["pooled", "table1", *dirs, "--out", str(tmp_path / "results")]) == 0
    readme = (tmp_path / "results" / "README.md").read_text()
    persam = next(line for line in readme.splitlines() if line.startswith("| PERSAM |"))
    assert "(1 of 2 objects)" in persam and "(4 of 5 objects)" in persam
    assert "(of" not in next(line for line in readme.splitlines() if line.startswith("| PERSAM_F |"))


def test_compare_prints_a_verdict_for_every_method(tmp_path, capsys):
    dirs = _dataset_tables(tmp_path)
    (tmp_path / "results" / "README.md").write_text("a file among the folders, as a shell glob gives it")
    assert main(["compare", *dirs, str(tmp_path / "results" / "README.md"), "--baseline", "persam_f"]) == 0
    out = capsys.readouterr().out
    for name, count in (("perseg", 3), ("davis_perseg", 2), ("pooled", 5)):
        assert f"## {name} ({count} objects, `iou`): against PERSAM_F" in out
    assert out.count("| PERSAM | ") == 3 and out.count("| PERSAM_PLUS | ") == 3
    assert f"| PERSAM_PLUS | 5 | +0.0 (no test) | 0 / 5 / 0 | {TOO_FEW} |" in out
    assert main(["compare", *dirs, "--baseline", "persam_f", "--dataset", "perseg"]) == 0
    assert "## pooled" not in capsys.readouterr().out
    assert main(["compare", *dirs, "--baseline", "nothing"]) == 2
    assert "baseline 'nothing' is not among" in capsys.readouterr().err


def test_a_setting_is_made_from_the_row_columns_never_from_the_label():
    from persam.tables.verdicts import setting_of, settings, without_checks

    assert setting_of("images", "none", False, 1) == ""
    assert setting_of("instances", "none", False, 3) == "max_instances=3"
    assert setting_of("presence", "efficientnet_lite0", True, 1) == "second_opinion=efficientnet_lite0"  # always checks
    full = setting_of("instances", "efficientnet_lite0", True, 3)
    assert full == "second_opinion=efficientnet_lite0, presence=on, max_instances=3"
    assert without_checks(full) == "max_instances=3" and without_checks("second_opinion=x") == ""
    rows = pd.DataFrame({"label": ["A (max_instances=3)", "A"], "task": ["images", "instances"],
                         "max_instances": [1, 3]})
    assert list(settings(rows)) == ["", "max_instances=3"]  # the label's text is not read


def _presence_rows(method: str, label: str, values) -> list[dict]:
    opinion = "e" if "second opinion" in label else "none"  # the label is display; the columns are the setting
    base = {"experiment": "presence", "dataset": "d", "subset": "s", "method": method, "label": label,
            "model": "vit_t", "corruption": "none", "shots": 1, "task": "presence", "second_opinion": opinion,
            "presence": True, "metric": "iou_pos"}
    return [{**base, "item": f"o{i}", "value": v} for i, v in enumerate(values)]


def test_each_method_with_its_second_opinion_is_compared_with_itself_without_and_rivals_within_the_setting():
    from persam.tables import verdicts

    plain = np.random.default_rng(5).uniform(30, 90, size=12)
    rows = pd.DataFrame(_presence_rows("a", "A", plain) + _presence_rows("a", "A + second opinion (e)", plain + 4)
                        + _presence_rows("b", "B", plain + 1) + _presence_rows("b", "B + second opinion (e)", plain))
    checks = verdicts.compare_checks(rows, "iou_pos").set_index("key")
    assert checks.loc["a", "verdict"] == BETTER and checks.loc["a", "difference"] == pytest.approx(4)
    assert checks.loc["b", "verdict"] == WORSE and checks.loc["a", "setting"] == "second_opinion=e"
    rivals = verdicts.compare(rows, "iou_pos", "a")  # B against A, and B's second opinion against A's only
    pairs = {(r.method, r.baseline): r.difference for r in rivals.itertuples()}
    assert pairs == {("B", "A"): pytest.approx(1), ("B + second opinion (e)", "A + second opinion (e)"): pytest.approx(-4)}
