"""The README's results section, generated from the committed tables under ``results/`` (never typed by hand).

    python -m persam.results_summary [--results results] [--readme README.md] [--check]

Rewrites the block between ``<!-- results:begin -->`` and ``<!-- results:end -->`` in the README with one
compact table per table: an image table's pooled table (``results/<table>/pooled.csv``: every dataset and the
pooled column over all their objects), else the headline columns of ``results/<table>/[<dataset>/]<table>.csv``
(datasets side by side, or one under the other for wide tables), each mean with its interval, then the default
methods as the paired verdicts choose them (:mod:`persam.tables.default`); ``--check`` only compares and exits 1
when the README is out of date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from persam.tables import MODULES, default
from persam.tables.text import markdown
from persam.tables.verdicts import HIGH, LOW

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
# table -> (title, headline columns of its CSV), from each table's own module.
TABLES = {name: (module.TITLE, module.HEADLINE) for name, module in MODULES.items()}


def table_parts(results: Path, table: str) -> list[tuple[str, Path]]:
    """(dataset, csv) of one table: ``results/<table>/<table>.csv`` or one per dataset sub-folder."""
    single = results / table / f"{table}.csv"
    if single.is_file():
        return [("", single)]
    found = [(csv.parent.name, csv) for csv in (results / table).glob(f"*/{table}.csv")]
    return sorted(found, key=lambda part: (part[0] != "perseg", part[0]))  # PerSeg first, as in the paper


def run_facts(csv: Path) -> tuple[str, set[str]]:
    """``dataset: subset`` and the models of the runs behind one table (its ``results.csv``)."""
    rows = pd.read_csv(csv.parent / "results.csv", usecols=["dataset", "subset", "model"])
    return f"{rows['dataset'].iloc[0]}: {rows['subset'].iloc[0]}", set(rows["model"])


def with_intervals(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """``columns`` that ``frame`` has, each followed by its interval columns where it has them."""
    return [name for c in columns if c in frame.columns for name in (c, c + LOW, c + HIGH) if name in frame.columns]


def dataset_column(column: str, dataset: str) -> str:
    """``mIoU (perseg)``, and ``mIoU (perseg) ci_low`` for its interval, so the two still print as one cell."""
    for suffix in (LOW, HIGH):
        if column.endswith(suffix):
            return f"{column[:-len(suffix)]} ({dataset}){suffix}"
    return f"{column} ({dataset})"


def pooled_block(results: Path, table: str, title: str) -> str:
    """An image table's pooled table (its ``pooled.csv``), measured rows only, as a README block."""
    frame = pd.read_csv(results / table / "pooled.csv")
    frame = frame[frame["kind"] != "reference"].drop(columns=["model"], errors="ignore")
    return (f"**{title}**, pooled over every dataset's objects (object counts in the headers; details and paired "
            f"verdicts: [{table}](results/{table}/README.md))\n\n{markdown(frame)}")


def summary(results: Path) -> str:
    blocks = []
    for table, (title, columns) in TABLES.items():
        if (results / table / "pooled.csv").is_file():
            blocks.append(pooled_block(results, table, title))
            continue
        parts = table_parts(results, table)
        if not parts:
            continue
        frames, order = [], []
        found = {c for _, csv in parts for c in pd.read_csv(csv, nrows=0).columns}
        wide = len(parts) > 1 and len([c for c in columns if c in found]) > 2  # datasets one under the other
        for dataset, csv in parts:
            frame = pd.read_csv(csv, dtype=str)
            shown = with_intervals(frame, columns)
            frame = frame[["method", *shown]]
            order += [m for m in frame["method"] if m not in order]
            if wide:
                frame.insert(1, "dataset", dataset)
            elif len(parts) > 1:  # narrow ones: datasets side by side
                frame = frame.rename(columns={c: dataset_column(c, dataset) for c in shown})
            frames.append(frame)
        if "dataset" in frames[0].columns:
            merged = pd.concat(frames, ignore_index=True)
        else:
            merged = frames[0]
            for frame in frames[1:]:
                merged = merged.merge(frame, on="method", how="outer")
            merged = merged.set_index("method").loc[order].reset_index()  # rows in the tables' own order
        facts = [run_facts(csv) for _, csv in parts]
        where = "; ".join(subset for subset, _ in facts)
        model_list = ", ".join(f"`{m}`" for m in sorted(set().union(*(models for _, models in facts))))
        links = ", ".join(f"[{d or table}](results/{table}/{d + '/' if d else ''}README.md)" for d, _ in parts)
        blocks.append(f"**{title}** ({where}; model {model_list}; details: {links})\n\n{markdown(merged)}")
    chosen = default.summary(results)
    return "\n".join([chosen + "\n", *blocks] if chosen else blocks)


def rewrite(readme: str, block: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise ValueError(f"the README has no {BEGIN} ... {END} block")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{block}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m persam.results_summary", description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--check", action="store_true", help="exit 1 when the README's block is out of date")
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    new = rewrite(text, summary(args.results))
    if args.check:
        if new != text:
            print(f"{args.readme}: the results block is out of date; run python -m persam.results_summary",
                  file=sys.stderr)
            return 1
        return 0
    args.readme.write_text(new)
    print(f"{args.readme}: results block regenerated from {args.results}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
