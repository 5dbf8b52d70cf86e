"""``persam compare``: a method config kept outside the package, run on a benchmark set through persam.run and
compared with every baseline of a results folder; the printed verdicts, verdicts.csv and the forest plot."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from persam.cli import main
from persam.cli.parser import build_parser, overrides_first
from persam.compare.baselines import benchmark_sets
from persam.compare.command import variant_method
from persam.compare.report import verdict_table
from persam.compare.variant_runs import hydra_value, run_overrides
from persam.config import compose
from persam.data.io import DataError
from persam.metrics.paired_test import TOO_FEW
from persam.tables.forest import forest_plot

REPO = Path(__file__).resolve().parents[1]
LABEL = "PerSAM, one refinement step"
VARIANT = f"""defaults:
  - persam
  - _self_
name: persam_refine1
label: {LABEL}
refinement_steps: 1
"""


def walkthrough() -> str:
    """docs/compare.md's walkthrough, run with this test's interpreter (the one .venv/bin/persam belongs to)."""
    text = (REPO / "docs" / "compare.md").read_text()
    block = re.search(r"<!-- compare-walkthrough:begin -->\n```bash\n(.*?)```\n<!-- compare-walkthrough:end -->", text,
                      re.S)
    assert block, "docs/compare.md lost its walkthrough"
    return block.group(1).replace(".venv/bin/persam", f"{sys.executable} -m persam")


# The reference-rotation protocol where this checkout's dataset configs have it: the baselines run with it, and
# compare must run the variant with it too (read from their records).
ROTATION = ["dataset.references=rotate"] if "references" in compose([]).dataset else []


def _package_state() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "persam"], cwd=REPO,
                          capture_output=True, text=True).stdout


def _python(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_compare_runs_an_outside_method_and_prints_a_verdict_per_baseline(tmp_path, embedding_cache):
    before = _package_state()
    env = {**os.environ, "PERSAM_CACHE_DIR": str(embedding_cache.root)}
    # The baselines, as Table 1 makes them, on the bundled sample (3 objects).
    base = _python("-m", "persam.run", "-m", "experiment=table1", "method=persam,persam_f", *ROTATION,
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
    assert (verdicts["objects"] == 3).all() and (verdicts["verdict"] == TOO_FEW).all()  # the sample's 3 objects
    for row in verdicts.itertuples():  # one printed line per baseline
        assert (f"| {row.baseline} | perseg | development | rotation | 3 | {row.difference:+.1f} (no test) | {row.wins} / "
                f"{row.ties} / {row.losses} | {TOO_FEW} |") in done.stdout
    with Image.open(tmp_path / "out" / "forest.png") as png:
        assert png.format == "PNG" and png.height > 100
    # The baselines ran the rotation only, so the variant did too (into runs/<set>-rotate).
    record = json.loads((tmp_path / "out" / "runs" / "perseg-rotate" / "provenance.json").read_text())
    baseline = json.loads(next((tmp_path / "base").glob("*/provenance.json")).read_text())
    assert record["config"]["dataset"] == {**baseline["config"]["dataset"]}  # the baselines' protocol, as recorded
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
        '{"config": {"dataset": {"name": "perseg", "root": "nowhere/perseg", "objects": null, "ref_stems": ["00"], '
        '"references": "rotate", "shard": 0}}}')
    return tmp_path / "table1"


def test_a_benchmark_set_runs_the_variant_with_its_baselines_dataset_settings(sample_results, tmp_path):
    (found,) = benchmark_sets(sample_results)
    assert (found.name, found.model) == ("perseg", "vit_t")
    assert found.settings == {"root": "nowhere/perseg", "objects": None, "ref_stems": ["00"]}
    assert found.protocols == ["fixed"]  # the rows' protocols (none recorded: reference 00); compare runs each
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
    rows = pd.DataFrame({"baseline": ["PerSAM", "PerSAM-F", "PerSAM", "P2SAM"], "dataset": ["a", "a", "pooled", "b"],
                         "difference": [1.0, -2.5, 0.2, 0.4], "ci_low": [0.2, -4.0, -1.0, None],
                         "ci_high": [1.8, -1.0, 1.5, None], "verdict": ["better", "worse", "equivalent", TOO_FEW]})
    one = forest_plot(rows.iloc[:1], tmp_path / "one_forest.png", "one", margin=2.0)
    three = forest_plot(rows, tmp_path / "three_forest.png", "three", margin=2.0)
    with Image.open(one) as small, Image.open(three) as tall:
        assert small.format == tall.format == "PNG" and tall.height > small.height


def test_the_walkthroughs_variant_is_persam_with_one_setting_changed(tmp_path):
    files_only = walkthrough().split(sys.executable)[0]
    subprocess.run(["bash", "-euo", "pipefail", "-c", files_only], cwd=REPO, check=True,
                   env={**os.environ, "SCRATCH": str(tmp_path)})
    overrides = ["method=persam_refine1", f"hydra.searchpath=[file://{tmp_path}/my_configs]"]
    assert variant_method(overrides) == ("persam_refine1", LABEL)
    variant, persam = compose(overrides).method, compose(["method=persam"]).method
    changed = {k for k in persam if variant[k] != persam[k]}
    assert changed == {"name", "label", "refinement_steps"} and variant.refinement_steps == 1


DATA = [REPO / "data" / "davis_perseg", REPO / "data" / "davis16_perseg"]


@pytest.mark.slow
@pytest.mark.skipif(not all(d.is_dir() for d in DATA), reason="make davis_perseg davis16_perseg first (docs/compare.md)")
def test_the_walkthrough_runs_as_written_against_every_committed_baseline(tmp_path):
    before = _package_state()
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", walkthrough()], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "SCRATCH": str(tmp_path)}, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    verdicts = pd.read_csv(tmp_path / "compare" / "verdicts.csv")
    committed = {f.parent.name: pd.read_csv(f) for f in (REPO / "results" / "table1").glob("*/results.csv")}
    for dataset, rows in committed.items():
        assert set(verdicts.loc[verdicts["dataset"] == dataset, "baseline"]) == set(rows["label"])
        assert f"| PerSAM | {dataset} |" in done.stdout
    assert (tmp_path / "compare" / "forest.png").is_file() and "forest.png" in done.stdout
    assert _package_state() == before


def test_overrides_may_come_anywhere_on_the_line():
    parser, _ = build_parser()
    args = parser.parse_args(overrides_first(["compare", "method=mine", "--out", "a=b", "progress=false",
                                              "--datasets", "perseg", "davis_perseg", "outputs.overlays=false"]))
    assert args.overrides == ["method=mine", "progress=false", "outputs.overlays=false"]
    assert (str(args.out), args.datasets) == ("a=b", ["perseg", "davis_perseg"])


def _rows(method: str, dataset: str, values: list[float]) -> list[dict]:
    return [{"dataset": dataset, "method": method, "label": method.upper(), "model": "vit_t", "corruption": "none",
             "shots": 1, "item": f"o{i}", "metric": "iou", "value": v} for i, v in enumerate(values)]


def test_the_verdicts_are_one_family_over_every_baseline_and_set():
    base = [60.0 + 3 * i for i in range(10)]
    rows = pd.DataFrame([*_rows("persam", "davis_perseg", base), *_rows("persam", "davis16_perseg", base),
                         *_rows("p2sam", "davis_perseg", base), *_rows("p2sam", "davis16_perseg", base),
                         *_rows("mine", "davis_perseg", [v + 5 for v in base]),
                         *_rows("mine", "davis16_perseg", [v + 5 + (i % 2) for i, v in enumerate(base)])])
    table = verdict_table(rows, "mine")
    assert list(zip(table["baseline"], table["dataset"], strict=True)) == [
        (b, d) for b in ("PERSAM", "P2SAM") for d in ("davis_perseg", "davis16_perseg", "pooled")]
    assert list(table["role"]) == ["development", "held-out", "development + held-out"] * 2
    assert set(table["objects"]) == {10, 20} and (table["verdict"] == "better").all()
    # Holm over the six: the most significant is decided at 5% / 6, the others at no looser a level.
    assert table["level"].min() == pytest.approx(0.05 / 6) and (table["level"] <= 0.05).all()
    assert verdict_table(rows[rows["method"] != "mine"], "mine").empty  # no variant rows: nothing to judge
