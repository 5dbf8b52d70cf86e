"""The default methods, chosen by paired verdicts over the committed results (never by a mean), on held-out data.

The default image method is chosen on the held-out sets only (each dataset config's ``role``,
:mod:`persam.tables.roles`): the development sets, where methods were developed, keep their rows in the tables but
decide nothing here. A method is a candidate when it has held-out rows in every image table and protocol of
``results/`` (Table 1, Table 4, few-shot, presence, instances); its *family* is its comparisons with every other
candidate-or-rival method on every held-out condition (dataset, corruption, k, setting; each set's own objects;
Table 4's mask as given is Table 1's condition and counts once, as Table 1's),
by the rotation's rows where both methods ran it (each object's mean over its episodes), else by reference 00's.
It qualifies when, Holm-corrected within its family, every comparison shows it non-inferior within
:data:`~persam.metrics.paired_test.MARGIN` points (the one-sided paired sign-flip test of "difference > -margin",
:func:`persam.metrics.paired_test.non_inferior`); where it is *better* is read from the two-sided verdicts of the
same family, Holm-corrected alike. Methods that read the ground truth (oracles) are neither candidates nor rivals.
Where none qualifies, the one with the fewest comparisons it is shown *worse* in (Holm-corrected, then the most
"better") is named with those losses: Holm's step-down stops at its first failure, so a count of comparisons "not
shown non-inferior" would count every later one too and rank nothing. The README never claims more than the
verdicts say.

There is no held-out video set: the video default is decided alike on Table 2's DAVIS 2017 val subset, a
development set, and its text says so. Table 3 is left out: its rows are rungs of one method's ablation.

``python -m persam.tables default`` prints the finding; the README's results block carries it
(:mod:`persam.results_summary`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from persam.metrics import paired_test
from persam.metrics.paired_test import BETTER, MARGIN, NON_INFERIORITY, WORSE, Comparison
from persam.tables import verdicts
from persam.tables.roles import DEVELOPMENT, HELD_OUT, role_of

# Image tables and protocols: (results folder, per-object metric).
IMAGE_TABLES = {"table1": "iou", "table4": "iou", "fewshot": "iou", "presence": "iou_pos", "instances": "iou_union"}
# Conditions a table repeats from another (the same objects, methods and settings): counted once, by the other's.
REPEATED = {"table4": ("corruption", "none", "table1")}
VIDEO_TABLES = {"table2": "J&F"}
ORACLES = ("baseline_oracle_box",)  # methods whose config needs the ground truth (persam/conf/method/)


@dataclass
class Standing:
    """One candidate: its family of comparisons (where, against whom, the comparison) and the tables it has rows in."""

    method: str
    label: str
    family: list[tuple[str, Comparison]] = field(default_factory=list)
    tables: set[str] = field(default_factory=set)

    def judged(self, margin: float = MARGIN) -> tuple[list[str], list[str], list[str]]:
        """(where it is not shown non-inferior, where it is better, where it is worse), each Holm-corrected within
        the family."""
        comparisons = [c for _, c in self.family]
        shown = paired_test.holm(comparisons, NON_INFERIORITY, margin=margin)
        decided = paired_test.holm(comparisons, margin=margin)
        short = [f"{w} ({c.mean_difference:+.2f})" for (w, c), level in zip(self.family, shown, strict=True)
                 if not paired_test.non_inferior(c, level, margin)]
        verdicts_ = [(f"{w} ({c.mean_difference:+.2f})", paired_test.decide(c, level, margin))
                     for (w, c), level in zip(self.family, decided, strict=True)]
        return short, [w for w, v in verdicts_ if v == BETTER], [w for w, v in verdicts_ if v == WORSE]


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


def _rows(results: Path, table: str, role: str) -> list[pd.DataFrame]:
    """The table's rows of the datasets of ``role``, oracles left out."""
    out = []
    for rows in result_rows(results, table):
        rows = rows[~rows["method"].isin(ORACLES) & (rows["dataset"].map(role_of) == role)]
        if not rows.empty:
            out.append(rows)
    return out


def _unrepeated(rows: pd.DataFrame, table: str, tables: dict[str, str]) -> pd.DataFrame:
    """``rows`` without the conditions ``table`` repeats from another of ``tables`` (:data:`REPEATED`: Table 4's
    mask as given is Table 1's)."""
    column, value, origin = REPEATED.get(table, (None, None, None))
    return rows[rows[column] != value] if origin in tables and column in rows else rows


