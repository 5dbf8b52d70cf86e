"""The variant's runs: ``python -m persam.run`` (the one experiment path: Hydra, the method's search path, resume,
provenance, one-line errors) once per benchmark set, as Table 1 runs its methods (``experiment=table1``) with the
dataset settings the set's baselines recorded, each into ``<out>/runs/<dataset>/``. A rerun into the same folder
reuses the finished items; a folder holding another configuration is refused by the run itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from persam.compare.baselines import BenchmarkSet
from persam.data.io import DataError
from persam.tables.runs import load_runs

EXPERIMENT = "table1"  # the committed baselines' experiment config (persam/conf/experiment/table1.yaml)


def hydra_value(value) -> str:
    """``value`` as a Hydra override's right-hand side: strings quoted (paths may hold ``=`` or spaces)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    return json.dumps(value)


def run_overrides(benchmark: BenchmarkSet, overrides: list[str], run_dir: Path) -> list[str]:
    """The run's overrides: the baselines' experiment, dataset settings and model, the run folder, then the
    person's own (method=..., hydra.searchpath=..., method.KEY=...)."""
    return [f"experiment={EXPERIMENT}", f"dataset={benchmark.name}", f"model={benchmark.model}",
            *(f"dataset.{key}={hydra_value(value)}" for key, value in benchmark.settings.items()),
            f"hydra.run.dir={hydra_value(str(run_dir))}", *overrides]


def check_data(benchmark: BenchmarkSet) -> None:
    """Stop before any run when a set's data is not where its baselines read it."""
    root = benchmark.settings.get("root")
    if root is not None and not Path(root).is_dir():
        raise DataError(f"{root}: not found, the {benchmark.name} data its baselines in {benchmark.folder} ran on "
                        f"(run from the repository root; docs/data.md says how to get it)")


def run_variant(benchmark: BenchmarkSet, overrides: list[str], run_dir: Path) -> pd.DataFrame:
    """The variant's rows on one set (the run's output goes to this terminal as it runs)."""
    command = [sys.executable, "-m", "persam.run", *run_overrides(benchmark, overrides, run_dir)]
    print(f"== {benchmark.name}: python -m persam.run {' '.join(command[3:])}", flush=True)
    done = subprocess.run(command)
    if done.returncode != 0:
        raise DataError(f"the run on {benchmark.name} stopped (exit code {done.returncode}, its error above); once "
                        "that is fixed, the same command reuses every item already finished")
    return load_runs([run_dir]).rows
