"""The Markdown every generated table shares: the table with its intervals, verdicts, data and provenance.

Nothing here states a result that is not computed from the table or the runs' records at the moment of
writing: a claim ("better", "worse") comes from a paired verdict (:mod:`persam.tables.verdicts`), never from two
means; a commit is read from provenance. Accuracy tables print no timings (speed is ``make bench``'s).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from persam.metrics import paired_test
from persam.metrics.bootstrap import RESAMPLES, SEED
from persam.tables import verdicts
from persam.tables.roles import role_of
from persam.tables.runs import Runs

REPO_ROOT = Path(__file__).resolve().parents[2]
COVERAGE = " coverage"  # a column's "<column> coverage": how many of the header's objects a row covers, in words


# A cell that is a number, or a number with its interval (``77.97 [71.2, 84.1]``, ``+2.87 [+0.35, +5.98]``).
NUMBER = r"[+-]?\d+(?:\.\d+)?"
NUMERIC_CELL = re.compile(rf"{NUMBER}(?: \[{NUMBER}, {NUMBER}\])?")
DECIMAL = re.compile(r"[+-]?\d+\.\d+")


def one_decimal(cell: object) -> object:
    """A numeric cell with every decimal number rounded to one decimal (``94.993`` -> ``95.0``, signs kept);
    integers and text as they are. The CSVs keep full precision; one decimal is what a reader compares."""
    if isinstance(cell, bool) or cell is None:
        return cell
    if isinstance(cell, float):
        return f"{cell:.1f}"
    text = str(cell)
    if not NUMERIC_CELL.fullmatch(text):
        return cell

    def rounded(match: re.Match) -> str:
        token = match.group(0)
        value = f"{float(token):+.1f}" if token.startswith("+") else f"{float(token):.1f}"
        return "0.0" if value == "-0.0" else value

    return DECIMAL.sub(rounded, text)


def _with_interval(value, low, high) -> object:
    if pd.isna(value) or pd.isna(low) or pd.isna(high):
        return value
    return f"{value} [{float(low):.1f}, {float(high):.1f}]"


def markdown(table: pd.DataFrame, drop: tuple[str, ...] = ("key", "kind")) -> str:
    """A DataFrame as a Markdown table, without the bookkeeping columns ``drop``; missing values are blank. A
    column ``C`` with ``C ci_low`` and ``C ci_high`` beside it prints as one cell, ``78.0 [71.2, 84.1]``, with
    ``C coverage`` (where set) after it: ``83.9 [80.1, 87.2] (16 of 36 objects)``; every number is shown to one
    decimal (:func:`one_decimal`)."""
    shown = table.drop(columns=[c for c in drop if c in table.columns]).astype(object)
    for column in list(shown.columns):
        low, high = f"{column}{verdicts.LOW}", f"{column}{verdicts.HIGH}"
        if low in shown.columns and high in shown.columns:
            shown[column] = [_with_interval(*cells) for cells in zip(shown[column], shown[low], shown[high], strict=True)]
            shown = shown.drop(columns=[low, high])
    for column in [c for c in shown.columns if c + COVERAGE in shown.columns]:
        shown[column] = [v if pd.isna(words) or pd.isna(v) else f"{one_decimal(v)} ({words})"
                         for v, words in zip(shown[column], shown[column + COVERAGE], strict=True)]
        shown = shown.drop(columns=[column + COVERAGE])
    shown = shown.where(shown.notna(), "")
    header = "| " + " | ".join(map(str, shown.columns)) + " |\n|" + "---|" * len(shown.columns) + "\n"
    body = "".join("| " + " | ".join(str(one_decimal(v)) for v in row) + " |\n"
                   for row in shown.itertuples(index=False))
    return header + body


def interval_note(unit: str = "object") -> str:
    """What the bracketed intervals in a table are."""
    return (f"Brackets: the 95% interval of the mean by bootstrap over {unit}s ({RESAMPLES:,} resamples, seed {SEED}, "
            "percentile); the CSV has them as `<column> ci_low` / `<column> ci_high`.")


def shown_root(data: dict) -> str:
    """`` at `ROOT` `` for a recorded data root, relative to the repository when it lies inside it; else ''."""
    root = data.get("root")
    if not root:
        return ""
    path = Path(root)
    if path.is_absolute() and path.is_relative_to(REPO_ROOT):
        path = path.relative_to(REPO_ROOT)
    return f" at `{path}`"


def dataset_line(runs: Runs, unit: str = "items") -> str:
    """The data the runs covered: dataset, where it was read (as recorded), subset and items."""
    first = next(iter(runs.provenances.values()), {})
    data = first.get("data", {})
    items = sorted({i for p in runs.provenances.values() for i in p.get("data", {}).get("items", [])})
    count = data.get("target_images", data.get("frames"))
    counted = f"; {count} target images or frames per run, references excluded" if count is not None else ""
    name = runs.rows["dataset"].iloc[0]
    return (f"Dataset: {data.get('dataset', name)} ({role_of(name)} set){shown_root(data)}, subset: "
            f"{data.get('subset', runs.rows['subset'].iloc[0])} ({len(items)} {unit}: {', '.join(items)}{counted}).")


def _commit(record: dict) -> str:
    git = record.get("git") or {}
    text = str(git.get("commit"))
    if git.get("dirty"):
        diff = next((str(v) for k, v in git.items() if "diff" in k and v), "")
        text += f" (dirty{', diff ' + diff[:16] if diff else ''})"
    return text


def distinct_images(provenance: dict) -> int:
    """Images a run reads: as recorded (``images``), else one reference per item and the target images (image
    task), or every frame (video)."""
    if "images" in provenance:
        return provenance["images"]
    data = provenance["data"]
    if "target_images" in data:
        return len(data["items"]) + data["target_images"]
    return len(data["items"]) + data.get("frames", 0)  # frame 0 of each sequence, then the tracked frames


def provenance_section(runs: Runs, unit: str = "row") -> list[str]:
    """The ``## Provenance`` lines: command, the commit of every run, model, dates, machine, encoder calls."""
    records = runs.provenances
    first = next(iter(records.values()))
    by_commit: dict[str, list[str]] = {}
    for name, record in records.items():
        by_commit.setdefault(_commit(record), []).append(name)
    commits = "; ".join(f"`{c}` ({'all ' + str(len(names)) + ' runs' if len(by_commit) == 1 else ', '.join(names)})"
                        for c, names in by_commit.items())
    misses = sum(p.get("embedding_cache", {}).get("misses", 0) for p in records.values())
    calls = sum(p.get("embedding_cache", {}).get("encoder_calls", 0) for p in records.values())
    dates = sorted(str(p.get("date")) for p in records.values())
    manifests = {json.dumps((p.get("data") or {}).get("manifest"), sort_keys=True) for p in records.values()}
    manifest = json.loads(manifests.pop()) if len(manifests) == 1 else None
    model = first["model"]
    commands = list(dict.fromkeys(str(p.get("command")) for p in records.values()))
    lines = [
        "## Provenance",
        "",
        f"- command{'s' if len(commands) > 1 else ''}: {'; '.join(f'`{c}`' for c in commands)} (one run per {unit}; "
        "per-run records in `provenance/`)",
        f"- git commit: {commits}",
        f"- model: {model['name']} (`{Path(str(model['checkpoint'])).name}`, sha256 {str(model['sha256'])[:12]}...)",
        f"- date: {dates[0]}" + (f" to {dates[-1]}" if dates[-1] != dates[0] else ""),
        f"- machine: {first['machine']['host_cpu']}, {first['machine']['cpu_count']} CPUs, device "
        f"{first.get('device')}; torch {first.get('torch')}",
        f"- image encoder: {calls} encoder calls and {misses} cache misses over the {len(records)} runs; "
        f"the data holds {distinct_images(first)} distinct images "
        f"({'references and targets' if 'target_images' in first['data'] else 'frames'})",
    ]
    if isinstance(manifest, dict):  # the files the runs read: one hash over their paths and contents
        lines.append(f"- data manifest: {manifest.get('files')} files, sha256 `{manifest.get('sha256')}` (the same "
                     "for every run)")
    return [*lines, ""]


