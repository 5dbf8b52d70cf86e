"""The README's results section, generated from the committed tables under ``results/`` (never typed by hand).

    python -m persam.results_summary [--results results] [--readme README.md] [--figure docs/verdicts.png] [--check]

Rewrites the block between ``<!-- results:begin -->`` and ``<!-- results:end -->`` in the README with the finding:
the default methods as the paired verdicts choose them (:func:`persam.tables.default.summary`), one picture (the
paired verdicts against PerSAM as a forest plot, written to ``--figure``), Table 1's pooled column and Table 2, each
mean with its interval, why Table 2 differs from the original code and the paper (its numbers read from the
reference rows), and a link to every other table. ``--check`` only compares the block and exits 1 when the README
is out of date (or the figure is missing).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd

from persam.tables import MODULES, default, references, verdicts
from persam.tables.forest import forest_plot
from persam.tables.pooled import PROTOCOL_NAMES
from persam.tables.text import COVERAGE, markdown

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
FIGURE = Path("docs/verdicts.png")
GLOSSARY = "docs/glossary.md"
# The comparisons the picture shows: (table, per-object metric, what an object is there).
FOREST = (("table1", "iou", "object"), ("table2", "J&F", "sequence"))
BASELINE = "persam"  # the paper's training-free method: every other method is drawn against it


def table_rows(results: Path, table: str) -> pd.DataFrame:
    """Every per-item row of one table (``results/<table>/[<dataset>/]results.csv``), datasets together."""
    files = sorted((results / table).glob("*/results.csv")) or sorted((results / table).glob("results.csv"))
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True) if files else pd.DataFrame()


def pooled_verdicts(results: Path, table: str, metric: str) -> pd.DataFrame:
    """Each method against PerSAM on the table's objects, pooled over its datasets (the paired sign-flip test,
    Holm-corrected within the table: :func:`persam.tables.verdicts.compare`)."""
    rows = table_rows(results, table)
    if rows.empty:
        return rows
    pooled = rows["dataset"].nunique() > 1
    return verdicts.compare(rows, metric, verdicts.baseline_of(rows, BASELINE), pooled=pooled)


def write_forest(results: Path, path: Path) -> Path | None:
    """The paired verdicts against PerSAM (Table 1 pooled over its objects, per reference protocol; Table 2 over its
    sequences) as one forest plot (:func:`persam.tables.forest.forest_plot`), each table's rows one family."""
    panels = [(table, pooled_verdicts(results, table, metric)) for table, metric, _ in FOREST]
    found = pd.concat([f.assign(table=t) for t, f in panels if not f.empty], ignore_index=True)
    if found.empty:
        return None
    protocol = found["protocol"].map(PROTOCOL_NAMES) if "protocol" in found else ""
    names = [f"{MODULES[t].TITLE.split(':')[0]} | {m}" + (f" | {p}" if t == "table1" else "")
             for t, m, p in zip(found["table"], found["method"], protocol, strict=True)]
    return forest_plot(found, path, f"Each method minus {found['baseline'].iloc[0]}, per object (Table 1 pooled) "
                       "or sequence (Table 2); Holm-corrected within each table", names=names,
                       xlabel="method minus PerSAM")


def table1_block(results: Path) -> str:
    """Table 1's pooled columns (every object of its datasets; one per reference protocol), measured rows, each mean
    with its interval; a cell over fewer objects says how many."""
    frame = pd.read_csv(results / "table1" / "pooled.csv")
    frame = frame[frame["kind"] != "reference"]
    pooled = [c for c in frame.columns if c.startswith("pooled (") and not c.endswith((verdicts.LOW, verdicts.HIGH))
              and not c.endswith(COVERAGE)]
    datasets = list(dict.fromkeys(c.split(" (")[0] for c in frame.columns if " (" in c and not c.startswith("pooled (")))
    keep = ["method", *[c + suffix for c in pooled for suffix in ("", verdicts.LOW, verdicts.HIGH, COVERAGE)
                         if c + suffix in frame.columns]]
    names = {c: f"mIoU, {c.removeprefix('pooled (').removesuffix(')')} objects" for c in pooled}
    shown = frame[keep].rename(columns=lambda c: next((c.replace(p, n) for p, n in names.items()
                                                       if c.startswith(p)), c))
    first = names[pooled[0]]
    methods = shown[~frame["key"].str.startswith("baseline_")].sort_values(first, ascending=False)
    shown = pd.concat([methods, shown[frame["key"].str.startswith("baseline_")]])  # baselines and oracle last
    return (f"**{MODULES['table1'].TITLE}**, pooled over every object of {', '.join(datasets)}; *ref 00* is the "
            "paper's protocol (one reference per object), *rotation* takes each annotated image in turn as the "
            "reference and averages the object's episodes ([glossary](docs/glossary.md)); per dataset, with the "
            "paired verdicts: [table1](results/table1/README.md)\n\n" + markdown(shown).rstrip())


