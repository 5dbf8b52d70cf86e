"""The steps every table shares, and the tables of the named protocols (few-shot, presence, instances).

:func:`begin` copies a table's sources into its folder, builds the table from the rows and writes its CSV.
Each protocol's module names the ``ALL``-row metrics it shows; :func:`metric_table` makes one row per
(method, model) with one column per metric (and per ``shots`` value where asked), a mean over objects with its
bootstrap interval beside it, and :func:`write` writes the protocol's table folder (``results.csv``,
``provenance/``, ``<name>.csv``, ``README.md``) with the verdicts the protocol asks for.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from persam.tables import references, verdicts
from persam.tables.runs import Runs, Scope, kind, save_sources, scope_of
from persam.tables.text import dataset_line, interval_note, markdown, provenance_section


def begin(name: str, build, runs: Runs, out: Path) -> tuple[Scope, pd.DataFrame, list, list]:
    """Copy the runs' rows and provenance into ``out``, build the table (``build(rows, scope)``), write
    ``<name>.csv``; return the scope, the table and the (shown, withheld) reference rows."""
    save_sources(runs, out)
    scope = scope_of(runs)
    table = build(runs.rows, scope)
    table.to_csv(out / f"{name}.csv", index=False)
    shown, withheld = references.for_table(name, scope)
    return scope, table, shown, withheld


def one_protocol(rows: pd.DataFrame, table: str) -> pd.DataFrame:
    """``rows``, after checking they hold one reference protocol (a table that shows no protocol column must not
    mix reference 00's objects with the rotation's)."""
    protocols = sorted(set(rows["protocol"]))
    if len(protocols) > 1:
        raise ValueError(f"{table} shows one reference protocol, but the rows hold {', '.join(protocols)}: build "
                         "each protocol's table in a folder of its own (Table 1 shows both)")
    return rows


def metric_table(rows: pd.DataFrame, metrics: dict[str, str], per_shots: bool = False, digits: int = 2) -> pd.DataFrame:
    """One row per (method, model): ``metrics`` maps a metric name in the rows to its column name; with
    ``per_shots`` each column is repeated per number of references, as ``<column> k=<shots>``. A metric that is
    a mean over objects (:data:`persam.tables.verdicts.PER_OBJECT`) gets its interval from the per-object rows, a
    pooled ratio (:data:`persam.tables.verdicts.POOLED_RATIO`) from the per-object counts where the run wrote them."""
    summary = rows[(rows["item"] == "ALL") & rows["metric"].isin(metrics)]
    if summary.empty:
        raise ValueError(f"no rows with metric {', '.join(metrics)} (item ALL): not runs of this protocol")
    shots = sorted(set(summary["shots"]))
    out = []
    for (method, label, model), group in rows.groupby(["method", "label", "model"], sort=False):
        row = {"method": label, "key": method, "model": model, "kind": kind(method)}
        for metric, column in metrics.items():
            for k in shots if per_shots else [None]:
                these = group[(group["shots"] == k)] if k is not None else group
                values = these[(these["metric"] == metric) & (these["item"] == "ALL")]
                name = f"{column} k={k}" if per_shots else column
                row[name] = round(float(values["value"].iloc[0]), digits) if len(values) else None
                objects = these[(these["metric"] == verdicts.PER_OBJECT.get(metric)) & (these["item"] != "ALL")]
                if len(values) and len(objects):
                    row.update({name + s: v for s, v in verdicts.interval(objects["value"]).items()})
                elif len(values) and metric in verdicts.POOLED_RATIO:
                    row.update({name + s: v for s, v in verdicts.ratio_interval(these, metric).items()})
        out.append(row)
    return pd.DataFrame(out).dropna(axis=1, how="all")


def write(runs: Runs, out: Path, name: str, heading: str, table: pd.DataFrame, notes: list[str],
          verdict_lines: list[str]) -> pd.DataFrame:
    """Write the table folder; ``verdict_lines``: the protocol's paired verdicts (Markdown)."""
    _, table, _, _ = begin(name, lambda rows, scope: table, runs, out)
    lines = [
        f"# {heading}",
        "",
        dataset_line(runs),
        "",
        markdown(table),
        interval_note(),
        "",
        *notes,
        "",
        *verdict_lines,
        *provenance_section(runs),
    ]
    (out / "README.md").write_text("\n".join(lines))
    return table
