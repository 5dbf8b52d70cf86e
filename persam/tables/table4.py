"""Table 4: robustness to the reference mask (mIoU with the mask as given, eroded, dilated), from the rows.

    python -m persam.tables table4 RUN_DIRS --out results/table4/perseg

One row per method, one column per value of the rows' ``corruption`` column (``none`` first, then the
erosions and dilations in :data:`ORDER`, then any other in the order found), each with its bootstrap interval
over objects (``<column> ci_low``, ``<column> ci_high``). The README adds, per corruption, the paired verdicts of
every method against :data:`BASELINE`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from persam.tables import references, verdicts
from persam.tables.figures import write_figures
from persam.tables.generic import begin, one_protocol
from persam.tables.runs import Runs, Scope, kind
from persam.tables.table1 import SHOWN
from persam.tables.text import (
    dataset_line,
    interval_note,
    markdown,
    provenance_section,
    reference_section,
    verdicts_against,
)

NAME = "table4"
TITLE = "Table 4: reference mask eroded / dilated (OpenCV kernel 75 / 95) or a box, mIoU (%)"
HEADLINE = ["none", "erode75", "erode95", "dilate75", "dilate95", "box"]
ORDER = ["none", "erode75", "erode95", "dilate75", "dilate95", "box"]
BASELINE = "persam"  # the paper's method: under each corruption, every method is compared with it
PER_OBJECT = "iou"
POOLED_BY = "corruption"  # the pooled table: one column per corruption (persam.tables.pooled)


def build(rows: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    table = by_corruption(one_protocol(rows, NAME))
    shown, _ = references.for_table(NAME, scope)
    table = pd.concat([table, pd.DataFrame([{"method": r.label, "key": "", "kind": "reference", r.metric: r.value}
                                            for r in shown])])
    return table.dropna(axis=1, how="all").reset_index(drop=True)


def by_corruption(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per method, one column per corruption (in :data:`ORDER`), each the mean IoU over objects with
    its interval."""
    found = verdicts.per_object(rows, PER_OBJECT)
    present = list(dict.fromkeys(found["corruption"]))
    columns = [c for c in ORDER if c in present] + [c for c in present if c not in ORDER]
    out = []
    for method, group in found.groupby("method", sort=False):
        row = {"method": group["label"].iloc[0], "key": method, "kind": kind(method)}
        for column in columns:
            row.update(verdicts.with_interval(column, group[group["corruption"] == column].drop_duplicates("item")["value"]))
        out.append(row)
    return pd.DataFrame(out)


def write(runs: Runs, out: Path) -> pd.DataFrame:
    scope, table, shown, withheld = begin(NAME, build, runs, out)
    lines = [
        "# Table 4: robustness to the reference mask (mIoU, %)",
        "",
        dataset_line(runs, "objects"),
        "",
        markdown(table),
        interval_note(),
        "",
        "Columns: the reference mask as given (`none`), eroded or dilated once with an OpenCV rectangular kernel of "
        "75 or 95 pixels (`cv2.getStructuringElement(MORPH_RECT)`); an erosion that would empty the mask keeps its "
        "most interior pixel; `box` (ours, not the paper's): the mask's bounding box, filled. Kernel sizes are in "
        "pixels whatever the image size, so the same kernel takes away or adds more of a small object or a small image. "
        "The paper's Table 4 numbers are not reproduced here as a reference row.",
        "",
        *verdicts_against(runs.rows, PER_OBJECT, BASELINE),
        *write_figures(runs, runs.rows[runs.rows["corruption"] == "none"], out, "Table 4 (mask as given)", "persam",
                       SHOWN),
        *reference_section(shown, references.withheld_line(withheld, scope)),
        *provenance_section(runs),
    ]
    (out / "README.md").write_text("\n".join(lines))
    return table
