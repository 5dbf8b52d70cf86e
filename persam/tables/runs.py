"""The inputs of a table: the tidy rows and provenance records of the runs it is built from.

A source is either a run directory (``results.csv`` and ``provenance.json``, with ``masks/`` for figures), a
folder of such run directories (a Hydra multirun), or a table's own output folder (``results.csv`` and
``provenance/<run>.json``, as committed under ``results/``), so that every committed table can be rebuilt
from its rows. Rows written before a column existed get its neutral value (``corruption`` "none",
``shots`` 1, ``protocol`` "fixed", the setting columns' of :data:`persam.tables.verdicts.SETTING_COLUMNS`; the
corruption is read from the run's recorded configuration when it has one); result files written before the
setting columns existed are brought up to date once by ``python -m persam.tables.migrate``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from persam.experiments.records import COLUMNS
from persam.tables.verdicts import SETTING_COLUMNS, setting_of, settings

DEFAULTS = {"corruption": "none", "shots": 1, "protocol": "fixed", **SETTING_COLUMNS}


@dataclass
class Runs:
    """What a table is built from.

    ``rows``: the tidy rows of every run (:data:`COLUMNS` plus ``run``, the run's name);
    ``provenances``: run name -> provenance record; ``dirs``: run name -> run directory, only for runs whose
    per-item outputs (masks) are at hand (none when the table is rebuilt from a table folder).
    """

    rows: pd.DataFrame
    provenances: dict[str, dict]
    dirs: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class Scope:
    """What the runs of a table covered: matched against a reference number's scope before it is shown."""

    dataset: str
    items: tuple[str, ...]  # sorted
    models: frozenset[str]

    def describe(self) -> str:
        return f"{self.dataset}, {len(self.items)} items, model {', '.join(sorted(self.models))}"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing (every run folder needs its provenance record)") from None
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def _read_rows(path: Path, run: str, provenance: dict | None) -> pd.DataFrame:
    try:
        rows = pd.read_csv(path, dtype={"item": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"{path}: cannot be read as CSV ({err})") from None
    missing = {"method", "label", "model", "item", "metric", "value"} - set(rows.columns)
    if missing:
        raise ValueError(f"{path}: not a results file (no column {', '.join(sorted(missing))})")
    recorded = ((provenance or {}).get("config") or {}).get("corruption") or {}
    for column, default in DEFAULTS.items():
        if column not in rows.columns:
            rows[column] = recorded.get("name", default) if column == "corruption" else default
    for column, default in DEFAULTS.items():
        rows[column] = rows[column].fillna(default).astype(type(default))
    ordered = [c for c in COLUMNS if c in rows.columns]
    return rows[ordered + [c for c in rows.columns if c not in ordered]].assign(run=run)


def find_sources(paths: list[str | Path]) -> list[Path]:
    """Every run directory or table folder named by ``paths`` (a multirun folder stands for its runs)."""
    found: list[Path] = []
    for path in map(Path, paths):
        here = [path] if (path / "results.csv").is_file() else sorted(p.parent for p in path.glob("*/results.csv"))
        if not here:
            raise FileNotFoundError(f"{path}: no results.csv here or in its sub-folders")
        found += here
    return found


def _row_variants(rows: pd.DataFrame) -> pd.Series:
    """Each row's variant: (dataset, method, model, corruption, shots, protocol, setting), from its columns."""
    return pd.Series(list(zip(rows["dataset"], rows["method"], rows["model"], rows["corruption"], rows["shots"],
                              rows["protocol"], settings(rows), strict=True)), index=rows.index)


def _record_variant(record: dict) -> tuple:
    """The variant a provenance record ran, as :func:`_row_variants` names its rows (from its configuration)."""
    config = record.get("config") or {}
    method = config.get("method") or {}
    dataset = config.get("dataset") or {}
    setting = setting_of(dataset.get("task") or "images", method.get("second_opinion") or "none",
                         bool(method.get("presence")), method.get("max_instances") or 1)
    return ((record.get("data") or {}).get("dataset"), method.get("name"), (record.get("model") or {}).get("name"),
            (config.get("corruption") or {}).get("name", "none"), len(dataset.get("ref_stems") or ["00"]),
            dataset.get("references") or "fixed", setting)


def load_runs(paths: list[str | Path]) -> Runs:
    """Rows, provenance and run directories of every source in ``paths`` (see the module docstring)."""
    frames, provenances, dirs = [], {}, {}
    for source in find_sources(paths):
        run_dir = (source / "provenance.json").is_file() or not (source / "provenance").is_dir()
        if run_dir:
            record = _read_json(source / "provenance.json")
            rows = _read_rows(source / "results.csv", source.name, record)
        else:  # a table folder: its runs' rows in one file, their records in provenance/
            records = {p.stem: _read_json(p) for p in sorted((source / "provenance").glob("*.json"))}
            rows = _read_rows(source / "results.csv", "", None)
            here = {}
        redone = set(_row_variants(rows))  # earlier rows of the same variants are superseded (named after this)
        frames = [f[~_row_variants(f).isin(redone)] for f in frames]
        provenances = {n: r for n, r in provenances.items() if _record_variant(r) not in redone}
        dirs = {n: d for n, d in dirs.items() if n in provenances}
        if run_dir:
            name = source.name if source.name not in provenances else f"{source.parent.name}-{source.name}"
            records, here, rows = {name: record}, {name: source}, rows.assign(run=name)
        frames.append(rows)
        provenances.update(records)
        dirs.update(here)
    return Runs(pd.concat(frames, ignore_index=True), provenances, dirs)


def scope_of(runs: Runs) -> Scope:
    """Dataset, items and models of the runs: items from provenance (``data.items``), else from the rows."""
    datasets = sorted(set(runs.rows["dataset"]))
    if len(datasets) != 1:
        raise ValueError(f"a table is built from runs on one dataset; these cover {', '.join(datasets)}")
    items = {i for p in runs.provenances.values() for i in (p.get("data") or {}).get("items", [])}
    if not items:
        items = {str(i).split("/")[0] for i in runs.rows["item"] if i != "ALL"}
    return Scope(datasets[0], tuple(sorted(items)), frozenset(runs.rows["model"]))


def save_sources(runs: Runs, out: Path) -> None:
    """Write the runs' rows (``results.csv``) and provenance records (``provenance/<run>.json``) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    runs.rows.drop(columns=["run"]).to_csv(out / "results.csv", index=False)
    folder = out / "provenance"
    records = dict(runs.provenances)  # read before the folder is replaced: it may be the source itself
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    for name, record in records.items():
        (folder / f"{name}.json").write_text(json.dumps(record, indent=2, default=str) + "\n")


def kind(method: str) -> str:
    """``upper bound`` for a method that reads the ground truth (its name says oracle), else ``measured``."""
    return "upper bound" if "oracle" in method else "measured"


def summary_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The aggregate rows (``item == "ALL"``)."""
    return rows[rows["item"] == "ALL"]


def methods_in_order(rows: pd.DataFrame) -> list[str]:
    """Method names in the order their rows first appear."""
    return list(dict.fromkeys(rows["method"]))


def labels(rows: pd.DataFrame) -> dict[str, str]:
    """Method name -> its label (the first one recorded)."""
    return rows.drop_duplicates("method").set_index("method")["label"].to_dict()
