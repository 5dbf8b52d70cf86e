"""Table 2: video object segmentation on DAVIS (J&F), from the video runs' result files.

    python -m persam.tables table2 RUN_DIRS --out results/table2

Writes ``table2.csv`` (per method: J&F, J, F, seconds per frame; with the original code's and the paper's
numbers as labelled reference rows), ``table2_per_sequence.csv`` (J, F and J&F of every object per method),
``results.csv`` (every run's rows), ``provenance/`` and ``README.md``, which also says how the procedure
differs from the original video code, read from each run's recorded settings.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from persam.experiments.reference_numbers import ORIGINAL_CODE_VIT_T_DAVIS, PAPER_TABLE2
from persam.experiments.table_text import markdown, provenance_section


def load(runs: list[Path]) -> tuple[pd.DataFrame, dict[str, dict]]:
    frames, provenances = [], {}
    for run in runs:
        rows = pd.read_csv(run / "results.csv", dtype={"item": str})
        if "J&F" not in set(rows.metric):
            raise ValueError(f"{run}: not a video run (no J&F in results.csv)")
        frames.append(rows.assign(run=run.name))
        provenances[run.name] = json.loads((run / "provenance.json").read_text())
    return pd.concat(frames, ignore_index=True), provenances


def summary_table(rows: pd.DataFrame, items: list[str]) -> pd.DataFrame:
    out = []
    for (method, model), group in rows.groupby(["method", "model"], sort=False):
        summary = group[group.item == "ALL"].set_index("metric")["value"]
        fit = group[group.metric == "fit_sec"]["value"]
        out.append({
            "method": group["label"].iloc[0], "key": method, "model": model, "kind": "measured",
            "J&F": round(summary["J&F"], 2), "J": round(summary["J"], 2), "F": round(summary["F"], 2),
            "sec_per_frame": round(summary["sec_per_frame"], 2),
            "track_sec_per_frame": round(summary["track_sec_per_frame"], 2),
            "fit_sec": round(fit.mean(), 2) if len(fit) else None,
        })
    if sorted(items) == sorted(ORIGINAL_CODE_VIT_T_DAVIS["sequences"]):
        for label, value in ORIGINAL_CODE_VIT_T_DAVIS["J&F"].items():
            out.append({"method": f"{label} (original video code, same weights and sequences; reference)", "key": "",
                        "model": "vit_t", "kind": "reference", "J&F": value})
    for label, value in PAPER_TABLE2.items():
        out.append({"method": f"{label} (paper, DAVIS 2017 val, 30 sequences; reference)", "key": "",
                    "model": "vit_h", "kind": "reference", "J&F": value})
    return pd.DataFrame(out)


def per_sequence_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per object (``seq`` or ``seq/id``): J, F and J&F of each method (%)."""
    objects = rows[(rows.item != "ALL") & rows.metric.isin(["J", "F"])]
    wide = objects.pivot_table(index="item", columns=["label", "metric"], values="value", sort=False)
    out = pd.DataFrame(index=wide.index)
    for label in dict.fromkeys(objects["label"]):
        out[f"{label} J"] = wide[(label, "J")]
        out[f"{label} F"] = wide[(label, "F")]
        out[f"{label} J&F"] = (wide[(label, "J")] + wide[(label, "F")]) / 2
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
    elif abs(method.get("center_threshold", 0) - 123.675 / 215) > 1e-6:
        notes.append(f"the frame-0 mask is sampled at the cell centres with threshold {method.get('center_threshold'):.4f} "
                     "(the original video code's is 123.675 / 215 = 0.5752)")
    if not (tracker.get("box_prompt") and tracker.get("center_point") and tracker.get("box_margin") == 10):
        notes.append(f"tracker prompts differ: {tracker}")
    if tracker.get("reacquire"):
        notes.append("a frame whose most similar point lies outside the object's widened box is decoded without "
                     "the box and its centre (`video.reacquire`)")
    return [f"- {label}: " + "; ".join(notes) + "." if notes else f"- {label}: as the original."]


def write_table2(runs: list[Path], out: Path) -> pd.DataFrame:
    rows, provenances = load(runs)
    first = next(iter(provenances.values()))
    data = first["data"]
    table = summary_table(rows, data["items"])
    per_seq = per_sequence_table(rows)
    out.mkdir(parents=True, exist_ok=True)
    rows.drop(columns=["run"]).to_csv(out / "results.csv", index=False)
    table.to_csv(out / "table2.csv", index=False)
    per_seq.to_csv(out / "table2_per_sequence.csv", index=False)
    prov_dir = out / "provenance"
    if prov_dir.exists():
        shutil.rmtree(prov_dir)
    prov_dir.mkdir()
    for run in runs:
        shutil.copy(run / "provenance.json", prov_dir / f"{run.name}.json")
    labels = rows.drop_duplicates("run").set_index("run")["label"]
    notes = [line for name, p in provenances.items() for line in differences(labels[name], p["video"])]
    cache = [f"{labels[n]}: {p['embedding_cache'].get('encoder_calls', 0)} encoder calls" for n, p in provenances.items()]
    lines = [
        "# Table 2: video object segmentation on DAVIS (J&F, %)",
        "",
        f"Dataset: {data['dataset']} at `{data['root']}`, subset: {data['subset']} ({len(data['items'])} sequences, "
        f"{first['video']['objects']} objects, {data['frames']} frames tracked; frame 0 given): {', '.join(data['items'])}.",
        "",
        markdown(table),
        "J: region IoU; F: boundary F-measure; both averaged per object over all frames but the first and last, "
        "then over objects (the official DAVIS 2017 semi-supervised definitions, checked against `vos-benchmark`). "
        "Rows marked *reference* are published numbers, not runs of this code; the paper's are for SAM ViT-H on all "
        "30 DAVIS 2017 val sequences, so they are not comparable with a subset. `sec_per_frame`: wall seconds per "
        "tracked frame (reading, encoding or fetching the cached embedding, prompting, decoding every object, "
        "writing the PNG; frame-0 fitting included); `track_sec_per_frame`: the same without reading and encoding; "
        f"`fit_sec`: PerSAM-F weight fitting per object. Image encoder: {'; '.join(cache)} (the rest came from "
        "the embedding cache).",
        "",
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
        *provenance_section(provenances, unit="method"),
    ]
    (out / "README.md").write_text("\n".join(lines))
    return table