def table2_facts(results: Path) -> dict:
    """Sequences, objects, models and subset of the Table 2 runs, from their provenance records."""
    record = json.loads(next(iter(sorted((results / "table2" / "provenance").glob("*.json")))).read_text())
    return {"sequences": len(record["data"]["items"]), "objects": (record.get("video") or {}).get("objects"),
            "subset": record["data"]["subset"], "model": record["model"]["name"]}


def table2_block(results: Path) -> str:
    """Table 2's J&F with intervals (and the original code's measured rows), and two sentences on why it differs
    from the original code and from the paper, every number read from the reference rows."""
    frame = pd.read_csv(results / "table2" / "table2.csv")
    shown = frame[["method", "J&F", "J&F" + verdicts.LOW, "J&F" + verdicts.HIGH]]
    facts = table2_facts(results)
    refs = [r for r in references.load() if r.table == "table2"]
    paper = [r for r in refs if r.source["kind"] == "paper"]
    original = [r for r in refs if r.source["kind"] != "paper"]
    values = lambda found: ", ".join(f"{r.method} {r.value:.1f}" for r in found)  # noqa: E731
    objects = "single-object " if facts["objects"] == facts["sequences"] else ""
    why = ""
    if paper and original:
        scope = paper[0].scope
        why = (f"\n\nThese are the {facts['sequences']} {objects}sequences of DAVIS 2017 val available here, tracked "
               f"with `{facts['model']}` (MobileSAM); the paper's numbers ({values(paper)}) are "
               f"{', '.join(sorted(scope.models))} on all {len(scope.items)} val sequences, several of them with "
               f"several objects, so they are not comparable. The original code run on the same sequences and "
               f"weights ({values(original)}, the *original code* rows) is the faithfulness check; what differs "
               "from it is the video procedure, on purpose ([methods.md](docs/methods.md#video-object-"
               "segmentation-table-2): SAM's single-mask output instead of an arbitrary one of three, the first "
               "mask's box given to refinement, a lost object keeping its last box).")
    return (f"**{MODULES['table2'].TITLE}** ({facts['subset']}; per sequence and verdicts: "
            f"[table2](results/table2/README.md))\n\n{markdown(shown).rstrip()}{why}")


def other_tables(results: Path) -> str:
    """One link to every table under ``results/`` (per dataset where a table has no pooled README)."""
    links = []
    for name, module in MODULES.items():
        folder, short = results / name, module.TITLE.split(":")[0]
        if (folder / "README.md").is_file():
            links.append(f"[{short}](results/{name}/README.md)")
        else:
            parts = [f"[{d.name}](results/{name}/{d.name}/README.md)" for d in sorted(folder.glob("*/"))
                     if (d / "README.md").is_file()]
            links += [f"{short} ({', '.join(parts)})"] if parts else []
    return "Every table, with per-object values, paired verdicts and provenance: " + "; ".join(links) + "."


def summary(results: Path, figure: Path = FIGURE) -> str:
    """The README's results block (Markdown) for the tables under ``results``; ``figure``: the picture's path
    relative to the README."""
    blocks = []
    chosen = default.summary(results)
    if chosen:
        blocks.append(chosen)
    if any(not pooled_verdicts(results, t, m).empty for t, m, _ in FOREST):
        blocks.append(f"![paired verdicts against PerSAM: Table 1 pooled over its objects, Table 2 over its "
                      f"sequences]({figure.as_posix()})")
    if (results / "table1" / "pooled.csv").is_file():
        blocks.append(table1_block(results))
    if (results / "table2" / "table2.csv").is_file():
        blocks.append(table2_block(results))
    blocks.append(f"Numbers are rounded to one decimal here (the CSVs keep full precision); brackets are 95% "
                  f"bootstrap intervals over objects; the words in row labels: [glossary]({GLOSSARY}). "
                  + other_tables(results))
    return "\n\n".join(blocks) + "\n"


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
    parser.add_argument("--figure", type=Path, default=None,
                        help=f"the forest plot's path (default: {FIGURE} beside the README)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the README's block is out of date")
    args = parser.parse_args(argv)
    figure = args.figure or args.readme.parent / FIGURE
    text = args.readme.read_text()
    new = rewrite(text, summary(args.results, Path(os.path.relpath(figure, args.readme.parent))))
    if args.check:
        stale = [f"{args.readme}: the results block is out of date"] if new != text else []
        stale += [f"{figure}: missing"] if not figure.is_file() else []
        for line in stale:
            print(f"{line}; run python -m persam.results_summary", file=sys.stderr)
        return 1 if stale else 0
    written = write_forest(args.results, figure)
    args.readme.write_text(new)
    print(f"{args.readme}: results block regenerated from {args.results}/" + (f"; {written}" if written else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
