"""What ``persam compare`` does (see :mod:`persam.compare`): compose the variant's config, check it against the
baselines, run it on every benchmark set, then print and write its verdicts and forest plot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from persam.compare.baselines import BenchmarkSet, benchmark_sets
from persam.compare.report import printed, verdict_table
from persam.compare.variant_runs import check_data, run_variant
from persam.config import compose
from persam.data.io import DataError
from persam.methods.builder import MethodConfigError
from persam.metrics.paired_test import MARGIN
from persam.tables.forest import forest_plot
from persam.tables.roles import role_of

RESULTS = Path("results/table1")  # Table 1's committed rows, one folder per benchmark set
OUT = Path("outputs/compare")  # <OUT>/<method name> unless --out


@dataclass
class Outcome:
    """What a comparison wrote: the verdict rows, and the folder holding runs/, verdicts.csv, README.md, forest.png."""

    verdicts: pd.DataFrame
    out: Path


def variant_method(overrides: list[str]) -> tuple[str, str]:
    """The variant's method name and label, composed as ``python -m persam.run`` composes it."""
    if not any(o.split("=")[0].lstrip("+") == "method" for o in overrides):
        raise MethodConfigError("compare needs method=NAME (a persam/conf/method/<NAME>.yaml, or one in a "
                                "folder given by hydra.searchpath=[file://DIR] with DIR/method/<NAME>.yaml)")
    try:
        method = compose(overrides).method
    except (HydraException, OmegaConfBaseException) as err:
        raise MethodConfigError(f"{' '.join(overrides)}: {err}".splitlines()[0]) from None
    return str(method.name), str(method.label)


def check_distinct(name: str, label: str, sets: list[BenchmarkSet]) -> None:
    """A variant named or labelled as a baseline would be paired with itself: refuse it, naming the clash."""
    for benchmark in sets:
        for column, value in (("method", name), ("label", label)):
            if value in set(benchmark.rows[column]):
                raise MethodConfigError(f"the variant's {'name' if column == 'method' else column} {value!r} is a "
                                        f"baseline's in {benchmark.folder}/results.csv: give the variant its own "
                                        f"name and label")


def compare_variant(overrides: list[str], results: Path = RESULTS, datasets: list[str] | None = None,
                    out: Path | None = None, margin: float = MARGIN) -> Outcome:
    """Run the variant of ``overrides`` on the sets of ``results`` and compare it with every baseline there, the
    equivalence margin ``margin`` points."""
    name, label = variant_method(overrides)
    sets = benchmark_sets(results, datasets)
    check_distinct(name, label, sets)
    for benchmark in sets:
        check_data(benchmark)
        try:
            role_of(benchmark.name)
        except ValueError as err:  # a dataset without a role has no place in the verdicts
            raise DataError(str(err)) from None
    out = out or OUT / name
    # Under each protocol the set's baselines ran (reference 00, the rotation), so every baseline is compared.
    variant = [run_variant(b, [f"dataset.references={p}", *overrides],
                           out / "runs" / (b.name if p == "fixed" else f"{b.name}-{p}"))
               for b in sets for p in b.protocols]
    rows = pd.concat([*(b.rows for b in sets), *variant], ignore_index=True)
    table = verdict_table(rows, name, margin=margin)
    if table.empty:
        raise DataError(f"{results}: no baseline ran an object the variant ran (its rows: {out / 'runs'})")
    out.mkdir(parents=True, exist_ok=True)
    table.drop(columns=["comparison"]).to_csv(out / "verdicts.csv", index=False)  # its Comparison objects are no CSV
    text = printed(table, label)
    (out / "README.md").write_text(f"# {label}: paired verdicts\n\n{text}\n![forest plot](forest.png)\n")
    forest_plot(table, out / "forest.png", f"{label} against every committed baseline ({results})", margin)
    print(f"\n{text}\nwritten: {out}/ (verdicts.csv, README.md, forest.png; the runs in runs/)")
    return Outcome(table, out)
