"""Sweeps never lose a job: every job of a multirun gets its own folder by default, and a run refuses a folder
that holds another configuration's results instead of overwriting them (resume stays for the same one)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from persam.config import compose
from persam.data.io import DataError
from persam.experiments.evaluate import evaluate

REPO = Path(__file__).resolve().parents[1]


def _sweep(tmp_path: Path, cache: Path, *overrides: str) -> list[Path]:
    """Run a real multirun on the bundled sample; its run folders (those holding results.csv)."""
    out = tmp_path / "sweep"
    done = subprocess.run([sys.executable, "-m", "persam.run", "-m", *overrides, f"hydra.sweep.dir={out}",
                           f"cache.dir={cache}", "progress=false", "outputs.overlays=false"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return sorted(p.parent for p in out.glob("*/results.csv"))


def _object_rows(runs: list[Path]) -> pd.DataFrame:
    rows = pd.concat([pd.read_csv(r / "results.csv") for r in runs])
    return rows[(rows.metric == "iou") & (rows["item"] != "ALL")]


def test_a_sweep_over_a_method_setting_keeps_every_job(tmp_path, embedding_cache):
    runs = _sweep(tmp_path, embedding_cache.root, "method=persam", "method.refinement_steps=0,1,2")
    assert [r.name for r in runs] == [f"{i}_method.refinement_steps={i},method=persam" for i in range(3)]
    assert len(_object_rows(runs)) == 9


def test_a_sharded_sweep_with_the_default_subdir_keeps_every_object(tmp_path, embedding_cache):
    runs = _sweep(tmp_path, embedding_cache.root, "method=persam", "dataset.num_shards=2", "dataset.shard=0,1")
    assert len(runs) == 2
    assert sorted(_object_rows(runs)["item"]) == ["cat", "colorful_sneaker", "duck_toy"]


def test_a_folder_with_another_configurations_results_is_refused(tmp_path, predictor):
    def cfg(*overrides):
        return compose(["progress=false", "dataset.objects=[duck_toy]", "outputs.overlays=false", *overrides])

    evaluate(cfg("method=persam"), tmp_path / "run", predictor=predictor)
    before = (tmp_path / "run" / "results.csv").read_text()
    evaluate(cfg("method=persam"), tmp_path / "run", predictor=predictor)  # the same configuration resumes
    with pytest.raises(DataError, match=r"holds the results of another configuration \(method persam, .*"
                                        r"this run is method persam_f"):
        evaluate(cfg("method=persam_f"), tmp_path / "run", predictor=predictor)
    assert (tmp_path / "run" / "results.csv").read_text() == before
