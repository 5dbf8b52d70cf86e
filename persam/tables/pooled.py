"""An image table over all its datasets: each dataset's mIoU and the pooled mIoU over every object, with intervals
and the paired verdicts on the pooled objects (the table's headline).

    python -m persam.tables pooled table1 results/table1/perseg results/table1/davis_perseg \
        results/table1/davis16_perseg --out results/table1

Each source is a table folder of one dataset (as ``python -m persam.tables TABLE`` writes it). The pooled mean
is over objects, not datasets: a dataset of 20 objects weighs 20 / 36. A table whose module names ``POOLED_BY``
(Table 4: ``corruption``) gets one pooled column per value of it instead of one per dataset. Writes
``pooled.csv`` and ``README.md`` into ``--out``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from persam.tables import verdicts
from persam.tables.roles import role_of
from persam.tables.runs import kind, load_runs
from persam.tables.text import COVERAGE, interval_note, markdown, verdict_section

PROTOCOL_NAMES = {"fixed": "ref 00", "rotate": "rotation"}  # how a column header names a reference protocol


def _source_rows(dirs: list[Path]) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Every dataset's rows, and each dataset's folder."""
    frames, where = [], {}
    for folder in dirs:
        rows = load_runs([folder]).rows
        for dataset in dict.fromkeys(rows["dataset"]):
            if dataset in where:
                raise ValueError(f"{folder}: dataset {dataset} is also in {where[dataset]}; give each dataset once")
            where[dataset] = folder
        frames.append(rows)
    return pd.concat(frames, ignore_index=True), where


def _column(row: dict, column: str, values: pd.Series, objects: int, total: int) -> None:
    """``column``'s mean with its interval, and where the row covers fewer objects than the header counts, the
    words ``16 of 36 objects`` in ``<column> coverage`` (printed in the cell), so no pooled mean mixes counts
    silently."""
    row.update(verdicts.with_interval(column, values))
    if 0 < objects < total:
        row[f"{column}{COVERAGE}"] = f"{objects} of {total} objects"


def _header(protocols: list[str], protocol: str, *parts: str) -> str:
    """A column header's bracket: the protocol's name where the rows hold several (``ref 00``, ``rotation``)."""
    named = [PROTOCOL_NAMES.get(protocol, protocol)] if len(protocols) > 1 else []
    return f" ({', '.join([*named, *parts])})"


def build(module, rows: pd.DataFrame) -> pd.DataFrame:
    """One row per method: per dataset (or per ``module.POOLED_BY`` value) and pooled, the mean with its interval,
    for each reference protocol the rows hold (the rotation's column beside reference 00's). A column's header
    counts the objects of its datasets; a row that ran fewer of them says so in the cell."""
    by = getattr(module, "POOLED_BY", None)
    found = verdicts.per_object(rows, module.PER_OBJECT)
    found["object"] = found["dataset"] + "/" + found["item"].astype(str)
    total = found["object"].nunique()
    sizes = found.groupby("dataset", sort=False)["item"].nunique()
    protocols = list(dict.fromkeys(found["protocol"]))
    out = []
    for (method, label, model), group in found.groupby(["method", "label", "model"], sort=False):
        row = {"method": label, "key": method, "model": model, "kind": kind(method)}
        runs = {p: group[group["protocol"] == p] for p in protocols}
        if by is None:
            for dataset, size in sizes.items():
                for protocol, these in runs.items():
                    these = these[these["dataset"] == dataset]
                    _column(row, f"{dataset}{_header(protocols, protocol, str(size), role_of(dataset))}",
                            these["value"], these["object"].nunique(), size)
            for protocol, these in runs.items():
                if not these.empty:
                    _column(row, f"pooled{_header(protocols, protocol, str(total))}", these["value"],
                            these["object"].nunique(), total)
        else:
            for value in dict.fromkeys(found[by]):
                for protocol, these in runs.items():
                    these = these[these[by] == value]
                    _column(row, f"{value}{_header(protocols, protocol, 'pooled', str(total))}", these["value"],
                            these["object"].nunique(), total)
        out.append(row)
    table = pd.DataFrame(out).dropna(axis=1, how="all")
    arrange = getattr(module, "pooled_rows", None)  # Table 3: its ladder's order and gains, on the pooled objects
    return arrange(table, found) if arrange else table


