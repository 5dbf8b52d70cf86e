"""Figures made by the table commands: per-object IoU bars and a qualitative grid (PNG)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from persam.data.io import read_image, read_mask  # noqa: E402
from persam.data.perseg import load_object  # noqa: E402
from persam.experiments.overlays import overlay  # noqa: E402

MAX_OBJECTS = 4
THUMB = 320


def iou_bar_chart(rows: pd.DataFrame, path: Path, title: str) -> None:
    """Grouped bars: one group per object, one bar per method (IoU, %)."""
    iou = rows[rows.metric == "iou"].pivot_table(index="item", columns="label", values="value", sort=False)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(iou.index) * max(1, len(iou.columns)) / 2), 4))
    width = 0.8 / max(1, len(iou.columns))
    x = np.arange(len(iou.index))
    for i, label in enumerate(iou.columns):
        ax.bar(x + i * width - 0.4 + width / 2, iou[label].values, width, label=label)
    ax.set_xticks(x, iou.index, rotation=45, ha="right")
    ax.set_ylabel("IoU (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _thumb(picture: np.ndarray) -> np.ndarray:
    h, w = picture.shape[:2]
    scale = THUMB / max(h, w)
    small = cv2.resize(picture, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    canvas = np.full((THUMB, THUMB, 3), 255, dtype=np.uint8)
    canvas[: small.shape[0], : small.shape[1]] = small
    return canvas


def qualitative_grid(runs: list[Path], path: Path) -> None:
    """One row per object (at most 4): the reference with its mask, then each run's prediction on the first
    target (prediction tinted, ground truth outlined in yellow)."""
    records = [json.loads((run / "provenance.json").read_text()) for run in runs]
    config = records[0]["config"]["dataset"]
    root = Path(records[0]["data"]["root"])
    objects = records[0]["data"]["items"][:MAX_OBJECTS]
    labels = ["reference"] + [r["config"]["method"]["label"] for r in records]
    fig, axes = plt.subplots(len(objects), len(labels), figsize=(2.2 * len(labels), 2.2 * len(objects)), squeeze=False)
    for row, name in enumerate(objects):
        obj = load_object(root, name, config["ref_stem"])
        ref = read_image(obj.ref_image)
        panels = [overlay(ref, read_mask(obj.ref_mask, ref.shape[:2]))]
        stem, image_path, gt_path = obj.targets[0]
        image = read_image(image_path)
        gt = read_mask(gt_path, image.shape[:2])
        for run in runs:
            mask_path = run / "masks" / name / f"{stem}.png"
            pred = read_mask(mask_path, image.shape[:2]) if mask_path.is_file() else np.zeros_like(gt)
            panels.append(overlay(image, pred, gt=gt))
        for col, panel in enumerate(panels):
            ax = axes[row][col]
            ax.imshow(_thumb(panel))
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(labels[col], fontsize=7)
            if col == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
