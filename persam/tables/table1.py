"""Table 1: personalized segmentation on PerSeg-layout data (IoU per object, mIoU), from the runs' rows.

    python -m persam.tables table1 RUN_DIRS --out results/table1/perseg

``table1.csv``: one row per (method, model): IoU of every object, mIoU with its bootstrap interval over objects
(``mIoU ci_low``, ``mIoU ci_high``), mAcc; then the reference rows whose scope matches the runs. Where the rows
also hold runs of the reference rotation (``protocol`` ``rotate``, :mod:`persam.experiments.references`), the
columns of reference 00 are headed ``mIoU (ref 00)`` and ``mAcc (ref 00)`` and ``mIoU (rotation)`` sits beside
them (each object the mean over its episodes; the per-object IoU columns stay those of reference 00). The README
adds the paired verdicts of every method against :data:`BASELINE`, per protocol. No timings: speed is ``make
bench``'s.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from persam.tables import references, settings, verdicts
from persam.tables.figures import write_figures
from persam.tables.generic import begin
from persam.tables.runs import Runs, Scope, kind, labels
from persam.tables.text import (
    dataset_line,
    interval_note,
    markdown,
    provenance_section,
    reference_section,
    verdicts_against,
)

NAME = "table1"
TITLE = "Table 1: personalized segmentation, mIoU (%)"
HEADLINE = ["mIoU"]
MAIN = "persam"
HEADLINE_METHODS = ("persam", "persam_f")
BASELINE = "persam_f"  # the paper's best: every method is compared with it, object by object
PER_OBJECT = "iou"
ROTATION = "mIoU (rotation)"  # the column of the reference rotation's runs, where the rows hold some
SHOWN = ["persam", "persam_f", "ablation_fusion", "p2sam", "persam_plus", "baseline_similarity"]


def measured_row(group: pd.DataFrame, method: str, model: str) -> dict:
    """The columns every image table's measured row shares: label, key, model, kind."""
    return {"method": group["label"].iloc[0], "key": method, "model": model, "kind": kind(method)}


def reference_rows(table: str, scope: Scope, metric_column: str) -> list[dict]:
    shown, _ = references.for_table(table, scope)
    return [{"method": r.label, "key": "", "model": next(iter(r.scope.models)), "kind": "reference",
             metric_column: r.value} for r in shown if r.metric == metric_column]


def build(rows: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    """The table from tidy rows alone (see the module docstring)."""
    rotated = rows["protocol"] == "rotate"
    miou, macc = ("mIoU (ref 00)", "mAcc (ref 00)") if rotated.any() else ("mIoU", "mAcc")
    out = []
    for (method, model), group in rows.groupby(["method", "model"], sort=False):
        row = measured_row(group, method, model)
        fixed = group[group["protocol"] == "fixed"]
        if not fixed.empty:
            per_object = fixed[fixed["metric"] == "iou"].set_index("item")["value"]
            summary = fixed[fixed["item"] == "ALL"].set_index("metric")["value"]
            row.update({**per_object.round(2).to_dict(), **verdicts.with_interval(miou, per_object),
                        macc: round(summary["macc"], 2) if "macc" in summary else None})
        rotation = group[(group["protocol"] == "rotate") & (group["metric"] == "iou") & (group["item"] != "ALL")]
        row.update(verdicts.with_interval(ROTATION, rotation["value"]))
        out.append(row)
    papers = [{miou if k == "mIoU" else k: v for k, v in r.items()} for r in reference_rows(NAME, scope, "mIoU")]
    table = pd.DataFrame(out + papers)
    return table.dropna(axis=1, how="all")


def settings_lines(runs: Runs) -> list[str]:
    """Where each main method's defaults come from, and what every variant changes, from the recorded settings."""
    found = settings.method_settings(runs)
    names = [m for m in dict.fromkeys(runs.rows["method"]) if m in found]
    label = labels(runs.rows)
    lines = []
    for name in names:
        base = settings.base_of(name, names)
        parts = []
        if base is not None and settings.is_other_method(found[base], found[name]):
            parts.append(f"a separate method ({settings.identity(found[name])})")
        elif base is not None:
            parts.append(f"differs from {label[base]}: " + ("; ".join(settings.changes(found[base], found[name]))
                                                             or "no recorded setting"))
        if base is None or name in HEADLINE_METHODS:  # where the defaults of the headline methods come from
            parts += settings.origin(found[name])
        if parts:
            lines.append(f"- {label[name]}: " + "; ".join(parts) + ".")
    return ["What each row is (from the runs' recorded method settings):", "", *lines, ""] if lines else []


def reference_00(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the fixed protocol where there are any (the figures show one protocol: its masks are per
    object, the rotation's per episode)."""
    fixed = rows[rows["protocol"] == "fixed"]
    return fixed if not fixed.empty else rows


def write(runs: Runs, out: Path) -> pd.DataFrame:
    scope, table, shown, withheld = begin(NAME, build, runs, out)
    lines = [
        "# Table 1: personalized segmentation (IoU per object and mIoU, %)",
        "",
        dataset_line(runs, "objects"),
        "",
        markdown(table),
        f"{interval_note()} Rows marked *reference* are not runs of this code (sources below); an *upper bound* row "
        "reads the ground truth.",
        "",
        *verdicts_against(runs.rows, PER_OBJECT, BASELINE),
        *settings_lines(runs),
        "One difference from the original code remains in every row: the similarity bias is aligned with SAM's "
        "padded 64 x 64 grid instead of stretched over it (they agree on square images).",
        "",
        *write_figures(runs, reference_00(runs.rows), out, "Table 1", MAIN, SHOWN),
        *reference_section(shown, references.withheld_line(withheld, scope)),
        *provenance_section(runs),
    ]
    (out / "README.md").write_text("\n".join(lines))
    return table
