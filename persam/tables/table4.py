"""Table 4: robustness to the reference mask (mIoU with the mask as given, eroded, dilated), from the rows.

    python -m persam.tables table4 RUN_DIRS --out results/table4/perseg

One row per method, one column per value of the rows' ``corruption`` column (``none`` first, then the
erosions and dilations in :data:`ORDER`, then any other in the order found).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from persam.tables import references
from persam.tables.figures import write_figures
from persam.tables.generic import begin
from persam.tables.runs import Runs, Scope, kind, summary_rows
from persam.tables.table1 import SHOWN
from persam.tables.text import (
    POST_ENCODER,
    best_line,
    dataset_line,
    markdown,
    provenance_section,
    reference_section,
    timing_lines,
)

NAME = "table4"
TITLE = "Table 4: reference mask eroded / dilated (OpenCV kernel 75 / 95), mIoU (%)"
HEADLINE = ["none", "erode75", "erode95", "dilate75", "dilate95"]
ORDER = ["none", "erode75", "erode95", "dilate75", "dilate95"]


def build(rows: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    miou = summary_rows(rows)
    miou = miou[miou["metric"] == "miou"]
    found = list(dict.fromkeys(miou["corruption"]))
    columns = [c for c in ORDER if c in found] + [c for c in found if c not in ORDER]
    timing = summary_rows(rows)
    timing = timing[(timing["metric"] == POST_ENCODER) & (timing["corruption"] == columns[0])]
    timing = timing.drop_duplicates("method").set_index("method")["value"]
    out = []
    for method, group in miou.groupby("method", sort=False):
        values = group.drop_duplicates("corruption").set_index("corruption")["value"].round(2)
        out.append({"method": group["label"].iloc[0], "key": method, "kind": kind(method),
                    **{c: values.get(c) for c in columns},
                    POST_ENCODER: round(float(timing[method]), 3) if method in timing else None})
    shown, _ = references.for_table(NAME, scope)
    out += [{"method": r.label, "key": "", "kind": "reference", r.metric: r.value} for r in shown]
    return pd.DataFrame(out).dropna(axis=1, how="all")


def write(runs: Runs, out: Path) -> pd.DataFrame:
    scope, table, shown, withheld = begin(NAME, build, runs, out)
    best = [best_line(table, c) for c in table.columns if c in set(runs.rows["corruption"])]
    lines = [
        "# Table 4: robustness to the reference mask (mIoU, %)",
        "",
        dataset_line(runs, "objects"),
        "",
        markdown(table),
        " ".join(b for b in best if b),
        "",
        "Columns: the reference mask as given (`none`), eroded or dilated once with an OpenCV rectangular kernel of "
        "75 or 95 pixels (`cv2.getStructuringElement(MORPH_RECT)`); an erosion that would empty the mask keeps its "
        "most interior pixel. Kernel sizes are in pixels whatever the image size, so the same kernel takes away or "
        "adds more of a small object or a small image. The paper's Table 4 numbers are not reproduced here as a "
        f"reference row. `{POST_ENCODER}` is the `{table.columns[3]}` run's.",
        "",
        *timing_lines(runs),
        *write_figures(runs, runs.rows[runs.rows["corruption"] == "none"], out, "Table 4 (mask as given)", "persam",
                       SHOWN),
        *reference_section(shown, references.withheld_line(withheld, scope)),
        *provenance_section(runs),
    ]
    (out / "README.md").write_text("\n".join(lines))
    return table
