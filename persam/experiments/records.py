"""Result records, kept free of torch so the table builders import nothing heavy.

A run's tidy rows have the columns :data:`COLUMNS`: one value of one metric for one item (an object, a
sequence, or ``ALL`` for the aggregate), with every axis a table is built over (``corruption`` for Table 4,
``shots`` for the few-shot protocol, ``protocol`` for the reference protocol, ``fixed`` or ``rotate``) as its
own column, so each table is rebuilt from its rows alone. A row's setting is data too: ``task`` (the dataset's
loop), ``second_opinion`` (``none`` without), ``presence`` (the check on or off) and ``max_instances``; the
``label`` is generated from them for display and never read back (:func:`persam.tables.verdicts.setting_of`).
Under ``rotate`` the episodes have rows of their own,
item ``<object>@<reference stem>`` and metrics ending in ``_episode`` (``iou_episode``), which no table takes
for an object's row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

COLUMNS = ["experiment", "dataset", "subset", "method", "label", "model", "corruption", "shots", "protocol", "task",
           "second_opinion", "presence", "max_instances", "item", "metric", "value"]


@dataclass
class TaskOutput:
    """What a dataset loop hands back: rows, the items it covered and what else provenance should say."""

    rows: list[dict]
    items: list[str]
    units: int  # how many target images / frames were evaluated
    wall_seconds: float
    unit_name: str = "target_images"
    extra: dict = field(default_factory=dict)
    # The data files read and the dataset root as the task named them: provenance's manifest, hashed once the
    # results are on disk (evaluate), so a failure there loses no result.
    data_files: list = field(default_factory=list)
    data_root: Path | None = None


def digest(obj) -> str:
    """A short content hash of a JSON-able object (configurations, file manifests)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
