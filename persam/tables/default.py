"""The default methods, chosen by paired verdicts over the committed results (never by a mean).

A method qualifies as the default image method when it has rows on every image table and protocol in ``results/``
(Table 1, Table 4, few-shot, presence, instances; every dataset, corruption and k separately, each dataset's own
objects) and no other method is *better* than it anywhere: for every other method and condition, the paired verdict
of the candidate against that method (:func:`persam.tables.verdicts.compare`, bootstrap over objects) is "better"
or "no detectable difference". The video default is chosen alike on Table 2 (per sequence J&F). Table 3 is left
out: its rows are rungs of one method's ablation, not rival methods. Methods that read the ground truth (oracles)
are neither candidates nor rivals: no user has the ground truth. Where several methods qualify, each is listed with
where it is better; where none qualifies, the one with the fewest losses is named with those losses, so the README
never claims more than the verdicts say.

``python -m persam.tables default`` prints the finding; the README's results block carries it
(:mod:`persam.results_summary`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from persam.metrics.bootstrap import BETTER, WORSE
from persam.tables import verdicts

# Image tables and protocols: (results folder, per-object metric).
IMAGE_TABLES = {"table1": "iou", "table4": "iou", "fewshot": "iou", "presence": "iou_pos", "instances": "iou_union"}
VIDEO_TABLES = {"table2": "J&F"}
ORACLES = ("baseline_oracle_box",)  # methods whose config needs the ground truth (persam/conf/method/)


@dataclass
class Standing:
    """One candidate: the conditions where a rival is better than it (losses), where it is better (wins), and the
    tables it has rows in."""

    method: str
    label: str
    losses: list[str] = field(default_factory=list)
    wins: list[str] = field(default_factory=list)
    tables: set[str] = field(default_factory=set)


def result_rows(results: Path, table: str) -> list[pd.DataFrame]:
    """The per-item rows of one table, one frame per dataset folder (or the table's own results.csv)."""
    folder = results / table
    files = sorted(folder.glob("*/results.csv")) or sorted(folder.glob("results.csv"))
    return [pd.read_csv(f) for f in files]


def _where(table: str, row: pd.Series) -> str:
    parts = [table, str(row["dataset"])]
    if row.get("corruption", "none") not in ("none", None) and table == "table4":
        parts.append(str(row["corruption"]))
    if table == "fewshot":
        parts.append(f"k={int(row['shots'])}")
    return " ".join(parts)


def standings(results: Path, tables: dict[str, str]) -> list[Standing]:
    """Every non-oracle method of ``tables`` with its losses and wins against every other non-oracle method."""
    found: dict[str, Standing] = {}
    for table, metric in tables.items():
        for rows in result_rows(results, table):
            rows = rows[~rows["method"].isin(ORACLES)]
            methods = list(dict.fromkeys(rows["method"]))
            for method in methods:
                label = rows.loc[rows["method"] == method, "label"].iloc[0]
                found.setdefault(method, Standing(method, label)).tables.add(table)
            for rival in methods:
                comparisons = verdicts.compare(rows, metric, rival)
                for _, row in comparisons.iterrows():
                    versus = f"{_where(table, row)} vs {row['baseline']} ({row['difference']:+.2f})"
                    if row["verdict"] == WORSE:
                        found[row["key"]].losses.append(versus)
                    elif row["verdict"] == BETTER:
                        found[row["key"]].wins.append(versus)
    return list(found.values())


def finding(results: Path, tables: dict[str, str], kind: str) -> str:
    """One paragraph: the default ``kind`` method(s) by the verdicts of ``tables``, with the evidence."""
    measured = {t for t in tables if any(not rows.empty for rows in result_rows(results, t))}
    # A method that some table lacks was never compared there: not measured is not "not worse".
    ranked = sorted((s for s in standings(results, tables) if s.tables == measured),
                    key=lambda s: (len(s.losses), -len(s.wins)))
    if not ranked:
        return ""
    names = ", ".join(tables)
    qualified = [s for s in ranked if not s.losses]
    if qualified:
        counted = [f"{s.label} (better in {len(s.wins)} comparison{'' if len(s.wins) == 1 else 's'})" for s in qualified]
        lines = [f"**Default {kind} method, by paired verdicts** ({names}): never worse than another method on any "
                 f"dataset or condition: " + "; ".join(counted) + "."]
        for s in qualified:
            if s.wins:
                lines.append(f"{s.label} is better in: {'; '.join(s.wins)}.")
        return "\n\n".join(lines)
    best = ranked[0]
    return (f"**Default {kind} method, by paired verdicts** ({names}): no method is never worse; the fewest losses: "
            f"{best.label}, worse in {len(best.losses)}: {'; '.join(best.losses)}.")


def summary(results: Path) -> str:
    return "\n\n".join(p for p in (finding(results, IMAGE_TABLES, "image"), finding(results, VIDEO_TABLES, "video"))
                       if p)
