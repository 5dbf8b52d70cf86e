"""Table 2: video object segmentation on DAVIS (J&F), from the video runs' result files.

    python -m persam.tables table2 RUN_DIRS --out results/table2

Writes ``table2.csv`` (per method: J&F with its bootstrap interval over sequences, J, F; with the reference rows
whose scope matches the runs), ``table2_per_sequence.csv`` (J, F and J&F of every object per method),
``results.csv`` (every run's rows), ``provenance/`` and ``README.md``, which also says how the procedure
differs from the original video code, read from each run's recorded settings, and the paired verdicts of every
method against :data:`BASELINE` over sequences. No timings: speed is ``make bench``'s.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from persam.tables import references, verdicts
from persam.tables.generic import begin
from persam.tables.runs import Runs, Scope
from persam.tables.text import (
    interval_note,
    markdown,
    provenance_section,
    reference_section,
    shown_root,
    verdicts_against,
)

NAME = "table2"
TITLE = "Table 2: video object segmentation on DAVIS 2017, J&F (%)"
HEADLINE = ["J&F", "J", "F"]
BASELINE = "persam"


def build(rows: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    """Per method: J&F (with its interval over objects), J, F; then the reference rows whose scope (sequences,
    model) matches."""
    if "J&F" not in set(rows["metric"]):
        raise ValueError("not video runs: no J&F in their results.csv")
    out = []
    for (method, model), group in rows.groupby(["method", "model"], sort=False):
        summary = group[group["item"] == "ALL"].set_index("metric")["value"]
        objects = verdicts.per_object(group, "J&F")["value"]
        out.append({
            "method": group["label"].iloc[0], "key": method, "model": model, "kind": "measured",
            "J&F": round(summary["J&F"], 2), **{f"J&F{k}": v for k, v in verdicts.interval(objects).items()},
            "J": round(summary["J"], 2), "F": round(summary["F"], 2),
        })
    shown, _ = references.for_table(NAME, scope)
    out += [{"method": r.label, "key": "", "model": next(iter(r.scope.models)), "kind": "reference", r.metric: r.value}
            for r in shown]
    return pd.DataFrame(out).dropna(axis=1, how="all")


def per_sequence_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per object (``seq`` or ``seq/id``): J, F and J&F of each method (%)."""
    objects = rows[(rows["item"] != "ALL") & rows["metric"].isin(["J", "F", "J&F"])]
    wide = objects.pivot_table(index="item", columns=["label", "metric"], values="value", sort=False)
    out = pd.DataFrame(index=wide.index)
    for label in dict.fromkeys(objects["label"]):
        out[f"{label} J"] = wide[(label, "J")]
        out[f"{label} F"] = wide[(label, "F")]
        recorded = wide.get((label, "J&F"))  # the runner's per-object J&F where it writes one
        out[f"{label} J&F"] = recorded if recorded is not None else (wide[(label, "J")] + wide[(label, "F")]) / 2
    return out.round(2).reset_index().rename(columns={"item": "sequence"})


