"""Merge the shards of one run (``dataset.shard=i dataset.num_shards=n`` jobs) into one run directory.

    python -m persam.tables merge SHARD_DIRS... --out MERGED_DIR

The shards must be runs of the same configuration apart from the shard index, every index 0..n-1 must be
present once, and no item may appear in two shards; otherwise nothing is written and the error says which
shard is missing or which item overlaps. The merged directory holds the shards' per-item rows, the
aggregate rows recomputed over all items, the masks and overlays, and a provenance record listing the shards.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from persam.atomic import write_atomic
from persam.experiments.loggers import GROUP_FILE, runs_group
from persam.experiments.records import COLUMNS


class MergeError(ValueError):
    """The shards do not make one complete run."""


def _shard_config(record: dict) -> dict:
    config = json.loads(json.dumps(record["config"]))
    config["dataset"].pop("shard", None)
    config.pop("hydra", None)
    return config


def check_shards(records: dict[Path, dict]) -> int:
    """The shard count, after checking the shards form one complete, non-overlapping run."""
    counts = {r.get("shard", {}).get("count", 1) for r in records.values()}
    if len(counts) != 1:
        raise MergeError(f"shards disagree on dataset.num_shards: {sorted(counts)}")
    count = counts.pop()
    unfinished = sorted(str(run) for run, r in records.items() if r.get("status", "complete") != "complete")
    if unfinished:  # its provenance was written when it started and never completed: the run stopped
        raise MergeError(f"shard run(s) did not finish (provenance status is not complete): {', '.join(unfinished)}")
    configs = {json.dumps(_shard_config(r), sort_keys=True) for r in records.values()}
    if len(configs) != 1:
        raise MergeError("shards come from different configurations (method, model or dataset differ)")
    seen: dict[int, Path] = {}
    for run, record in records.items():
        index = record.get("shard", {}).get("index", 0)
        if index in seen:
            raise MergeError(f"shard {index} of {count} appears twice: {seen[index]} and {run}")
        seen[index] = run
    missing = sorted(set(range(count)) - set(seen))
    if missing:
        raise MergeError(f"missing shard(s) {', '.join(map(str, missing))} of {count}; have {sorted(seen)}")
    owner: dict[str, Path] = {}
    for run, record in records.items():
        for item in record["data"]["items"]:
            if item in owner:
                raise MergeError(f"item {item!r} is in two shards: {owner[item]} and {run}")
            owner[item] = run
    return count


def aggregate_rows(rows: pd.DataFrame, units: dict[Path, int]) -> list[dict]:
    """The ALL rows over every item: means of per-item scores; seconds weighted by each shard's units."""
    per_item = rows[rows["item"] != "ALL"]
    base = per_item.iloc[0][[c for c in COLUMNS if c not in ("item", "metric", "value")]].to_dict()
    out = []
    for metric, name in (("iou", "miou"), ("acc", "macc")):
        values = per_item[per_item.metric == metric]["value"]
        if len(values):
            out.append({**base, "item": "ALL", "metric": name, "value": float(values.mean())})
    for metric in ("J", "F"):
        values = per_item[per_item.metric == metric]["value"]
        if len(values):
            out.append({**base, "item": "ALL", "metric": metric, "value": float(values.mean())})
    if {"J", "F"} <= {r["metric"] for r in out}:
        j, f = (next(r["value"] for r in out if r["metric"] == m) for m in ("J", "F"))
        out.insert(0, {**base, "item": "ALL", "metric": "J&F", "value": (j + f) / 2})
    for metric in ("sec_per_image_post_encoder", "encoder_sec_per_image", "sec_per_image", "sec_per_frame"):
        timed = rows[(rows["item"] == "ALL") & (rows.metric == metric)]
        if len(timed):
            weights = np.array([units[run] for run in timed["run"]], dtype=float)
            out.append({**base, "item": "ALL", "metric": metric,
                        "value": float(np.average(timed["value"], weights=weights))})
    return out


def merge_shards(runs: list[Path], out: Path) -> pd.DataFrame:
    records = {run: json.loads((run / "provenance.json").read_text()) for run in runs}
    count = check_shards(records)
    frames = [pd.read_csv(run / "results.csv", dtype={"item": str}).assign(run=run) for run in runs]
    rows = pd.concat(frames, ignore_index=True)
    units = {run: r["data"].get("target_images", r["data"].get("frames", 1)) for run, r in records.items()}
    per_item = rows[rows["item"] != "ALL"]
    merged = pd.concat([per_item, pd.DataFrame(aggregate_rows(rows, units))], ignore_index=True)[COLUMNS]
    out.mkdir(parents=True, exist_ok=True)
    for run in runs:
        for kind in ("masks", "overlays", "items"):
            if (run / kind).is_dir():
                shutil.copytree(run / kind, out / kind, dirs_exist_ok=True)
    first = records[runs[0]]
    record = {**first, "config": _shard_config(first),
              "data": {**first["data"], "items": sorted(i for r in records.values() for i in r["data"]["items"])},
              "shard": {"merged": count, "from": [str(run) for run in runs]},
              "wall_seconds": sum(r.get("wall_seconds", 0.0) for r in records.values())}
    key = "target_images" if "target_images" in first["data"] else "frames"
    record["data"][key] = sum(units.values())
    group = runs_group(runs)
    if group:  # the shards' W&B group (one sweep), so the table built from the merged run is logged into it
        write_atomic(out / GROUP_FILE, group + "\n")
    write_atomic(out / "results.csv", merged.to_csv(index=False))
    write_atomic(out / "provenance.json", json.dumps(record, indent=2, default=str))
    return merged
