"""Tables of the protocols of our own (not in the paper): few-shot, presence, several instances.

Built from result files only (``results.csv`` rows, ``provenance.json``), as Tables 1-4; each writer puts
``README.md``, ``<name>.csv``, ``results.csv`` and ``provenance/`` in its output folder. No torch import.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from persam.experiments.table_text import markdown, provenance_section

KEYS = ["label", "method", "model"]


def _summary(rows: pd.DataFrame, index: list[str]) -> pd.DataFrame:
    """The ``ALL`` rows as one column per metric, one row per ``index``."""
    summary = rows[rows["item"] == "ALL"]
    return summary.pivot_table(index=index, columns="metric", values="value", aggfunc="first").reset_index()


def fewshot(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per method: mIoU with k = 1, 2, ... references (same targets for every k) and the gain of the
    largest k over k = 1."""
    table = _summary(rows, [*KEYS, "shots"]).pivot_table(index=KEYS, columns="shots", values="miou", aggfunc="first")
    ks = sorted(table.columns)
    table.columns = [f"k={k}" for k in ks]
    table[f"k={ks[-1]} - k={ks[0]}"] = table[f"k={ks[-1]}"] - table[f"k={ks[0]}"]
    return table.round(2).reset_index()


def presence(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per method: AUROC, TPR and FPR at the calibrated threshold, mIoU of the positives with and
    without the presence check (percent)."""
    columns = ["auroc", "tpr", "fpr", "miou_pos", "miou_unchecked"]
    return _summary(rows, KEYS)[[*KEYS, *columns]].round(2)


def instances(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, max_instances): recall and precision at IoU 0.5 and mIoU of the union on the
    composites, mIoU of the single-instance images (percent)."""
    table = _summary(rows, [*KEYS, "run"])
    table["max_instances"] = table["max_instances"].astype(int)
    columns = ["max_instances", "recall", "precision", "miou_union", "miou_single"]
    return table[[*KEYS, *columns]].sort_values(["method", "max_instances"]).round(2)


TEXT = {
    "fewshot": ("Few-shot: mIoU (%) with k references",
                "Targets are the images that are a reference for no k, the same for every k (PerSeg here has 3 "
                "images per object: k = 1, 2 on target 02; davis_fewshot: k = 1, 2, 3 on 01..05, references "
                "00, r1, r2; data_prep/davis_fewshot.py)."),
    "presence": ("Presence with cross-object negatives (%)",
                 "Each object's own targets are positives, every other object's targets negatives. AUROC: mean "
                 "over objects; TPR / FPR: pooled decisions at the threshold calibrated on the references only; "
                 "miou_pos: positives, an empty prediction scoring 0; miou_unchecked: the same without the check."),
    "instances": ("Several instances on copy-paste composites (%)",
                  "recall / precision: instances matched one-to-one at IoU >= 0.5 (composites); miou_union: IoU of "
                  "the union (composites); miou_single: the unmodified single-instance targets "
                  "(data_prep/copy_paste_instances.py)."),
}
BUILDERS = {"fewshot": fewshot, "presence": presence, "instances": instances}


def write_protocol_table(name: str, runs: list[Path], out: Path) -> pd.DataFrame:
    from persam.tables import dataset_line, save_runs

    rows, provenances = save_runs(runs, out)
    table = BUILDERS[name](rows)
    table.to_csv(out / f"{name}.csv", index=False)
    title, text = TEXT[name]
    lines = [f"# {title}", "", dataset_line(next(iter(provenances.values()))), "", markdown(table), text, "",
             *provenance_section(provenances)]
    (out / "README.md").write_text("\n".join(lines))
    return table
