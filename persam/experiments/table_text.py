"""The Markdown that every generated table shares: the table itself and its provenance section."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def markdown(table: pd.DataFrame, drop: tuple[str, ...] = ("key", "kind")) -> str:
    """A DataFrame as a Markdown table, without the bookkeeping columns ``drop``; missing values are blank."""
    shown = table.drop(columns=[c for c in drop if c in table.columns]).astype(object)
    shown = shown.where(shown.notna(), "")
    header = "| " + " | ".join(map(str, shown.columns)) + " |\n|" + "---|" * len(shown.columns) + "\n"
    body = "".join("| " + " | ".join(str(v) for v in row) + " |\n" for row in shown.itertuples(index=False))
    return header + body


def distinct_images(provenance: dict) -> int:
    """Images a run reads: one reference per item and the target images (image task), or every frame (video)."""
    data = provenance["data"]
    if "target_images" in data:
        return len(data["items"]) + data["target_images"]
    return len(data["items"]) + data.get("frames", 0)  # frame 0 of each sequence, then the tracked frames


def provenance_section(provenances: dict[str, dict], unit: str = "row") -> list[str]:
    """The ``## Provenance`` lines of a table built from ``provenances`` (run name -> provenance record)."""
    first = next(iter(provenances.values()))
    commits = sorted({f"{p['git']['commit']}{' (dirty)' if p['git']['dirty'] else ''}" for p in provenances.values()})
    misses = sum(p["embedding_cache"].get("misses", 0) for p in provenances.values())
    calls = sum(p["embedding_cache"].get("encoder_calls", 0) for p in provenances.values())
    return [
        "## Provenance",
        "",
        f"- command: `{first['command']}` (one run per {unit}; per-run records in `provenance/`)",
        f"- git commit: {', '.join(commits)}",
        f"- model: {first['model']['name']} (`{Path(first['model']['checkpoint']).name}`, "
        f"sha256 {first['model']['sha256'][:12]}...)",
        f"- date: {first['date']}",
        f"- machine: {first['machine']['host_cpu']}, {first['machine']['cpu_count']} CPUs, device {first['device']}; "
        f"torch {first['torch']}",
        f"- image encoder: {calls} encoder calls and {misses} cache misses over the {len(provenances)} runs; "
        f"the data holds {distinct_images(first)} distinct images "
        f"({'references and targets' if 'target_images' in first['data'] else 'frames'})",
        "",
    ]
