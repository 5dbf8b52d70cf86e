"""Build a table from run folders (`python -m persam.tables TABLE ...`), or merge a run's shards.

    python -m persam.tables TABLE RUN_DIR [RUN_DIR ...] --out DIR [--wandb]
    python -m persam.tables merge SHARD_DIR [SHARD_DIR ...] --out MERGED_RUN_DIR

Each RUN_DIR is a run directory (``results.csv`` and ``provenance.json``), a folder of run directories (a
Hydra multirun), or a table folder written by this command (rebuilt from its ``results.csv``). The table's CSV,
Markdown (``README.md``), figures and copied provenance are written to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from persam.tables import fewshot, instances, presence, table1, table2, table3, table4
from persam.tables.runs import find_sources, load_runs
from persam.tables.text import markdown

# table name -> its module: NAME, TITLE, HEADLINE (columns for the README summary), build(rows, scope), write.
MODULES = {m.NAME: m for m in (table1, table2, table3, table4, fewshot, presence, instances)}


def _write(module):
    return lambda paths, out: module.write(load_runs(paths), Path(out))


# table name -> writer(run paths, out dir) -> DataFrame.
TABLES = {name: _write(module) for name, module in MODULES.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m persam.tables", description=__doc__.split("\n")[0])
    parser.add_argument("table", choices=[*MODULES, "merge"], help="a table, or merge: join a run's shards")
    parser.add_argument("runs", nargs="+", help="run directories, multirun folders or table folders")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--wandb", action="store_true", help="also log the table and its figures to Weights & Biases "
                        "(offline unless an account is configured)")
    args = parser.parse_args(argv)
    try:
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