def reference_section(shown: list, withheld_lines: list[str]) -> list[str]:
    """The ``## Reference rows`` section: where each shown reference number comes from, and what was withheld."""
    if not shown and not withheld_lines:
        return []
    return ["## Reference rows", "", *[r.citation() for r in shown], *([""] if shown else []), *withheld_lines]


def interval_cell(r) -> str:
    """A judged comparison's difference with its interval at the level Holm decided it at (or: no test)."""
    if r.verdict == paired_test.TOO_FEW:
        return f"{r.difference:+.1f} (no test)"
    low = "-inf" if pd.isna(r.ci_low) else f"{r.ci_low:+.1f}"
    high = "+inf" if pd.isna(r.ci_high) else f"{r.ci_high:+.1f}"
    confidence = 100 * (1 - r.level)  # Holm's level for this row; one decimal, as every Markdown cell
    shown = f"{confidence:.1f}%" if confidence < 99.95 else ">99.9%"
    return f"{r.difference:+.1f} [{low}, {high}] at {shown}"


def test_note(unit: str = "object", margin: float = paired_test.MARGIN) -> str:
    """What a verdict is: the test, the correction, the margin and the outcomes."""
    return (f"The test: a paired sign-flip test on the per-{unit} differences (exact over every sign pattern up to "
            f"{paired_test.EXACT_UP_TO} {unit}s, else {paired_test.FLIPS:,} patterns, seed {paired_test.SEED}); the "
            "interval is every shift the test does not reject, at the level Holm's correction decides the row at "
            f"(familywise 5% within the section). Verdicts: better / worse when the interval excludes 0; equivalent "
            f"when it lies within +-{margin:g} points (the margin; both one-sided tests reject); else undecided, which "
            f"is not \"no difference\". Fewer than {paired_test.MIN_OBJECTS} {unit}s: no verdict (their {unit}s still "
            f"count in a pooled comparison). Wins / ties / losses: a difference under {paired_test.TIE} points is a tie.")


