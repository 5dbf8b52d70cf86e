"""A dataset's role: ``development`` (methods were developed and defaults chosen on it) or ``held-out`` (nothing
was chosen on it). Each dataset config (``persam/conf/dataset/<name>.yaml``) declares its ``role``; a row's role is
read from the config of the dataset its ``dataset`` column names, so committed results need no role column.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

DEVELOPMENT, HELD_OUT = "development", "held-out"
CONFIGS = Path(__file__).resolve().parents[1] / "conf" / "dataset"


@cache
def role_of(dataset: str) -> str:
    """The role the config of ``dataset`` declares; a clear error for an unknown dataset or a missing role."""
    path = CONFIGS / f"{dataset}.yaml"
    shown = f"persam/conf/dataset/{dataset}.yaml"
    if not path.is_file():
        raise ValueError(f"dataset {dataset!r}: no config {shown}, so no role (development or held-out)")
    role = (yaml.safe_load(path.read_text()) or {}).get("role")
    if role not in (DEVELOPMENT, HELD_OUT):
        raise ValueError(f"{shown}: role is {role!r}; it must be {DEVELOPMENT!r} or {HELD_OUT!r}")
    return role
