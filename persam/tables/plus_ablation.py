"""The PerSAM+ ablation: each of its rules switched off in turn, and the core alone, against PerSAM+ (mIoU).

    python -m persam.tables plus_ablation RUN_DIRS --out results/plus_ablation

Rows are the runs of ``experiment=plus_ablation`` (the rungs are the method configs under
``persam/conf/method/persam_plus_ablation/``): one row per rung, one column per reference corruption (the mask as
given, and the rough references rule 0 is for). What each rung changes is written from the runs' recorded
settings; every rung is compared with PerSAM+, object by object, all comparisons one Holm family. A rung "worse
than PerSAM+" is a rule that helps on this data.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from persam.tables import settings
from persam.tables.generic import begin, one_protocol
from persam.tables.runs import Runs, Scope
from persam.tables.table4 import by_corruption
from persam.tables.text import dataset_line, interval_note, markdown, provenance_section, verdicts_against

NAME = "plus_ablation"
TITLE = "The PerSAM+ ablation: each rule switched off, mIoU (%)"
BASELINE = "persam_plus"
PER_OBJECT = "iou"
PROTOCOLS = {"rotate": "every annotated image of an object is the reference once; an object counts once, the mean "
                       "over its references", "fixed": "reference 00"}


def build(rows: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    table = by_corruption(one_protocol(rows, NAME))
    first = table[table["key"] == BASELINE]
    return pd.concat([first, table[table["key"] != BASELINE]]).dropna(axis=1, how="all").reset_index(drop=True)


def rung_notes(runs: Runs, table: pd.DataFrame) -> list[str]:
    """One line per rung: the settings it changes from PerSAM+'s, from the runs' recorded method settings."""
    found = settings.method_settings(runs)
    if BASELINE not in found:
        return []
    lines = [f"- {row.method}: " + "; ".join(settings.changes(found[BASELINE], found[row.key])) + "."
             for row in table.itertuples() if row.key in found and row.key != BASELINE]
    return ["What each rung changes from PerSAM+ (from the runs' recorded method settings):", "", *lines, ""]


def write(runs: Runs, out: Path) -> pd.DataFrame:
    _, table, _, _ = begin(NAME, build, runs, out)
    protocol = sorted(set(runs.rows["protocol"]))[0]
    lines = [
        "# The PerSAM+ ablation (mIoU, %)",
        "",
        dataset_line(runs, "objects"),
        "",
        f"Reference protocol: {protocol} ({PROTOCOLS.get(protocol, protocol)}).",
        "",
        markdown(table),
        f"Columns: the reference mask as given (`none`) and rough references (`box`: the mask's bounding box, "
        f"filled; `dilate75`: dilated by a 75-pixel kernel), where rule 0 acts; the other rungs run on `none` only. "
        f"{interval_note()}",
        "",
        *rung_notes(runs, table),
        "A rung worse than PerSAM+ is a rule that helps here; the design record and what was removed: "
        "docs/methods.md, \"PerSAM+ ablation\".",
        "",
        *verdicts_against(runs.rows, PER_OBJECT, BASELINE),
        *provenance_section(runs),
    ]
    (out / "README.md").write_text("\n".join(lines))
    return table
