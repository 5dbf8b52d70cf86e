"""One-off migration: add the setting columns to result files written before they existed.

    python -m persam.tables.migrate results [MORE_DIRS ...]

Every ``results.csv`` under the given folders that lacks a column of
:data:`persam.experiments.records.COLUMNS` gets it, so the tables read a row's setting from its columns alone.
This is the one place a label is read, once, for rows written when the runner put the setting into the label:
``second_opinion`` from a ``+ second opinion (NAME)`` part (else ``none``); ``presence`` from `` with presence
check`` (the instances task's marker) or the presence task (which runs only with the check), else false;
``max_instances`` from a trailing ``(max_instances=N)`` (else 1); ``task`` from the same marks and the run's
metrics (``instances`` where the label names max_instances, ``presence`` where the rows of its label hold
``auroc``, ``video`` where they hold ``J``, else ``images``); ``protocol`` is ``fixed`` (the rotation came with
the column). The values are derived deterministically, so a second pass changes nothing; files that have every
column are left untouched.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd

from persam.experiments.records import COLUMNS

SECOND_OPINION = re.compile(r" \+ second opinion \(([^()]+)\)")
PRESENCE_CHECK = " with presence check"
MAX_INSTANCES = re.compile(r" \(max_instances=(\d+)\)$")
TASK_METRICS = (("auroc", "presence"), ("J", "video"))  # a metric only that task writes -> the task


def _task(labels: pd.Series, metrics_of_label: dict[str, set[str]]) -> pd.Series:
    def one(label: str) -> str:
        if MAX_INSTANCES.search(label):
            return "instances"
        return next((task for metric, task in TASK_METRICS if metric in metrics_of_label[label]), "images")

    return labels.map(one)


def migrate_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with every missing column of :data:`COLUMNS` derived from the labels (see the module docstring)."""
    rows = rows.copy()
    labels = rows["label"].astype(str)
    metrics_of_label = rows.assign(label=labels).groupby("label")["metric"].agg(set).to_dict()
    derived = {  # in this order: presence reads the task
        "protocol": lambda: "fixed",
        "task": lambda: _task(labels, metrics_of_label),
        "second_opinion": lambda: labels.str.extract(SECOND_OPINION, expand=False).fillna("none"),
        "presence": lambda: labels.str.contains(PRESENCE_CHECK, regex=False) | (rows["task"] == "presence"),
        "max_instances": lambda: pd.to_numeric(labels.str.extract(MAX_INSTANCES, expand=False)).fillna(1).astype(int),
    }
    for column, value in derived.items():
        if column not in rows:
            rows[column] = value()
    ordered = [c for c in COLUMNS if c in rows]
    return rows[ordered + [c for c in rows if c not in ordered]]


def migrate(folders: list[Path]) -> list[Path]:
    """Migrate every ``results.csv`` under ``folders`` that lacks a column; the files changed."""
    changed = []
    for folder in folders:
        for path in sorted(Path(folder).rglob("results.csv")):
            rows = pd.read_csv(path, dtype={"item": str}, keep_default_na=False, na_values=[""])
            if "label" not in rows or set(COLUMNS) <= set(rows):
                continue
            migrate_rows(rows).to_csv(path, index=False)
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m persam.tables.migrate", description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="folders searched for results.csv (e.g. results)")
    args = parser.parse_args(argv)
    missing = [str(f) for f in args.folders if not f.is_dir()]
    if missing:
        print(f"error: not a folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    changed = migrate(args.folders)
    print(f"migrated {len(changed)} results.csv file(s)" + "".join(f"\n  {p}" for p in changed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
