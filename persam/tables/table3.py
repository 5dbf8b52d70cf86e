"""Table 3: the ablation ladder of PerSAM's components (mIoU and the gain over the rung above), from the rows.

    python -m persam.tables table3 RUN_DIRS --out results/table3/perseg

The ladder is :data:`LADDER`: each rung keeps every component of the rung above and adds one; the last rung is
PerSAM with scale fusion added (``ablation_fusion``). PerSAM-F as released (its own component set) follows as a
labelled row outside the ladder, then any other method (new methods, baselines); the Gain column is filled only within
the ladder. What every row changes is written from the runs' recorded method settings.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from persam.metrics.paired_test import paired
from persam.tables import references, settings, verdicts
from persam.tables.figures import write_figures
from persam.tables.generic import begin, one_protocol
from persam.tables.runs import Runs, Scope, kind, labels
from persam.tables.text import (
    dataset_line,
    interval_note,
    markdown,
    provenance_section,
    reference_section,
    verdicts_against,
)

NAME = "table3"
TITLE = "Table 3: ablation, mIoU (%) and gain over the rung above"
HEADLINE = ["mIoU", "Gain"]
LADDER = ["ablation_pos", "ablation_neg", "ablation_refine", "ablation_attn", "persam", "ablation_fusion"]
# PerSAM, read in the ladder as the component it adds (as in the paper); the other rungs' labels say so already.
LADDER_LABELS = {"persam": "+ Target-semantic prompting (PerSAM)"}
RELEASED = "persam_f"  # PerSAM-F as the original code has it: its own component set, not a rung
BASELINE = "persam"  # the ladder's PerSAM: every row is compared with it, object by object
PER_OBJECT = "iou"


def row_label(method: str, label: str) -> str:
    if method == RELEASED:
        return f"{label} as released (not a rung)"
    return LADDER_LABELS.get(method, label)


def order(methods: list[str]) -> list[str]:
    """Ladder rungs in ladder order, then PerSAM-F as released, then the other methods in the order they came,
    then the baselines and oracles (``baseline_*``): none of them is a rung, so none sits inside the ladder."""
    ladder = [m for m in LADDER if m in methods]
    released = [RELEASED] if RELEASED in methods else []
    rest = [m for m in methods if m not in ladder and m not in released]
    return ladder + released + [m for m in rest if not m.startswith("baseline_")] + \
        [m for m in rest if m.startswith("baseline_")]


def _gain(per_object: pd.Series, above: pd.Series) -> dict:
    """A rung's gain over the rung above: the paired mean difference per object, with its 95% sign-flip interval
    (none where the test cannot bound it: too few objects)."""
    common = [i for i in per_object.index if i in above.index]
    c = paired(per_object[common].to_numpy(), above[common].to_numpy())
    low, high = c.interval()
    bounded = abs(low) != float("inf") and abs(high) != float("inf")
    return {"Gain": f"{c.mean_difference:+.2f}", **({"Gain ci_low": round(low, 2), "Gain ci_high": round(high, 2)}
                                                   if bounded else {})}


def build(rows: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    found = verdicts.per_object(one_protocol(rows, NAME), PER_OBJECT)
    per_object = {m: g.drop_duplicates("item").set_index("item")["value"] for m, g in found.groupby("method", sort=False)}
    label = labels(rows)
    out, previous = [], None
    for method in order(list(per_object)):
        rung = method in LADDER
        gain = _gain(per_object[method], previous) if rung and previous is not None else {"Gain": ""}
        out.append({"method": row_label(method, label[method]), "key": method, "kind": kind(method),
                    **verdicts.with_interval("mIoU", per_object[method]), **gain})
        previous = per_object[method] if rung else previous
    shown, _ = references.for_table(NAME, scope)
    for i, ref in enumerate(shown):  # the paper's own ladder, its gains within itself
        gain = f"{ref.value - shown[i - 1].value:+.2f}" if i else ""
        out.append({"method": ref.label, "key": "", "kind": "reference", "mIoU": ref.value, "Gain": gain})
    return pd.DataFrame(out).dropna(axis=1, how="all")


def pooled_rows(table: pd.DataFrame, objects: pd.DataFrame) -> pd.DataFrame:
    """The pooled table (:mod:`persam.tables.pooled`) in ladder order, with each rung's Gain over the rung above
    on the pooled objects (``objects``: per-object rows, an ``object`` column naming ``<dataset>/<item>``)."""
    values = {m: g.drop_duplicates("object").set_index("object")["value"]
              for m, g in objects.groupby("method", sort=False)}
    ranked = order(list(dict.fromkeys(table["key"])))
    table = table.set_index("key").loc[ranked].reset_index()
    table["method"] = [row_label(key, label) for key, label in zip(table["key"], table["method"], strict=True)]
    gains, previous = [], None
    for method in table["key"]:
        rung = method in LADDER
        gains.append(_gain(values[method], previous) if rung and previous is not None else {"Gain": ""})
        previous = values[method] if rung else previous
    table = pd.concat([table, pd.DataFrame(gains, index=table.index)], axis=1)
    columns = ["method", "key", *[c for c in table.columns if c not in ("method", "key")]]
    return table[columns].dropna(axis=1, how="all")


def row_notes(runs: Runs, table: pd.DataFrame) -> list[str]:
    """One line per measured row saying what it changes, derived from the recorded method settings."""
    found = settings.method_settings(runs)
    rungs = [m for m in LADDER if m in found and m in set(table["key"])]
    shown = {row.key: row.method for row in table.itertuples() if row.key in found}
    lines = []
    for method in shown:
        if method in rungs:
            i = rungs.index(method)
            if i == 0:
                text = f"the first rung: {settings.components(found[method])}"
            else:
                diff = settings.changes(found[rungs[i - 1]], found[method])
                text = f"keeps the rung above and {'; '.join(diff) or 'changes no recorded setting'}"
        else:
            anchor = rungs[-1] if rungs else None
            if anchor is None:
                text = settings.components(found[method])
            elif settings.is_other_method(found[anchor], found[method]):
                text = f"a separate method ({settings.identity(found[method])}), outside the ladder"
            else:
                text = f"outside the ladder; differs from \"{shown[anchor]}\" in: " + "; ".join(
                    settings.changes(found[anchor], found[method]))
        lines.append(f"- {shown[method]}: {text}.")
    return ["What each row changes (from the runs' recorded method settings):", "", *lines, ""] if lines else []


def shared_cache_line(runs: Runs) -> list[str]:
    """Whether the runs shared one embedding cache (read from their records), which the encoder count reflects."""
    folders = {str((p.get("embedding_cache") or {}).get("dir")) for p in runs.provenances.values()}
    if len(folders) != 1 or folders == {"None"}:
        return []
    return ["The runs shared one embedding cache, so each distinct image was encoded at most once across all rows "
            "(see the encoder line below).", ""]


def write(runs: Runs, out: Path) -> pd.DataFrame:
    scope, table, shown, withheld = begin(NAME, build, runs, out)
    ladder = table[table["key"].isin(LADDER)]
    lines = [
        "# Table 3: ablation of PerSAM's components (mIoU, %)",
        "",
        dataset_line(runs, "objects"),
        "",
        markdown(table),
        f"The ladder is the first {len(ladder)} rows; Gain is a rung's IoU minus the rung above's, per object, with "
        "its 95% paired sign-flip interval, uncorrected (filled only within a ladder, and only where the test can "
        "bound it: 6 or more objects); the corrected verdicts are below. What each rung changes is listed below. "
        f"{interval_note()}",
        "",
        *row_notes(runs, table),
        *shared_cache_line(runs),
        *verdicts_against(runs.rows, PER_OBJECT, BASELINE),
        *write_figures(runs, runs.rows, out, "Table 3", "persam", order(list(dict.fromkeys(runs.rows["method"])))[:6]),
        *reference_section(shown, references.withheld_line(withheld, scope)),
        *provenance_section(runs),
    ]
    (out / "README.md").write_text("\n".join(lines))
    return table
