"""The figures beside a table (PNG): per-object IoU as a heatmap, and a qualitative grid chosen by rule.

``iou_heatmap``: objects down, methods across, each cell coloured by IoU and printed with its value; the figure
is sized to stay at most :data:`MAX_WIDTH_PX` wide. ``qualitative_grid``: for the table's main method, its worst
and its best object by IoU; for each, the reference with its mask, the target's ground truth, then every shown
method's prediction (tinted; ground truth outlined in yellow), all on the target image with the lowest IoU of the
main method for that object (computed from the written masks). Cells keep the images' aspect ratio. The grid
needs the runs' masks; ``qualitative.json`` beside it records what it shows, so that a table rebuilt from its rows
alone keeps the grid and its caption.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from persam.data.io import DataError, read_image, read_mask  # noqa: E402
from persam.data.perseg import load_object  # noqa: E402
from persam.drawing import overlay  # noqa: E402

MAX_WIDTH_PX = 1600
DPI = 100
SAMPLE_ROOT = Path(__file__).resolve().parents[1] / "sample_data" / "perseg"
REPO_ROOT = Path(__file__).resolve().parents[2]
GRID_RECORD = "qualitative.json"  # what the grid shows, so a table rebuilt from its rows (no masks) keeps it


def iou_heatmap(iou: pd.DataFrame, path: Path, title: str) -> None:
    """``iou``: objects (index) x method labels (columns), IoU in %. Written as a PNG at most 1600 px wide."""
    n_obj, n_met = iou.shape
    label_in = 1.9  # room for the object names
    width = min(MAX_WIDTH_PX / DPI, label_in + 1.25 * n_met + 0.9)
    height = 1.6 + 0.32 * n_obj
    fig, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(iou.to_numpy(dtype=float), cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    for (r, c), value in np.ndenumerate(iou.to_numpy(dtype=float)):
        if not np.isnan(value):
            ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=9,
                    color="black" if 25 < value < 85 else "white")
    ax.set_xticks(range(n_met), [textwrap.fill(str(c), 16) for c in iou.columns], fontsize=8)
    ax.xaxis.tick_top()
    ax.set_yticks(range(n_obj), list(iou.index), fontsize=9)
    ax.set_title(title, fontsize=11, pad=8)
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02, label="IoU (%)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def dataset_root(provenance: dict) -> Path:
    """Where a run read its data: the recorded root, relative to the repository or the working folder."""
    root = (provenance.get("data") or {}).get("root")
    if not root:
        return SAMPLE_ROOT
    root = Path(root).expanduser()
    if root.is_absolute() or root.exists():
        return root
    return REPO_ROOT / root


def _iou(pred: np.ndarray, gt: np.ndarray) -> float:
    union = np.logical_or(pred, gt).sum()
    return float(np.logical_and(pred, gt).sum() / union) if union else 1.0


def choose_objects(iou: pd.Series) -> list[str]:
    """The rule for the grid: the main method's worst object, then its best (one if they coincide)."""
    ordered = iou.dropna().sort_values()
    return list(dict.fromkeys([ordered.index[0], ordered.index[-1]])) if len(ordered) else []


