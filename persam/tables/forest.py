"""A forest plot of paired verdicts (PNG): one row per comparison (a baseline on a dataset), the mean difference
with its interval (a hollow point where there is none: too few objects, or unbounded), a line at 0 and the margin
on either side of it.

Rows come from :func:`persam.tables.verdicts.compare` (``baseline``, ``dataset``, ``difference``, ``ci_low``,
``ci_high``, ``verdict``, judged by :func:`persam.tables.verdicts.judge`); each is coloured by its verdict and
labelled with it on the right.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from persam.metrics.paired_test import BETTER, EQUIVALENT, MARGIN, WORSE  # noqa: E402

DPI = 100
COLOURS = {BETTER: "tab:green", WORSE: "tab:red", EQUIVALENT: "tab:blue"}  # undecided, too few: grey


def forest_plot(comparisons: pd.DataFrame, path: Path, title: str, margin: float = MARGIN,
                names: list[str] | None = None, xlabel: str = "variant minus baseline") -> Path:
    """Write the forest plot of ``comparisons`` to ``path``, with dashed lines at +-``margin`` (points); ``names``
    labels the rows (default: baseline | dataset, and the protocol where it varies)."""
    n = len(comparisons)
    fig, ax = plt.subplots(figsize=(9, 1.4 + 0.34 * n))
    for y, row in enumerate(comparisons.itertuples()):
        colour = COLOURS.get(row.verdict, "dimgrey")
        if pd.isna(row.ci_low) or pd.isna(row.ci_high):  # no test (too few objects) or an unbounded interval
            ax.plot(row.difference, y, "o", markerfacecolor="white", color=colour, markersize=5)
        else:
            ax.errorbar(row.difference, y, xerr=[[row.difference - row.ci_low], [row.ci_high - row.difference]],
                        fmt="o", color=colour, capsize=3, markersize=5)
        ax.annotate(row.verdict, (1.01, y), xycoords=("axes fraction", "data"), va="center", fontsize=8, color=colour)
    ax.axvline(0, color="black", linewidth=0.8)
    for x in (-margin, margin):
        ax.axvline(x, color="grey", linewidth=0.8, linestyle="--")
    protocols = comparisons["protocol"].nunique() > 1 if "protocol" in comparisons else False
    names = names or [f"{r.baseline} | {r.dataset}" + (f" | {'rotation' if r.protocol == 'rotate' else 'ref 00'}"
                                                        if protocols else "") for r in comparisons.itertuples()]
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_ylim(n - 0.5, -0.5)  # the first comparison on top
    ax.set_xlabel(f"mean difference per object, {xlabel} (points); dashed: the margin, +-{margin:g}",
                  fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path
