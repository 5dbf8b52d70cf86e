"""The Markdown every generated table shares: the table, computed claims, timing lines, data and provenance.

Nothing here states a result that is not computed from the table or the runs' records at the moment of
writing ("best" is the maximum of a column, a commit is read from provenance).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from persam.tables.runs import Runs, summary_rows

REPO_ROOT = Path(__file__).resolve().parents[2]
POST_ENCODER = "sec_per_image_post_encoder"
ENCODER = "encoder_sec_per_image"


def markdown(table: pd.DataFrame, drop: tuple[str, ...] = ("key", "kind")) -> str:
    """A DataFrame as a Markdown table, without the bookkeeping columns ``drop``; missing values are blank."""
    shown = table.drop(columns=[c for c in drop if c in table.columns]).astype(object)
    shown = shown.where(shown.notna(), "")
    header = "| " + " | ".join(map(str, shown.columns)) + " |\n|" + "---|" * len(shown.columns) + "\n"
    body = "".join("| " + " | ".join(str(v) for v in row) + " |\n" for row in shown.itertuples(index=False))
    return header + body


def best_line(table: pd.DataFrame, column: str, lowest: bool = False, what: str = "methods") -> str:
    """Which measured row has the highest (or lowest) ``column``, computed from the table; ties all named."""
    measured = table[(table["kind"] == "measured") & table[column].notna()] if column in table else table.iloc[:0]
    if measured.empty:
        return ""
    values = pd.to_numeric(measured[column])
    best = values.min() if lowest else values.max()
    names = ", ".join(measured.loc[values == best, "method"])
    return f"{'Lowest' if lowest else 'Highest'} `{column}` among the measured {what} in this table: {names} ({best:g})."


def timing_lines(runs: Runs, unit: str = "target image") -> list[str]:
    """What the timing column means (seconds per ``unit``), and the image encoder's cost once for the table."""
    summary = summary_rows(runs.rows)
    encoder = summary[summary["metric"] == ENCODER]
    lines = [f"`{POST_ENCODER}`: wall seconds per {unit} after the image encoder, with every embedding "
             "already computed (warm cache), so it compares the methods' own work whichever run encoded the images."]
    if len(encoder):
        per_model = encoder.groupby("model")["value"].agg(["mean", "count"])
        costs = "; ".join(f"{model}: {row['mean']:.2f} s per image (mean over the {int(row['count'])} run(s) that encoded "
                          "images)" for model, row in per_model.iterrows())
        lines.append(f"Image encoder, the same for every method and paid once per image: {costs}.")
    else:
        lines.append("Image encoder: not timed here (every embedding came from the cache in these runs).")
    return [" ".join(lines), ""]


def shown_root(data: dict) -> str:
    """`` at `ROOT` `` for a recorded data root, relative to the repository when it lies inside it; else ''."""
    root = data.get("root")
    if not root:
        return ""
    path = Path(root)
    if path.is_absolute() and path.is_relative_to(REPO_ROOT):
        path = path.relative_to(REPO_ROOT)
    return f" at `{path}`"


def dataset_line(runs: Runs, unit: str = "items") -> str:
    """The data the runs covered: dataset, where it was read (as recorded), subset and items."""
    first = next(iter(runs.provenances.values()), {})
    data = first.get("data", {})
    items = sorted({i for p in runs.provenances.values() for i in p.get("data", {}).get("items", [])})
    count = data.get("target_images", data.get("frames"))
    counted = f"; {count} target images or frames per run, references excluded" if count is not None else ""
    return (f"Dataset: {data.get('dataset', runs.rows['dataset'].iloc[0])}{shown_root(data)}, subset: "
            f"{data.get('subset', runs.rows['subset'].iloc[0])} ({len(items)} {unit}: {', '.join(items)}{counted}).")


def _commit(record: dict) -> str:
    git = record.get("git") or {}
    text = str(git.get("commit"))
    if git.get("dirty"):
        diff = next((str(v) for k, v in git.items() if "diff" in k and v), "")
        text += f" (dirty{', diff ' + diff[:16] if diff else ''})"
    return text


def distinct_images(provenance: dict) -> int:
    """Images a run reads: one reference per item and the target images (image task), or every frame (video)."""
    data = provenance["data"]
    if "target_images" in data:
        return len(data["items"]) + data["target_images"]
    return len(data["items"]) + data.get("frames", 0)  # frame 0 of each sequence, then the tracked frames


def provenance_section(runs: Runs, unit: str = "row") -> list[str]:
    """The ``## Provenance`` lines: command, the commit of every run, model, dates, machine, encoder calls."""
    records = runs.provenances
    first = next(iter(records.values()))
    by_commit: dict[str, list[str]] = {}
    for name, record in records.items():
        by_commit.setdefault(_commit(record), []).append(name)
    commits = "; ".join(f"`{c}` ({'all ' + str(len(names)) + ' runs' if len(by_commit) == 1 else ', '.join(names)})"
                        for c, names in by_commit.items())
    misses = sum(p.get("embedding_cache", {}).get("misses", 0) for p in records.values())
    calls = sum(p.get("embedding_cache", {}).get("encoder_calls", 0) for p in records.values())
    dates = sorted(str(p.get("date")) for p in records.values())
    manifests = {json.dumps((p.get("data") or {}).get("manifest"), sort_keys=True) for p in records.values()}
    manifest = json.loads(manifests.pop()) if len(manifests) == 1 else None
    model = first["model"]
    lines = [
        "## Provenance",
        "",
        f"- command: `{first['command']}` (one run per {unit}; per-run records in `provenance/`)",
        f"- git commit: {commits}",
        f"- model: {model['name']} (`{Path(str(model['checkpoint'])).name}`, sha256 {str(model['sha256'])[:12]}...)",
        f"- date: {dates[0]}" + (f" to {dates[-1]}" if dates[-1] != dates[0] else ""),
        f"- machine: {first['machine']['host_cpu']}, {first['machine']['cpu_count']} CPUs, device "
        f"{first.get('device')}; torch {first.get('torch')}",
        f"- image encoder: {calls} encoder calls and {misses} cache misses over the {len(records)} runs; "
        f"the data holds {distinct_images(first)} distinct images "
        f"({'references and targets' if 'target_images' in first['data'] else 'frames'})",
    ]
    if isinstance(manifest, dict):  # the files the runs read: one hash over their paths and contents
        lines.append(f"- data manifest: {manifest.get('files')} files, sha256 `{manifest.get('sha256')}` (the same "
                     "for every run)")
    return [*lines, ""]


def reference_section(shown: list, withheld_lines: list[str]) -> list[str]:
    """The ``## Reference rows`` section: where each shown reference number comes from, and what was withheld."""
    if not shown and not withheld_lines:
        return []
    return ["## Reference rows", "", *[r.citation() for r in shown], *([""] if shown else []), *withheld_lines]