def qualitative_grid(runs: list[tuple[str, Path, dict]], main: int, main_iou: pd.Series, path: Path) -> list[str]:
    """``runs``: (label, run dir, provenance) per shown method, in column order; ``runs[main]`` is the method whose
    IoU per object (``main_iou``) chooses the objects and images. Writes the grid; returns the chosen objects
    (empty, and nothing written, if no masks are at hand)."""
    objects = choose_objects(main_iou)
    _, main_dir, record = runs[main]
    dataset = (record.get("config") or {}).get("dataset", {})
    ref_stems = dataset.get("ref_stems") or [dataset.get("ref_stem", "00")]  # older records: one ref_stem
    root, not_targets = dataset_root(record), dataset.get("not_targets") or ()
    rows = []
    for name in objects:
        obj = load_object(root, name, ref_stems, not_targets)
        masks = [(stem, img, gt) for stem, img, gt in obj.targets if (main_dir / "masks" / name / f"{stem}.png").is_file()]
        if not masks:
            continue
        scored = []
        for stem, image_path, gt_path in masks:
            gt = read_mask(gt_path)
            scored.append((_iou(read_mask(main_dir / "masks" / name / f"{stem}.png", gt.shape), gt), stem, image_path, gt))
        _, stem, image_path, gt = min(scored, key=lambda s: s[0])
        image = read_image(image_path)
        ref = read_image(obj.ref_image)
        panels = [overlay(ref, read_mask(obj.ref_mask, ref.shape[:2])), overlay(image, gt, gt=gt)]
        for _, run_dir, _ in runs:
            mask_path = run_dir / "masks" / name / f"{stem}.png"
            pred = read_mask(mask_path, gt.shape) if mask_path.is_file() else np.zeros_like(gt)
            panels.append(overlay(image, pred, gt=gt))
        rows.append((f"{name} / {stem}", panels))
    if not rows:
        return []
    titles = ["reference (given mask)", "ground truth", *[label for label, _, _ in runs]]
    aspects = [max(p.shape[1] / p.shape[0] for _, panels in rows for p in [panels[c]]) for c in range(len(titles))]
    cell_h = min(2.2, (MAX_WIDTH_PX / DPI - 0.6) / sum(aspects))
    fig = plt.figure(figsize=(cell_h * sum(aspects) + 0.6, (cell_h + 0.45) * len(rows) + 0.2))
    grid = fig.add_gridspec(len(rows), len(titles), width_ratios=aspects, wspace=0.04, hspace=0.12)
    for r, (name, panels) in enumerate(rows):
        for c, panel in enumerate(panels):
            ax = fig.add_subplot(grid[r, c])
            h, w = panel.shape[:2]
            small = cv2.resize(panel, (max(1, round(w * 400 / h)), 400), interpolation=cv2.INTER_AREA)
            ax.imshow(small)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(textwrap.fill(titles[c], 28) if r == 0 else "", fontsize=8)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.subplots_adjust(left=0.03, right=0.99, top=0.9 if len(rows) > 1 else 0.82, bottom=0.02)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return [name for name, _ in rows]


def write_figures(runs, rows: pd.DataFrame, out: Path, title: str, main: str, shown: list[str]) -> list[str]:
    """The heatmap of ``rows``' per-object IoU and the grid of the methods ``shown`` (``main`` chooses the
    objects); Markdown lines that show them. ``runs``: the table's :class:`~persam.tables.runs.Runs`."""
    iou = rows[rows["metric"] == "iou"].pivot_table(index="item", columns="label", values="value", sort=False)
    if iou.empty:
        return []
    order = list(dict.fromkeys(rows.loc[rows["metric"] == "iou", "label"]))
    iou_heatmap(iou[order], out / "iou_per_object.png", f"{title}: IoU per object (%)")
    lines = ["![IoU per object](iou_per_object.png)", ""]
    by_method = {}
    for name in dict.fromkeys(rows["run"]):  # the runs behind these rows, whose masks are at hand
        method = rows.loc[rows["run"] == name, "method"].iloc[0]
        if name in runs.dirs and (runs.dirs[name] / "masks").is_dir() and method in shown and method not in by_method:
            by_method[method] = (rows.loc[rows["method"] == method, "label"].iloc[0], runs.dirs[name],
                                 runs.provenances[name])
    methods = [m for m in shown if m in by_method]
    if main not in methods:  # no masks at hand (a table rebuilt from its rows): keep the grid drawn with the runs
        return lines + _kept_grid(out)
    main_iou = rows[(rows["method"] == main) & (rows["metric"] == "iou")].set_index("item")["value"]
    try:
        chosen = qualitative_grid([by_method[m] for m in methods], methods.index(main), main_iou,
                                  out / "qualitative.png")
    except DataError as err:  # the images are not where the run read them (another machine): no grid
        return [*lines, f"Qualitative grid not drawn: {err}.", ""]
    if not chosen:
        return lines
    (out / GRID_RECORD).write_text(json.dumps({"main": by_method[main][0], "chosen": chosen}, indent=2) + "\n")
    return lines + _kept_grid(out)


def _kept_grid(out: Path) -> list[str]:
    """The lines that show ``qualitative.png``, from the record written beside it when it was drawn."""
    if not (out / "qualitative.png").is_file() or not (out / GRID_RECORD).is_file():
        return []
    record = json.loads((out / GRID_RECORD).read_text())
    main = record["main"]
    return ["![Qualitative results](qualitative.png)", "",
            f"Qualitative grid: the worst and the best object of {main} by IoU ({', '.join(record['chosen'])}), each on "
            f"the target where {main}'s IoU is lowest; predictions tinted blue, ground truth outlined in yellow.", ""]
