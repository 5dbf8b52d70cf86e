"""``persam compare``: a method config kept outside the package, run on a benchmark set through persam.run and
compared with every baseline of a results folder; the printed verdicts, verdicts.csv and the forest plot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from persam.cli import main
from persam.compare.baselines import benchmark_sets
from persam.compare.variant_runs import hydra_value, run_overrides
from persam.data.io import DataError
from persam.tables.forest import forest_plot

REPO = Path(__file__).resolve().parents[1]
LABEL = "PerSAM, one refinement step"
VARIANT = f"""_target_: persam.methods.persam.PerSAM
name: persam_refine1
label: {LABEL}
refinement_steps: 1
"""


def _package_state() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "persam"], cwd=REPO,
                          capture_output=True, text=True).stdout


def _python(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_compare_runs_an_outside_method_and_prints_a_verdict_per_baseline(tmp_path, embedding_cache):
    before = _package_state()
    env = {**os.environ, "PERSAM_CACHE_DIR": str(embedding_cache.root)}
    # The baselines, as Table 1 makes them, on the bundled sample (3 objects).
    base = _python("-m", "persam.run", "-m", "experiment=table1", "method=persam,persam_f",
                   f"hydra.sweep.dir={tmp_path}/base", "progress=false", "outputs.overlays=false", env=env)
    assert base.returncode == 0, base.stderr[-3000:]
    table = _python("-m", "persam.tables", "table1", str(tmp_path / "base"), "--out", str(tmp_path / "table1" /
                                                                                            "perseg"), env=env)
    assert table.returncode == 0, table.stderr[-3000:]
    (tmp_path / "my_configs" / "method").mkdir(parents=True)
    (tmp_path / "my_configs" / "method" / "persam_refine1.yaml").write_text(VARIANT)

    done = _python("-m", "persam", "compare", "method=persam_refine1", f"hydra.searchpath=[file://{tmp_path}/my_configs]",
                   "--results", str(tmp_path / "table1"), "--out", str(tmp_path / "out"), "progress=false",
                   "outputs.overlays=false", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    verdicts = pd.read_csv(tmp_path / "out" / "verdicts.csv")
    assert sorted(verdicts["baseline"]) == ["PerSAM", "PerSAM-F"] and set(verdicts["key"]) == {"persam_refine1"}
    assert (verdicts["objects"] == 3).all()
    for row in verdicts.itertuples():  # one printed line per baseline, with the verdict the CSV holds
        assert f"| {row.baseline} | perseg | 3 | {row.difference:+.2f} [" in done.stdout
        assert f"| {row.verdict} |" in done.stdout
    with Image.open(tmp_path / "out" / "forest.png") as png:
        assert png.format == "PNG" and png.height > 100
    assert (tmp_path / "out" / "runs" / "perseg" / "results.csv").is_file()
    assert _package_state() == before  # nothing inside the package or its configs was written


@pytest.fixture
def sample_results(tmp_path) -> Path:
    """A results folder of one benchmark set, as ``python -m persam.tables table1`` writes it (rows only)."""
    folder = tmp_path / "table1" / "perseg"
    (folder / "provenance").mkdir(parents=True)
    rows = [("persam", "PerSAM", obj, 90.0 + i) for i, obj in enumerate(["cat", "duck_toy"])]
    pd.DataFrame([{"experiment": "table1", "dataset": "perseg", "subset": "2", "method": m, "label": lab,
                   "model": "vit_t", "corruption": "none", "shots": 1, "item": item, "metric": "iou", "value": v}
                  for m, lab, item, v in rows]).to_csv(folder / "results.csv", index=False)
    (folder / "provenance" / "0_method=persam.json").write_text(
        '{"config": {"dataset": {"name": "perseg", "root": "nowhere/perseg", "objects": null, "ref_stems": ["00"]}}}')
    return tmp_path / "table1"


def test_a_benchmark_set_runs_the_variant_with_its_baselines_dataset_settings(sample_results, tmp_path):
    (found,) = benchmark_sets(sample_results)
    assert (found.name, found.model) == ("perseg", "vit_t")
    assert found.settings == {"root": "nowhere/perseg", "objects": None, "ref_stems": ["00"]}
    overrides = run_overrides(found, ["method=mine"], tmp_path / "a b=c")
    assert overrides[:3] == ["experiment=table1", "dataset=perseg", "model=vit_t"]
    assert "dataset.ref_stems=['00']" in overrides and "dataset.objects=null" in overrides
    assert f"hydra.run.dir='{tmp_path}/a b=c'" in overrides and overrides[-1] == "method=mine"
    assert hydra_value("it's") == "'it\\'s'" and hydra_value(3) == "3"


def test_a_missing_set_is_named_with_the_sets_found(sample_results):
    with pytest.raises(DataError, match="no rows of davis_perseg \\(found: perseg\\)"):
        benchmark_sets(sample_results, ["davis_perseg"])


@pytest.mark.parametrize("overrides,message", [
    (["method=persam"], "the variant's name 'persam' is a baseline's in"),
    (["method=persam_f", "method.label=PerSAM"], "the variant's label 'PerSAM' is a baseline's in"),
    (["method.refinement_steps=1"], "compare needs method=NAME"),
    (["method=no_such_method"], "method=no_such_method: "),
])
def test_a_variant_that_cannot_be_compared_is_one_line_before_any_run(sample_results, overrides, message, capsys):
    assert main(["compare", *overrides, "--results", str(sample_results)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1, err


def test_data_missing_where_the_baselines_read_it_stops_before_any_run(sample_results, capsys):
    assert main(["compare", "method=persam_f", "method.label=Mine", "--results", str(sample_results)]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: nowhere/perseg: not found, the perseg data its baselines in "
        f"{sample_results}/perseg ran on (run from the repository root; docs/data.md says how to get it)")


def test_the_forest_plot_has_a_row_per_comparison_and_the_margin(tmp_path):
    rows = pd.DataFrame({"baseline": ["PerSAM", "PerSAM-F", "PerSAM"], "dataset": ["a", "a", "pooled"],
                         "difference": [1.0, -2.5, 0.2], "ci_low": [0.2, -4.0, -1.0], "ci_high": [1.8, -1.0, 1.5],
                         "verdict": ["better", "worse", "no detectable difference"]})
    one = forest_plot(rows.iloc[:1], tmp_path / "one_forest.png", "one", margin=2.0)
    three = forest_plot(rows, tmp_path / "three_forest.png", "three", margin=2.0)
    with Image.open(one) as small, Image.open(three) as tall:
        assert small.format == tall.format == "PNG" and tall.height > small.height
