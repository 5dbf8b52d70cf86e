"""The presence protocol: does a method say "absent" for images of other objects, and keep its own?

    python -m persam.tables presence RUN_DIRS --out results/presence/davis_perseg

For each object its own targets are positives and every other object's targets negatives. Rows (item ``ALL``):
``il_mcc`` and ``cgf1`` (SAM 3's image-level terms at the method's own decision), ``auroc`` of the presence
score, ``tpr`` and ``fpr`` at the threshold calibrated without the targets, and
``miou_pos`` (mIoU over the positives, an empty prediction scoring 0), ``miou_unchecked`` (the same positives
without the presence check); ``oracle_fpr``, the FPR of the threshold that keeps every positive, chosen on the
targets (a bound on the score, not a result); ``miou`` where the run has it. The mIoUs carry their bootstrap
intervals over objects, and the README the paired verdicts of ``miou_pos`` against :data:`BASELINE` (within each
setting) and of each method with its second opinion against itself with SAM's score alone.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from persam.tables import generic, verdicts
from persam.tables.runs import Runs, Scope
from persam.tables.text import verdict_section, verdicts_against

NAME = "presence"
TITLE = "Presence: IL_MCC and cgF1 (SAM 3's terms), AUROC, TPR / FPR at the calibrated threshold, mIoU over positives (%)"
HEADLINE = ["IL_MCC", "cgF1", "AUROC", "TPR", "FPR", "mIoU (positives)"]
METRICS = {"il_mcc": "IL_MCC", "cgf1": "cgF1", "auroc": "AUROC", "tpr": "TPR", "fpr": "FPR", "miou_pos": "mIoU (positives)",
           "miou_unchecked": "mIoU (positives, no check)", "oracle_fpr": "FPR keeping every positive (oracle)",
           "miou": "mIoU"}
BASELINE = "persam"


def build(rows: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    return generic.metric_table(rows, METRICS, digits=3)


def write(runs: Runs, out: Path) -> pd.DataFrame:
    notes = ["IL_MCC and cgF1: SAM 3's image-level terms (`sam3/eval/cgf1_eval.py`), one decision per image and "
             "object, pooled over all of them: IL_MCC, the Matthews correlation of 'the method returned a mask' with "
             "'the object is in the image' (-1 to 1); cgF1 = 100 x positive micro-F1 (IoU thresholds 0.5 to 0.95) x "
             "IL_MCC. Runs made before these rows existed leave the columns blank. "
             "AUROC: of the presence score, positives (the object's own targets) against negatives (every other "
             "object's targets). TPR / FPR: the share of positives / negatives called present at the threshold the "
             "method calibrated on its references alone. mIoU (positives): over the object's own targets, an empty "
             "prediction scoring 0; without the check: the masks the method had before it decided 'absent'. FPR keeping "
             "every positive (oracle): per object, the negatives scoring at or above its lowest positive, pooled; "
             "that threshold is chosen on the targets themselves, so it bounds what the score allows (the check "
             "keeps every positive only at that FPR or above) and is no method's result."]
    checks = verdicts.compare_checks(runs.rows, "iou_pos")
    opinion = verdict_section(checks, "the same method with SAM's score alone",
                              heading="Paired verdicts: the second opinion against SAM's score alone")
    return generic.write(runs, out, NAME, TITLE, build(runs.rows, None), notes,
                         verdicts_against(runs.rows, "iou_pos", BASELINE) + opinion)
