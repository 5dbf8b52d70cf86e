"""The one item loop of every task: items (objects, sequences) in order, each finished item recorded, resumed.

An item's record (``items/<name>.json``: its rows and whatever the task needs to aggregate, with the run's
fingerprint) is written atomically after the item's outputs, so an interrupted run loses at most the item it
was working on, and a rerun with the same fingerprint reuses every finished item instead of recomputing it.
Each record also keeps the seconds its item spent in each timed stage (``clock``), so a resumed run reports
the same timing as an uninterrupted one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from tqdm import tqdm

from persam.atomic import write_atomic


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


def _add(clock, amounts: dict) -> None:
    for f in fields(clock):
        setattr(clock, f.name, getattr(clock, f.name) + amounts.get(f.name, 0))


def run_items(names: Sequence[str], units: Callable[[str], int], compute: Callable[[str, tqdm], dict],
              out_dir: Path, key: str, desc: str, unit: str, progress: bool = True, clock=None,
              plan: Callable[[int], None] | None = None) -> LoopResult:
    """Compute (or reuse) every item. ``compute(name, bar)`` returns the item's record (with ``rows``) and
    advances ``bar`` by the item's units (images, frames) as it goes; ``units(name)`` is that count.
    ``clock`` (a dataclass of stage totals, :class:`persam.experiments.task_context.StageClock`) gains each
    item's share, computed now or read back from its record. ``plan`` is told the units left to compute before
    the first is computed (the predictor's ``expect_images``: whether compiling its decoder pays)."""
    result = LoopResult({})
    paths = {name: out_dir / "items" / f"{name.replace('/', '__')}.json" for name in names}
    finished = {name: finished_record(path, key) for name, path in paths.items()}
    if plan is not None:
        plan(sum(units(n) for n in names if finished[n] is None))
    with tqdm(total=sum(units(n) for n in names), desc=desc, unit=unit, disable=not progress,
              dynamic_ncols=True) as bar:
        for name in names:
            path = paths[name]
            record = finished[name]
            if record is not None:
                result.reused.append(name)
                bar.update(units(name))
                if clock is not None:
                    _add(clock, record.get("clock", {}))
            else:
                bar.set_postfix_str(name)
                before = asdict(clock) if clock is not None else {}
                record = {"fingerprint": key, **compute(name, bar)}
                if clock is not None:
                    now = asdict(clock)
                    record["clock"] = {k: now[k] - before[k] for k in now}
                write_atomic(path, json.dumps(record))
            result.records[name] = record
    return result
