"""Reference numbers (the paper's, and the original code measured by this project) as scoped data.

The numbers live in ``reference_numbers.yaml`` beside this module. A table asks :func:`for_table` for the
rows whose scope (dataset, exact item set, model) matches its runs; the others are reported as withheld, with
the reason, so a reader knows they exist without seeing a number from another setting beside ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from persam.tables.runs import Scope

DATA_FILE = Path(__file__).with_name("reference_numbers.yaml")


@dataclass(frozen=True)
class Reference:
    """One reference number: ``value`` of ``metric`` for ``method`` in ``table``, with source and scope."""

    table: str
    metric: str
    method: str
    value: float
    source: dict  # kind (paper | measured), cite, and for measured: repository, commit, weights_sha256, ...
    scope: Scope
    command: str = ""
    where: str = ""  # the paper's table

    @property
    def label(self) -> str:
        """The row label, e.g. "PerSAM (original code, measured; reference)"."""
        where = f", {self.where}" if self.where else ""
        what = "paper" if self.source["kind"] == "paper" else self.source["cite"]
        return f"{self.method} ({what}{where}; reference)"

    def citation(self) -> str:
        """One Markdown line saying exactly where the number comes from."""
        s, scope = self.source, self.scope
        covers = f"{scope.dataset}, {len(scope.items)} items, {', '.join(sorted(scope.models))}"
        if s["kind"] == "paper":
            return f"- {self.label}: {s['cite']}, {self.where} ({covers})."
        return (f"- {self.label}: {s['repository']} at commit `{s['commit']}`, `{self.command}`; weights "
                f"`{s['weights']}` sha256 `{s['weights_sha256']}`; edits: {s['edits']}; {s['machine']} ({covers}; "
                f"record: {s['record']}).")


class ReferenceDataError(ValueError):
    """The reference data file is malformed."""


@cache
def load(path: Path = DATA_FILE) -> tuple[Reference, ...]:
    """Every reference row in ``path``, with its source and scope resolved."""
    data = yaml.safe_load(path.read_text())
    out = []
    for i, row in enumerate(data["rows"]):
        try:
            scope = data["scopes"][row["scope"]]
            out.append(Reference(
                table=row["table"], metric=row["metric"], method=row["method"], value=float(row["value"]),
                source=data["sources"][row["source"]],
                scope=Scope(scope["dataset"], tuple(sorted(scope["items"])), frozenset([scope["model"]])),
                command=row.get("command", ""), where=row.get("where", "")))
        except KeyError as err:
            raise ReferenceDataError(f"{path}: row {i + 1} names an unknown or missing key {err}") from None
    return tuple(out)


def matches(reference: Reference, scope: Scope) -> bool:
    """Same dataset, same item set, and a run of the reference's model."""
    return (reference.scope.dataset == scope.dataset and reference.scope.items == scope.items
            and reference.scope.models <= scope.models)


def for_table(table: str, scope: Scope) -> tuple[list[Reference], list[Reference]]:
    """(shown, withheld): the table's reference rows whose scope matches the runs', and the others."""
    rows = [r for r in load() if r.table == table]
    return [r for r in rows if matches(r, scope)], [r for r in rows if not matches(r, scope)]


def withheld_line(withheld: list[Reference], scope: Scope) -> list[str]:
    """A sentence naming the reference rows not shown and why (their scope), without their numbers."""
    if not withheld:
        return []
    groups: dict[str, list[str]] = {}
    for r in withheld:
        key = f"{r.source['cite']}{', ' + r.where if r.where else ''}"
        groups.setdefault(f"{key} ({r.scope.describe()})", []).append(r.method)
    listed = "; ".join(f"{where}: {', '.join(dict.fromkeys(methods))}" for where, methods in groups.items())
    return [f"Reference numbers not shown because their scope differs from these runs' ({scope.describe()}): "
            f"{listed}.", ""]
