"""Table builders: tables 1, 3 and 4 (with their figures) from result files, never typed by hand."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import SAMPLE

from persam.experiments.records import COLUMNS
from persam.tables import main, write_table3, write_table4

OBJECTS = ["cat", "colorful_sneaker", "duck_toy"]


def make_run(root: Path, method: str, label: str, iou: float, corruption: str = "none") -> Path:
    run = root / f"{method}-{corruption}-vit_t"
    base = {"experiment": "t", "dataset": "perseg", "subset": "3 of 40 objects", "method": method, "label": label,
            "model": "vit_t"}
    rows = [{**base, "item": o, "metric": "iou", "value": iou + i} for i, o in enumerate(OBJECTS)]
    rows += [{**base, "item": "ALL", "metric": "miou", "value": iou + 1},
             {**base, "item": "ALL", "metric": "macc", "value": iou + 1},
             {**base, "item": "ALL", "metric": "sec_per_image", "value": 0.5}]
    run.mkdir(parents=True)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(run / "results.csv", index=False)
    for obj in OBJECTS:  # ground truth as the "prediction", for the qualitative grid
        shutil.copytree(SAMPLE / "Annotations" / obj, run / "masks" / obj)
    record = {
        "date": "2026-11-24", "command": "test", "git": {"commit": "abc", "dirty": False}, "torch": "x", "device": "cpu",
        "machine": {"host_cpu": "cpu", "cpu_count": 2},
        "model": {"name": "vit_t", "checkpoint": "/x/mobile_sam.pt", "sha256": "6dbb9052" * 8},
        "config": {"dataset": {"ref_stem": "00"}, "method": {"label": label}, "corruption": {"name": corruption}},
        "data": {"dataset": "perseg", "root": str(SAMPLE), "subset": "3 of 40 objects", "items": OBJECTS,
                 "target_images": 6},
        "embedding_cache": {"hits": 3, "misses": 9, "encoder_calls": 9},
    }
    (run / "provenance.json").write_text(json.dumps(record))
    return run


def test_table3_ladder_has_gains_baselines_and_the_papers_ladder(tmp_path):
    ladder = [("ablation_pos", 60.0), ("ablation_neg", 65.0), ("ablation_refine", 80.0), ("ablation_attn", 81.0),
              ("persam", 83.0), ("persam_f", 90.0), ("baseline_similarity", 50.0)]
    runs = [make_run(tmp_path / "runs", m, m.upper(), v) for m, v in ladder]
    table = write_table3(runs, tmp_path / "out")
    measured = table[table.kind == "measured"].set_index("key")
    assert list(measured.index[:6]) == [m for m, _ in ladder[:6]]
    assert measured.loc["ablation_pos", "Gain"] == "" and measured.loc["ablation_refine", "Gain"] == "+15.00"
    assert measured.loc["persam_f", "mIoU"] == 91.0 and measured.loc["baseline_similarity", "Gain"] == ""
    assert (table.kind == "reference").sum() == 6
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "63 encoder calls and 63 cache misses" in readme and "(dirty)" not in readme
    for name in ("iou_per_object.png", "qualitative.png", "table3.csv", "results.csv"):
        assert (tmp_path / "out" / name).stat().st_size > 0


def test_table4_has_one_column_per_corruption(tmp_path):
    runs = [make_run(tmp_path / "runs", m, m, 80.0 - k, c) for m in ("persam", "persam_f")
            for k, c in enumerate(["none", "erode75", "dilate95"])]
    table = write_table4(runs, tmp_path / "out")
    row = table.set_index("key").loc["persam_f"]
    assert (row["none"], row["erode75"], row["dilate95"]) == (81.0, 80.0, 79.0)


def test_command_refuses_a_folder_without_results(tmp_path, capsys):
    assert main(["table1", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "no results.csv" in capsys.readouterr().err


@pytest.mark.parametrize("missing", ["provenance.json"])
def test_run_folders_must_be_complete(tmp_path, missing):
    run = make_run(tmp_path / "runs", "persam", "PerSAM", 80.0)
    (run / missing).unlink()
    with pytest.raises(FileNotFoundError):
        write_table3([run], tmp_path / "out")


def test_readme_results_block_is_generated_from_the_committed_results():
    from persam.results_summary import rewrite, summary

    repo = Path(__file__).resolve().parents[1]
    readme = (repo / "README.md").read_text()
    assert rewrite(readme, summary(repo / "results")) == readme, "run: python -m persam.results_summary"