def standings(results: Path, tables: dict[str, str], role: str = HELD_OUT) -> list[Standing]:
    """Every non-oracle method of ``tables`` with its family: its comparisons with every other non-oracle method
    under every condition of the datasets of ``role``."""
    found: dict[str, Standing] = {}
    for table, metric in tables.items():
        for rows in _rows(results, table, role):
            methods = list(dict.fromkeys(rows["method"]))
            for method in methods:
                label = rows.loc[rows["method"] == method, "label"].iloc[0]
                found.setdefault(method, Standing(method, label)).tables.add(table)
            rows = _unrepeated(rows, table, tables)
            for rival in methods:
                comparisons = verdicts.compare(rows, metric, rival, judged=False)
                if comparisons.empty:
                    continue
                # A pair compared under the rotation too counts once, by its rotation rows (more evidence per
                # object); a pair only one of which ran the rotation keeps its reference-00 comparison.
                rotated = set(comparisons.loc[comparisons["protocol"] == "rotate", "key"])
                kept = comparisons[(comparisons["protocol"] == "rotate") | ~comparisons["key"].isin(rotated)]
                for _, row in kept.iterrows():
                    where = _where(table, row) + (" rotation" if row["protocol"] == "rotate" else "")
                    found[row["key"]].family.append((f"{where} vs {row['baseline']}", row["comparison"]))
    return list(found.values())


def data_used(results: Path, tables: dict[str, str], role: str, unit: str = "object") -> str:
    """The sets of ``role`` the tables hold, each with its objects and tables: ``davis16_perseg (20 objects:
    table1, table4, presence)``."""
    sets: dict[str, tuple[int, list[str]]] = {}
    for table, metric in tables.items():
        for rows in _rows(results, table, role):
            for dataset, group in verdicts.per_object(rows, metric).groupby("dataset", sort=False):
                count, where = sets.get(dataset, (0, []))
                sets[dataset] = (max(count, group["item"].nunique()), [*where, table])
    return "; ".join(f"{d} ({n} {unit}s: {', '.join(t)})" for d, (n, t) in sets.items())


def finding(results: Path, tables: dict[str, str], kind: str, role: str = HELD_OUT, margin: float = MARGIN,
            unit: str = "object") -> str:
    """One paragraph: the default ``kind`` method(s) by the verdicts of ``tables`` on the sets of ``role``, with the
    data it used and the evidence."""
    measured = {t for t in tables if _rows(results, t, role)}
    # A method that some table lacks was never compared there: not measured is not "not worse".
    judged = [(s, *s.judged(margin)) for s in standings(results, tables, role) if s.tables == measured and s.family]
    if not judged:
        return ""
    judged.sort(key=lambda j: (len(j[1]) > 0, len(j[3]), -len(j[2])))
    used = data_used(results, tables, role, unit)
    data = (f"held-out data only: {used}" if role == HELD_OUT else
            f"development data only, as there is no held-out {kind} set: {used}; it "
            "claims nothing beyond these verdicts")
    rule = (f"A method qualifies when it is non-inferior within the margin of {margin:g} points to every other "
            "non-oracle method on every condition (one-sided paired sign-flip test of difference > "
            f"-{margin:g}), Holm-corrected within its family (its comparisons, familywise 5%); \"better\" is the "
            "two-sided verdict, Holm-corrected within the same family")
    head = f"**Default {kind} method, by paired verdicts on {data}.** {rule}"
    qualified = [j for j in judged if not j[1]]
    if qualified:
        counted = [f"{s.label} (family of {len(s.family)} comparisons; better in {len(better)})"
                   for s, _, better, _ in qualified]
        lines = [f"{head}. Qualifies: " + "; ".join(counted) + "."]
        lines += [f"{s.label} is better in: {'; '.join(better)}." for s, _, better, _ in qualified if better]
        return "\n\n".join(lines)
    best, short, better, worse = judged[0]
    losses = f"worse in {len(worse)}: {'; '.join(worse)}" if worse else "worse in none"
    return (f"{head}. No method qualifies (none is shown non-inferior in every comparison). The fewest losses: "
            f"{best.label} (family of {len(best.family)} comparisons, not shown non-inferior in {len(short)}), "
            f"{losses}" + (f"; better in {len(better)}: {'; '.join(better)}." if better else "."))


def summary(results: Path) -> str:
    return "\n\n".join(p for p in (finding(results, IMAGE_TABLES, "image"),
                                    finding(results, VIDEO_TABLES, "video", role=DEVELOPMENT, unit="sequence")) if p)
