"""The PerSAM+ ablation: each of its rules switched off in turn, and the core alone, against PerSAM+.

    python -m persam.tables plus_ablation RUN_DIRS --out results/plus_ablation

Rows are the runs of PerSAM+ and of its rungs (the method configs ``persam/conf/method/persam_plus_*.yaml``), each
under the protocol where its rule acts (:data:`SECTIONS`, by the rows' experiment): segmentation under the reference
rotation (``experiment=plus_ablation``), rough references (Table 4's, one column per corruption), several
references (few-shot), presence and several instances, all on held-out data. What each rung changes is written
from the runs' recorded settings; every rung is compared with PerSAM+ under the same condition, object by object,
and the comparisons of every section are one Holm family. A rung "worse than PerSAM+" is a rule that helps.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from persam.tables import generic, settings, verdicts
from persam.tables.roles import HELD_OUT, role_of
from persam.tables.runs import Runs, Scope, save_sources
from persam.tables.table4 import by_corruption
from persam.tables.text import interval_note, markdown, provenance_section, verdict_section

NAME = "plus_ablation"
TITLE = "The PerSAM+ ablation: each rule switched off"
BASELINE = "persam_plus"
# experiment -> (section title, per-object metric of the verdicts, summary metrics shown: None = by corruption)
SECTIONS = {
    "plus_ablation": ("Segmentation (rules 0-6), mIoU (%)", "iou", None),
    "table4": ("Rough references (rule 0), mIoU (%), Table 4's protocol", "iou", None),
    "fewshot": ("Several references (rule 10), mIoU (%), few-shot protocol", "iou", {"miou": "mIoU"}),
    # the score's own quality, threshold-free: each object's AUROC (its targets against other objects' targets)
    "presence": ("Presence score (rule 7), presence protocol, SAM's threshold alone (no second opinion); verdicts on "
                 "each object's AUROC", "auroc",
                 {"il_mcc": "IL_MCC", "auroc": "AUROC", "tpr": "TPR", "fpr": "FPR", "miou_pos": "mIoU (positives)"}),
    "instances": ("Several instances (rule 9; rule 6 there too), copy-paste composites: the copy as far from the object "
                  "as it fits (davis16_instances) and beside it (davis16_instances_near)", "iou_union",
                  {"recall": "recall", "precision": "precision", "miou_union": "mIoU (union)"}),
}
PROTOCOLS = {"rotate": "every annotated image of an object is the reference once; an object counts once, the mean "
                       "over its references", "fixed": "reference 00"}


def _sections(rows: pd.DataFrame):
    for experiment, (title, metric, shown) in SECTIONS.items():
        part = rows[rows["experiment"] == experiment]
        if not part.empty:
            yield experiment, title, metric, shown, part


def _persam_plus_first(table: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([table[table["key"] == BASELINE], table[table["key"] != BASELINE]])


def _per_dataset(part: pd.DataFrame, shown: dict[str, str]) -> pd.DataFrame:
    """The section's summary, PerSAM+ first; a section of two sets (the instances) gets a row per method and set."""
    tables = [_persam_plus_first(generic.metric_table(rows, shown).drop(columns="model")).assign(dataset=dataset)
              for dataset, rows in part.groupby("dataset", sort=False)]
    if len(tables) == 1:
        return tables[0].drop(columns="dataset")
    table = pd.concat(tables, ignore_index=True)
    return table[["method", "dataset", *[c for c in table.columns if c not in ("method", "dataset")]]]


