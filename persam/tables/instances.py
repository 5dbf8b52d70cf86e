"""The instances protocol: every copy of the object in an image (copy-paste composites and the unmodified targets).

    python -m persam.tables instances RUN_DIRS --out results/instances/perseg

Rows (item ``ALL``): instance ``recall`` and ``precision`` at IoU 0.5, and ``miou_union`` (mIoU of the union of
the predicted instances against the union of the true ones); ``miou_single`` on the unmodified targets. Runs
differ by ``max_instances``, which their labels carry. The mIoUs carry their bootstrap intervals over objects, the
pooled recall and precision theirs from the per-object counts,
and the README the paired verdicts of ``miou_union`` against :data:`BASELINE` within each ``max_instances``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from persam.tables import generic, verdicts
from persam.tables.runs import Runs, Scope
from persam.tables.text import verdict_section, verdicts_against

NAME = "instances"
TITLE = "Instances: recall and precision at IoU 0.5, mIoU of the union (%)"
HEADLINE = ["recall", "precision", "mIoU (union)"]
METRICS = {"recall": "recall", "precision": "precision", "miou_union": "mIoU (union)",
           "miou_single": "mIoU (single-instance targets)"}
BASELINE = "persam"  # compared within each max_instances setting


def build(rows: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    return generic.metric_table(rows, METRICS, digits=3)


def write(runs: Runs, out: Path) -> pd.DataFrame:
    notes = ["recall: the true instances that a predicted instance covers with IoU >= 0.5, over all true instances; "
             "precision: the predicted instances that cover a true one with IoU >= 0.5, over all predicted instances; "
             "mIoU (union): the union of the predicted instances against the union of the true ones. The recall and "
             "precision intervals resample objects and pool their counts again (runs that wrote the per-object "
             "counts)."]
    checks = verdicts.compare_checks(runs.rows, "iou_union")
    checked = verdict_section(checks, "the same method without the presence check",
                              heading="Paired verdicts: with the presence check (as `persam segment` runs it) against "
                                      "without")
    return generic.write(runs, out, NAME, TITLE, build(runs.rows, None), notes,
                         verdicts_against(runs.rows, "iou_union", BASELINE) + checked)