def interval_widths(module, rows: pd.DataFrame, baseline: str) -> list[str]:
    """Where the rows hold several reference protocols: for each dataset and pooled, the median width of the
    paired intervals (each method minus ``baseline``, on the objects both ran) under each protocol, so the gain
    in precision of the rotation over one reference reads off one line."""
    protocols = list(dict.fromkeys(rows["protocol"]))
    if len(protocols) < 2:
        return []
    datasets = list(dict.fromkeys(rows["dataset"]))
    header = [PROTOCOL_NAMES.get(p, p) for p in protocols]
    lines = ["| set | " + " | ".join(header) + " |", "|---|" + "---|" * len(header)]
    for name, pool in [*((d, False) for d in datasets), ("pooled", True)]:
        these = rows if pool else rows[rows["dataset"] == name]
        # Unadjusted 95% intervals (judged=False): a Holm level differs per row and would confound the widths.
        found = verdicts.compare(these, module.PER_OBJECT, baseline, pooled=pool, judged=False)
        # The same methods under every protocol, so the widths differ by the protocol alone.
        both = set.intersection(*(set(found.loc[found["protocol"] == p, "key"]) for p in protocols)) \
            if not found.empty else set()
        cells = []
        for protocol in protocols:
            here = found[(found["protocol"] == protocol) & found["key"].isin(both)] if both else found.iloc[0:0]
            widths = [high - low for low, high in (c.interval() for c in here["comparison"])]
            width = float(pd.Series(widths, dtype=float).replace([float("inf")], float("nan")).median())
            named = f"{len(here)} method{'s' if len(here) != 1 else ''}"
            cells.append(f"{width:.1f} ({named})" if pd.notna(width) else f"no test ({named})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return ["## Paired-interval width: one reference against the rotation", "",
            f"The median width (points) of the unadjusted paired 95% intervals of every method minus {baseline} "
            "that ran both protocols, on the same objects, per protocol (no test: too few objects to bound one): "
            "reference 00 alone, or each annotated image in turn the reference (the object's score the mean over "
            "its episodes). A narrower interval tells smaller differences apart.", "",
            *lines, ""]


def write(module, dirs: list[Path], out: Path) -> pd.DataFrame:
    rows, where = _source_rows([Path(d) for d in dirs])
    table = build(module, rows)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "pooled.csv", index=False)
    objects = verdicts.per_object(rows, module.PER_OBJECT)
    counts = objects.groupby("dataset")["item"].nunique()
    total = int(counts.sum())
    baseline = verdicts.baseline_of(rows, module.BASELINE)
    comparisons = verdicts.compare(rows, module.PER_OBJECT, baseline, pooled=True)
    subsets = rows.drop_duplicates("dataset").set_index("dataset")["subset"]
    links = [f"- [{d}]({Path(f).name}/README.md): {subsets[d]}; {int(counts.get(d, 0))} objects; {role_of(d)} set"
             for d, f in where.items()]
    lines = [
        f"# {module.TITLE}: pooled over {total} objects of {len(where)} datasets",
        "",
        *links,
        "",
        markdown(table),
        f"Each column: the mean over its objects (the count in the header, with the set's role: development sets are "
        "where methods were developed, held-out sets decided nothing); a row that ran fewer of them says how many in "
        f"its cell. {interval_note()} The pooled column weighs every object once, whichever dataset holds "
        "it. Per-object values, figures, reference rows and provenance: in each dataset's folder.",
        "",
        *(verdict_section(comparisons, comparisons["baseline"].iloc[0], heading=f"Paired verdicts against "
                          f"{comparisons['baseline'].iloc[0]}, pooled over {total} objects")
          if not comparisons.empty else []),
        *interval_widths(module, rows, baseline),
        f"Written by `python -m persam.tables pooled {module.NAME} {' '.join(os.path.relpath(f) for f in dirs)} "
        f"--out {os.path.relpath(out)}` from the datasets' rows.",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines))
    return table
