"""Build a table from run folders (`python -m persam.tables TABLE ...`), or merge a run's shards.

    python -m persam.tables TABLE RUN_DIR [RUN_DIR ...] --out DIR [--wandb]
    python -m persam.tables pooled TABLE TABLE_DIR [TABLE_DIR ...] --out DIR
    python -m persam.tables compare RUN_DIR [RUN_DIR ...] --baseline METHOD [--dataset D] [--metric M]
    python -m persam.tables merge SHARD_DIR [SHARD_DIR ...] --out MERGED_RUN_DIR

Each RUN_DIR is a run directory (``results.csv`` and ``provenance.json``), a folder of run directories (a
Hydra multirun), or a table folder written by this command (rebuilt from its ``results.csv``). The table's CSV,
Markdown (``README.md``), figures and copied provenance are written to ``--out``. ``pooled`` joins one image
table's dataset folders (:mod:`persam.tables.pooled`); ``compare`` prints the paired verdict of every method
against ``--baseline`` per dataset and, over several datasets, pooled (:mod:`persam.tables.verdicts`); files among
RUN_DIRs (a shell glob such as ``results/table1/*`` holds the pooled README) are passed over.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from persam.metrics.paired_test import MARGIN
from persam.tables import (
    default,
    fewshot,
    instances,
    plus_ablation,
    pooled,
    presence,
    table1,
    table2,
    table3,
    table4,
    verdicts,
)
from persam.tables.runs import find_sources, load_runs
from persam.tables.text import markdown, verdict_section

# table name -> its module: NAME, TITLE, HEADLINE (columns for the README summary), build(rows, scope), write.
MODULES = {m.NAME: m for m in (table1, table2, table3, table4, fewshot, presence, instances, plus_ablation)}


def _write(module):
    return lambda paths, out: module.write(load_runs(paths), Path(out))


# table name -> writer(run paths, out dir) -> DataFrame.
TABLES = {name: _write(module) for name, module in MODULES.items()}


def compare(paths: list[str], baseline: str, dataset: str | None, metric: str | None,
            margin: float = MARGIN) -> list[str]:
    """The ``compare`` report: the verdicts against ``baseline`` per dataset, then pooled over the datasets."""
    rows = load_runs([p for p in paths if Path(p).is_dir()] or paths).rows
    if dataset is not None:
        if dataset not in set(rows["dataset"]):
            raise ValueError(f"no rows of dataset {dataset} (found: {', '.join(sorted(set(rows['dataset'])))})")
        rows = rows[rows["dataset"] == dataset]
    objects = set(rows.loc[rows["item"] != "ALL", "metric"])
    metric = metric or next((m for m in verdicts.PER_OBJECT.values() if m in objects or
                             (m == "J&F" and {"J", "F"} <= objects)), None)
    if metric is None:
        raise ValueError(f"no per-object metric to compare (known: {', '.join(verdicts.PER_OBJECT.values())})")
    if baseline not in set(rows["method"]) | set(rows["label"]):
        raise ValueError(f"baseline {baseline!r} is not among the runs' methods: {', '.join(dict.fromkeys(rows['method']))}")
    lines = []
    datasets = list(dict.fromkeys(rows["dataset"]))
    for name, pool in [*((d, False) for d in datasets), *([("pooled", True)] if len(datasets) > 1 else [])]:
        these = rows if pool else rows[rows["dataset"] == name]
        found = verdicts.compare(these, metric, baseline, pooled=pool, margin=margin)
        if found.empty:
            lines += [f"## {name}: no method beside {baseline} ran here", ""]
            continue
        count = found["objects"].max()
        lines += verdict_section(found, found["baseline"].iloc[0],
                                 heading=f"{name} ({count} objects, `{metric}`): against {found['baseline'].iloc[0]}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m persam.tables", description=__doc__.split("\n")[0])
    parser.add_argument("table", choices=[*MODULES, "pooled", "compare", "merge", "default"],
                        help="a table; pooled: one image table over its datasets; compare: paired verdicts; merge: "
                             "join a run's shards; default: the default methods by paired verdicts")
    parser.add_argument("runs", nargs="+", help="run directories, multirun folders or table folders (pooled: the "
                        "table's name first; default: the results folder)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--baseline", help="compare: the method (key or label) every other is compared with")
    parser.add_argument("--dataset", help="compare: only this dataset")
    parser.add_argument("--margin", type=float, default=MARGIN,
                        help=f"compare: the equivalence margin in points (default {MARGIN:g})")
    parser.add_argument("--metric", help="compare: the per-object metric (default: the first of iou, iou_pos, ...)")
    parser.add_argument("--wandb", action="store_true", help="also log the table and its figures to Weights & Biases "
                        "(offline unless an account is configured)")
    args = parser.parse_args(argv)
    if args.table == "compare" and not args.baseline:
        parser.error("compare needs --baseline METHOD")
    if args.table == "default":
        print(default.summary(Path(args.runs[0])))
        return 0
    if args.table != "compare" and args.out is None:
        parser.error(f"{args.table} needs --out DIR")
    try:
        if args.table == "compare":
            print("\n".join(compare(args.runs, args.baseline, args.dataset, args.metric, args.margin)))
            return 0
        if args.table == "pooled":
            name, *dirs = args.runs
            module = MODULES.get(name)
            if module is None or not hasattr(module, "PER_OBJECT") or not dirs:
                raise ValueError(f"pooled takes an image table (table1, table3, table4) and its dataset folders, "
                                 f"not {' '.join(args.runs)}")
            print(markdown(pooled.write(module, dirs, args.out)))
            print(f"written: {args.out}/ (README.md, pooled.csv)")
            return 0
        if args.table == "merge":
            from persam.experiments.merge import MergeError, merge_shards  # the runner's side: imports torch

            shards = find_sources(args.runs)
            try:
                merged = merge_shards(shards, args.out)
            except MergeError as err:
                raise ValueError(str(err)) from None
            print(f"merged {len(shards)} shards ({merged['item'].nunique() - 1} items) into {args.out}")
            return 0
        runs = load_runs(args.runs)
        table = MODULES[args.table].write(runs, args.out)
    except (FileNotFoundError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.wandb:
        from persam.experiments.loggers import log_table

        group = log_table(args.table, table, args.out, list(runs.dirs.values()))
        print(f"logged to W&B group {group}")
    print(markdown(table))
    print(f"written: {args.out}/ (README.md, CSV, provenance/)")
    return 0
