"""The committed baselines a variant is compared with: one benchmark set per dataset folder of a results folder
(a table folder as ``python -m persam.tables`` writes it: ``results.csv`` and ``provenance/``), its rows, and the
dataset settings its runs recorded, so the variant runs on the same data, objects and references."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from persam.data.io import DataError
from persam.tables.runs import load_runs

# The dataset settings a variant must share with its baselines to be paired with them object by object (read from
# the baselines' provenance; a key no record holds is left at the dataset config's default): the data, its objects,
# the reference images and targets, and the reference protocol (fixed, or rotate: every annotated image in turn).
PROTOCOL = ("root", "objects", "ref_stems", "not_targets")


@dataclass
class BenchmarkSet:
    """One dataset's committed baseline rows, and how their runs read the data."""

    name: str  # the dataset config, persam/conf/dataset/<name>.yaml
    folder: Path  # the table folder the rows come from
    rows: pd.DataFrame
    model: str
    settings: dict  # PROTOCOL key -> the value every baseline run recorded
    protocols: list[str]  # the reference protocols its rows hold (fixed: reference 00; rotate: the rotation)


def _recorded(folder: Path, records: dict[str, dict], key: str) -> dict:
    """``{key: value}`` for the one value of ``dataset.<key>`` the runs recorded, {} when none did; runs that
    recorded different values are an error."""
    values = set()
    for record in records.values():
        dataset = (record.get("config") or {}).get("dataset") or {}
        if key in dataset:
            values.add(json.dumps(dataset[key], sort_keys=True))
    if len(values) > 1:
        raise DataError(f"{folder}: its baseline runs differ in dataset.{key} ({' / '.join(sorted(values))}); "
                        "compare needs baselines run under one protocol")
    return {key: json.loads(values.pop())} if values else {}


def load_set(folder: Path) -> BenchmarkSet:
    """The benchmark set of one table folder (see the module docstring)."""
    try:
        runs = load_runs([folder])
    except (FileNotFoundError, ValueError) as err:
        raise DataError(str(err)) from None
    rows = runs.rows
    datasets, models = sorted(set(rows["dataset"])), sorted(set(rows["model"]))
    if len(datasets) != 1 or len(models) != 1:
        raise DataError(f"{folder}/results.csv: a benchmark set holds one dataset and one model "
                        f"(found {', '.join(datasets)}; {', '.join(models)})")
    settings = {k: v for key in PROTOCOL for k, v in _recorded(folder, runs.provenances, key).items()}
    protocols = list(dict.fromkeys(rows["protocol"].fillna("fixed"))) if "protocol" in rows else ["fixed"]
    return BenchmarkSet(datasets[0], folder, rows, models[0], settings, protocols)


def benchmark_sets(results: Path, names: list[str] | None = None) -> list[BenchmarkSet]:
    """The sets under ``results`` (each sub-folder with a ``results.csv``), or only ``names``, in that order."""
    found = {p.parent.name: p.parent for p in sorted(results.glob("*/results.csv"))}
    if not found:
        raise DataError(f"{results}: no benchmark set here (no <dataset>/results.csv; e.g. results/table1)")
    missing = [n for n in names or [] if n not in found]
    if missing:
        raise DataError(f"{results}: no rows of {', '.join(missing)} (found: {', '.join(found)})")
    return [load_set(found[n]) for n in (names or found)]
