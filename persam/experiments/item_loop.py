"""The one item loop of every task: items (objects, sequences) in order, each finished item recorded, resumed.

An item's record (``items/<name>.json``: its rows and whatever the task needs to aggregate, with the run's
fingerprint) is written atomically after the item's outputs, so an interrupted run loses at most the item it
was working on, and a rerun with the same fingerprint reuses every finished item instead of recomputing it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from persam.experiments.records import write_atomic


@dataclass
class LoopResult:
    """Each item's record in order, and which items were reused from an earlier run."""

    records: dict[str, dict]
    reused: list[str] = field(default_factory=list)


def finished_record(path: Path, key: str) -> dict | None:
    """The record at ``path`` if it belongs to the run with fingerprint ``key`` (absent or torn: None)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("fingerprint") == key else None


def run_items(names: Sequence[str], units: Callable[[str], int], compute: Callable[[str, tqdm], dict],
              out_dir: Path, key: str, desc: str, unit: str, progress: bool = True) -> LoopResult:
    """Compute (or reuse) every item. ``compute(name, bar)`` returns the item's record (with ``rows``) and
    advances ``bar`` by the item's units (images, frames) as it goes; ``units(name)`` is that count."""
    result = LoopResult({})
    with tqdm(total=sum(units(n) for n in names), desc=desc, unit=unit, disable=not progress,
              dynamic_ncols=True) as bar:
        for name in names:
            path = out_dir / "items" / f"{name.replace('/', '__')}.json"
            record = finished_record(path, key)
            if record is not None:
                result.reused.append(name)
                bar.update(units(name))
            else:
                bar.set_postfix_str(name)
                record = {"fingerprint": key, **compute(name, bar)}
                write_atomic(path, json.dumps(record))
            result.records[name] = record
    return result