def verdict_section(comparisons: pd.DataFrame, baseline: str, unit: str = "object", heading: str = "") -> list[str]:
    """The Markdown section of Holm-corrected paired verdicts against ``baseline`` (one family): the claims line,
    then the table."""
    if comparisons.empty:
        return []
    shown = verdicts.varying(comparisons)
    table = comparisons.assign(
        **{"difference [interval] at level": [interval_cell(r) for r in comparisons.itertuples()],
           "wins / ties / losses": [f"{r.wins} / {r.ties} / {r.losses}" for r in comparisons.itertuples()]})
    columns = ["method", *shown, f"{unit}s", "difference [interval] at level", "wins / ties / losses", "verdict"]
    table = table.rename(columns={"objects": f"{unit}s"})[columns]
    return [f"## {heading or f'Paired verdicts against {baseline}'}", "",
            f"Per {unit}, method minus {baseline} (points), on the {unit}s both ran: the mean difference with its "
            f"interval, wins / ties / losses, and the verdict, Holm-corrected within this section. "
            f"{test_note(unit, float(comparisons['margin'].iloc[0]))}", "",
            verdicts.claims(comparisons, baseline), "", markdown(table, drop=()), ""]


def verdicts_against(rows: pd.DataFrame, metric: str, preferred: str, unit: str = "object") -> list[str]:
    """The verdict section of every variant in ``rows`` against the table's baseline (``preferred`` where run)."""
    baseline = verdicts.baseline_of(rows, preferred)
    comparisons = verdicts.compare(rows, metric, baseline)
    if comparisons.empty:
        return []
    return verdict_section(comparisons, comparisons["baseline"].iloc[0], unit)