def build(rows: pd.DataFrame, scope: Scope | None = None) -> pd.DataFrame:
    """One frame of every section's rows (``section``: the experiment); ``scope`` is not needed: the sections
    span several datasets, each named in the README, and no published row is shown."""
    unknown = sorted(set(rows["experiment"]) - set(SECTIONS))
    if unknown:
        raise ValueError(f"plus_ablation tables the experiments {', '.join(SECTIONS)}; the rows also hold "
                         f"{', '.join(unknown)}")
    development = sorted(d for d in set(rows["dataset"]) if role_of(d) != HELD_OUT)
    if development:
        raise ValueError(f"plus_ablation decides on held-out data only; the rows also hold {', '.join(development)}")
    out = []
    for experiment, _, _, shown, part in _sections(rows):
        table = by_corruption(part) if shown is None else _per_dataset(part, shown)
        out.append((_persam_plus_first(table) if shown is None else table).assign(section=experiment))
    table = pd.concat(out).dropna(axis=1, how="all").reset_index(drop=True)
    return table[["section", *[c for c in table.columns if c != "section"]]]


def family(rows: pd.DataFrame) -> pd.DataFrame:
    """Every rung against PerSAM+ under each condition of each section, judged as one Holm family."""
    found = [verdicts.compare(part, metric, BASELINE, judged=False) for _, _, metric, _, part in _sections(rows)]
    found = [f for f in found if not f.empty]
    return verdicts.judge(pd.concat(found, ignore_index=True)) if found else pd.DataFrame()


def rung_notes(runs: Runs) -> list[str]:
    """One line per rung: the settings it changes from PerSAM+'s in the same section (runs of one protocol, which
    may be of another commit than the other sections'), from the runs' recorded method settings."""
    lines = []
    for experiment, _, _, _, part in _sections(runs.rows):
        records = {n: r for n, r in runs.provenances.items()
                   if (r.get("config") or {}).get("experiment_name") == experiment}
        found = settings.method_settings(Runs(part, records))
        labels = dict(zip(part["method"], part["label"], strict=False))
        lines += [f"- {labels[key]}: " + "; ".join(settings.changes(found[BASELINE], found[key])) + "."
                  for key in dict.fromkeys(part["method"]) if key in found and key != BASELINE and BASELINE in found]
    return ["What each rung changes from PerSAM+ (from the runs' recorded method settings):", "",
            *dict.fromkeys(lines), ""]


def write(runs: Runs, out: Path) -> pd.DataFrame:
    save_sources(runs, out)
    table = build(runs.rows)
    comparisons = family(runs.rows)
    table.to_csv(out / f"{NAME}.csv", index=False)
    lines = ["# The PerSAM+ ablation", ""]
    for experiment, title, metric, _, part in _sections(runs.rows):
        protocol = sorted(set(part["protocol"]))[0]
        objects = verdicts.per_object(part, metric).groupby("dataset", sort=False)["item"].nunique()
        data = ", ".join(f"{d} ({role_of(d)} set, {n} objects)" for d, n in objects.items())
        lines += [f"## {title}", "", f"Data: {data}; reference protocol: {protocol} "
                  f"({PROTOCOLS.get(protocol, protocol)}).", "",
                  markdown(table[table["section"] == experiment].drop(columns="section").dropna(axis=1, how="all")),
                  ""]
    lines += [
        "Rough references: the mask's bounding box, filled (`box`), or dilated by a 75-pixel kernel (`dilate75`): "
        f"where rule 0 acts. {interval_note()}",
        "",
        *rung_notes(runs),
        "A rung worse than PerSAM+ is a rule that helps there; the ladder, what was removed and why: "
        "docs/methods.md, \"PerSAM+ ablation\". A section measured before a rule was removed shows PerSAM+ as it "
        "was at that section's commit (Provenance names each run's). Each section's verdicts are on its per-object "
        "metric: "
        + "; ".join(f"{experiment}: `{metric}`" for experiment, _, metric, _, _ in _sections(runs.rows)) + ".",
        "",
        *([] if comparisons.empty else verdict_section(comparisons, comparisons["baseline"].iloc[0],
                                                        heading="Paired verdicts against PerSAM+ (one Holm family)")),
        *provenance_section(runs),
    ]
    (out / "README.md").write_text("\n".join(lines))
    return table
