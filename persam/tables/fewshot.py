"""The few-shot protocol: mIoU with k = 1, 2, 3 ... references per object, on the same targets for every k.

    python -m persam.tables fewshot RUN_DIRS --out results/fewshot/perseg

Rows: metric ``miou`` (item ``ALL``) and ``iou`` (per object), with ``shots`` = k. One row per method with a
column per k (with its bootstrap interval over objects), and the gain of the largest k over k = 1; the README
adds each method's paired verdict at every k against itself at k = 1 (do references add up?).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from persam.tables import generic, verdicts
from persam.tables.runs import Runs, Scope
from persam.tables.text import verdict_section

NAME = "fewshot"
TITLE = "Few-shot: mIoU (%) with k references per object"
HEADLINE = ["mIoU k=1", "mIoU k=2", "mIoU k=3"]


def build(rows: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    table = generic.metric_table(rows, {"miou": "mIoU"}, per_shots=True)
    ks = sorted(int(c.split("=")[1]) for c in table.columns if c.startswith("mIoU k=") and " ci_" not in c)
    if len(ks) > 1 and 1 in ks:
        table[f"gain k={ks[-1]} vs 1"] = (table[f"mIoU k={ks[-1]}"] - table["mIoU k=1"]).round(2)
    return table


def write(runs: Runs, out: Path) -> pd.DataFrame:
    table = build(runs.rows, None)
    gains = [c for c in table.columns if c.startswith("gain")]
    notes = ["Each `mIoU k=N` column: the references are the first N of the object's reference images; the targets "
             "are the images that are a reference for no k compared, the same for every column. "
             + (f"`{gains[0]}`: the difference of the two columns." if gains else "")]
    comparisons = verdicts.compare_shots(runs.rows, "iou")
    lines = verdict_section(comparisons, "the same method with k = 1",
                            heading="Paired verdicts: k references against one") if not comparisons.empty else []
    return generic.write(runs, out, NAME, TITLE, table, notes, lines)
