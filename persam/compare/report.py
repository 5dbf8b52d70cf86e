"""The variant's verdicts against every committed baseline, as one family: :func:`persam.tables.verdicts.compare`
with each baseline in turn, per dataset and pooled over the datasets, kept to the variant's rows, then judged
together (:func:`persam.tables.verdicts.judge`: Holm within the family, the margin, too few objects), so the
correction counts every comparison the command prints."""

from __future__ import annotations

import pandas as pd

from persam.metrics.paired_test import MARGIN
from persam.tables import verdicts
from persam.tables.pooled import PROTOCOL_NAMES
from persam.tables.roles import role_of
from persam.tables.text import interval_cell, markdown, test_note

METRIC = "iou"  # Table 1's per-object metric
POOLED = "pooled"  # verdicts.per_object's dataset name for every set's objects together


def verdict_table(rows: pd.DataFrame, variant: str, metric: str = METRIC, margin: float = MARGIN) -> pd.DataFrame:
    """One row per (baseline, dataset), and per baseline pooled over the datasets where there are several:
    ``verdicts.compare``'s columns for ``variant`` (its method key) against that baseline on the objects both ran,
    with ``role`` (the dataset's, or every role pooled), judged as one family."""
    baselines = [m for m in dict.fromkeys(rows["method"]) if m != variant]
    datasets = list(dict.fromkeys(rows["dataset"]))
    found = []
    for baseline in baselines:
        for pooled in (False, True) if len(datasets) > 1 else (False,):
            comparisons = verdicts.compare(rows, metric, baseline, pooled=pooled, judged=False)
            if not comparisons.empty:
                found.append(comparisons[comparisons["key"] == variant])
    if not found:
        return pd.DataFrame()
    family = pd.concat(found, ignore_index=True)
    pooled_role = " + ".join(dict.fromkeys(role_of(d) for d in datasets))
    family["role"] = [pooled_role if d == POOLED else role_of(d) for d in family["dataset"]]
    return verdicts.judge(family, margin)


def printed(table: pd.DataFrame, label: str) -> str:
    """The verdicts as the terminal shows them (and ``README.md`` keeps them): one line per baseline and dataset."""
    shown = pd.DataFrame({
        "baseline": table["baseline"], "dataset": table["dataset"], "role": table["role"],
        "reference": table["protocol"].map(PROTOCOL_NAMES), "objects": table["objects"],
        "difference [interval] at level": [interval_cell(r) for r in table.itertuples()],
        "wins / ties / losses": [f"{r.wins} / {r.ties} / {r.losses}" for r in table.itertuples()],
        "verdict": table["verdict"]})
    return (f"{label} against every committed baseline: per object, {label} minus the baseline (IoU points), on the "
            f"objects both ran; the rows are one family. "
            f"{test_note('object', float(table['margin'].iloc[0]))}\n\n{markdown(shown, drop=())}")
