"""The variant's verdicts against every committed baseline: :func:`persam.tables.verdicts.compare` with each
baseline in turn (per dataset, then pooled over the datasets), kept to the variant's rows; printed as one table."""

from __future__ import annotations

import pandas as pd

from persam.tables import verdicts
from persam.tables.text import markdown

METRIC = "iou"  # Table 1's per-object metric


def verdict_table(rows: pd.DataFrame, variant: str, metric: str = METRIC) -> pd.DataFrame:
    """One row per (baseline, dataset) and per baseline pooled over the datasets: ``verdicts.compare``'s columns
    for ``variant`` (its method key) against that baseline, on the objects both ran."""
    baselines = [m for m in dict.fromkeys(rows["method"]) if m != variant]
    pooled = rows["dataset"].nunique() > 1
    found = []
    for baseline in baselines:
        for pool in (False, True) if pooled else (False,):
            comparisons = verdicts.compare(rows, metric, baseline, pooled=pool)
            if not comparisons.empty:
                found.append(comparisons[comparisons["key"] == variant])
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame()


def printed(table: pd.DataFrame, label: str) -> str:
    """The verdicts as the terminal shows them (and ``README.md`` keeps them): one line per baseline and dataset."""
    shown = pd.DataFrame({
        "baseline": table["baseline"], "dataset": table["dataset"], "objects": table["objects"],
        "difference [95% CI]": [f"{r.difference:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]" for r in table.itertuples()],
        "wins / ties / losses": [f"{r.wins} / {r.ties} / {r.losses}" for r in table.itertuples()],
        "verdict": table["verdict"]})
    return (f"{label} against every committed baseline: per object, {label} minus the baseline (IoU points), on the "
            f"objects both ran\n\n{markdown(shown, drop=())}")