def differences(label: str, video: dict) -> list[str]:
    """How one run's video procedure differs from the original persam_video*.py, from its recorded settings."""
    method, tracker = video["method"], video["tracker"]
    notes = []
    if method.get("scale_fusion"):
        if method.get("fit") == "fast":
            notes.append("the two weights are fitted by the fast grouped-pixel AdamW (same loss, schedule, "
                         f"{method['fit_steps']} steps, lr {method['fit_lr']:g}) instead of autograd on every pixel")
    else:
        first = method.get("first_mask")
        if first != "largest":
            kept = "single-mask output" if first == "single" else "best-scored mask"
            notes.append(f"the first decoding keeps SAM's {kept}; "
                         "the original keeps the 'largest' of three masks, counting pixels in uint8 (so the largest "
                         "modulo 256, in effect an arbitrary one)")
        if method.get("refine_box_from_first_step"):
            notes.append("the first refinement step is prompted with the first mask's box too (the original gives it "
                         "points and the mask only, and MobileSAM then often returns the whole background)")
        switches = (("guided_attention", "target-guided attention"), ("semantic_prompting", "target-semantic prompting"),
                    ("negative_prior", "a negative point"))
        for key, name in switches:
            if method.get(key):
                notes.append(f"{name} is on (the original video code has none)")
    if method.get("mask_pooling") == "area":
        notes.append("the target embedding pools the 64 x 64 feature cells that the frame-0 mask covers by at least "
                     "half (the original samples the resized mask at the cell centres)")
    elif method.get("center_threshold") is not None and abs(method["center_threshold"] - 123.675 / 215) > 1e-6:
        notes.append(f"the frame-0 mask is sampled at the cell centres with threshold {method.get('center_threshold'):.4f} "
                     "(the original video code's is 123.675 / 215 = 0.5752)")
    if not (tracker.get("box_prompt") and tracker.get("center_point") and tracker.get("box_margin") == 10):
        notes.append(f"tracker prompts differ: {tracker}")
    if tracker.get("reacquire"):
        notes.append("a frame whose most similar point lies outside the object's widened box is decoded without "
                     "the box and its centre (`video.reacquire`)")
    return [f"- {label}: " + "; ".join(notes) + "." if notes else f"- {label}: as the original."]


def video_settings(record: dict) -> dict | None:
    """``{"method": settings, "tracker": prompts}`` of a video run: from the runner's ``method_settings.video``
    (``settings``, ``tracker``), or the ``video`` block of older records; None when there is neither."""
    recorded = (record.get("method_settings") or {}).get("video")
    if recorded:
        return {"method": recorded.get("settings", {}), "tracker": recorded.get("tracker", {})}
    old = record.get("video") or {}
    return old if "method" in old and "tracker" in old else None


def write(runs: Runs, out: Path) -> pd.DataFrame:
    scope, table, shown, withheld = begin(NAME, build, runs, out)
    per_seq = per_sequence_table(runs.rows)
    per_seq.to_csv(out / "table2_per_sequence.csv", index=False)
    label = runs.rows.drop_duplicates("run").set_index("run")["label"]
    first = next(iter(runs.provenances.values()))
    notes = [line for name, p in runs.provenances.items() if video_settings(p)
             for line in differences(label.get(name, p["config"]["method"].get("label", name)), video_settings(p))]
    data = first["data"]
    lines = [
        "# Table 2: video object segmentation on DAVIS (J&F, %)",
        "",
        f"Dataset: {data['dataset']}{shown_root(data)}, subset: {data['subset']} ({len(scope.items)} sequences, "
        f"{first.get('video', {}).get('objects', '?')} objects, {data.get('frames')} frames tracked per run; frame 0 "
        f"given): {', '.join(scope.items)}.",
        "",
        markdown(table),
        "J: region IoU; F: boundary F-measure; both averaged per object over all frames but the first and last, "
        "then over objects (the official DAVIS 2017 semi-supervised definitions, checked against `vos-benchmark`). "
        f"Rows marked *reference* are not runs of this code (sources below). {interval_note('sequence')}",
        "",
        *verdicts_against(runs.rows, "J&F", BASELINE, unit="sequence"),
        "## What differs from the original video code (persam_video.py, persam_video_f.py)",
        "",
        *notes,
        "- both: an object that finds no pixel in a frame keeps its last box for the next frame (the original "
        "rebuilds its box list from the labels present, which shifts or drops objects); an empty mask never "
        "replaces a non-empty one during refinement (the original crashes on the box of an empty mask); frame 0 "
        "is written as the given annotation.",
        "",
        "## Per sequence (J, F and J&F, %)",
        "",
        markdown(per_seq, drop=()),
        *reference_section(shown, references.withheld_line(withheld, scope)),
        *provenance_section(runs, unit="method"),
    ]
    (out / "README.md").write_text("\n".join(lines))
    return table
