"""Tables generated from result files, never typed by hand.

    python -m persam.tables table1 RUN_DIR [RUN_DIR ...] --out results/table1
    python -m persam.tables merge SHARD_DIR [SHARD_DIR ...] --out MERGED_RUN_DIR

Each RUN_DIR is a run directory (with ``results.csv`` and ``provenance.json``) or a folder containing
such run directories (a Hydra multirun). The table's CSV, Markdown and provenance are written to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from functools import partial
from pathlib import Path

import pandas as pd

from persam.experiments.merge import MergeError, merge_shards
from persam.experiments.protocol_tables import write_protocol_table
from persam.experiments.reference_numbers import ORIGINAL_CODE_VIT_T, PAPER_TABLE1, PAPER_TABLE3
from persam.experiments.table2 import write_table2
from persam.experiments.table_text import markdown, provenance_section


def find_runs(paths: list[str | Path]) -> list[Path]:
    runs: list[Path] = []
    for path in map(Path, paths):
        found = [path] if (path / "results.csv").is_file() else sorted(p.parent for p in path.glob("*/results.csv"))
        if not found:
            raise FileNotFoundError(f"{path}: no results.csv here or in its sub-folders")
        runs += found
    return runs


def load_rows(runs: list[Path]) -> pd.DataFrame:
    frames = [pd.read_csv(run / "results.csv", dtype={"item": str}).assign(run=run.name) for run in runs]
    return pd.concat(frames, ignore_index=True)


def table1(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, model): per-object IoU, mIoU, mAcc, mean fit seconds, seconds per image."""
    out = []
    for (method, model), group in rows.groupby(["method", "model"], sort=False):
        per_object = group[group.metric == "iou"].set_index("item")["value"]
        summary = group[group.item == "ALL"].set_index("metric")["value"]
        fit = group[group.metric == "fit_sec"]["value"]
        out.append({
            "method": group["label"].iloc[0], "key": method, "model": model, "kind": "measured",
            **per_object.round(2).to_dict(),
            "mIoU": round(summary["miou"], 2), "mAcc": round(summary["macc"], 2),
            "fit_sec": round(fit.mean(), 3) if len(fit) else None,
            "sec_per_image": round(summary["sec_per_image"], 2),
        })
    dataset = rows["dataset"].iloc[0]
    for label, value in ORIGINAL_CODE_VIT_T.get(dataset, {}).items():
        out.append({"method": f"{label} (original code, same data; reference)", "key": "", "model": "vit_t",
                    "kind": "reference", "mIoU": value})
    for label, ref in PAPER_TABLE1.items() if dataset == "perseg" else ():
        out.append({"method": f"{label} (paper, full PerSeg; reference)", "key": "", "model": ref["model"],
                    "kind": "reference", "mIoU": ref["miou"]})
    return pd.DataFrame(out)


def save_runs(runs: list[Path], out: Path) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Copy the runs' rows (``results.csv``) and provenance records (``provenance/<run>.json``) into ``out``."""
    rows = load_rows(runs)
    out.mkdir(parents=True, exist_ok=True)
    rows.drop(columns=["run"]).to_csv(out / "results.csv", index=False)
    prov_dir = out / "provenance"
    if prov_dir.exists():
        shutil.rmtree(prov_dir)
    prov_dir.mkdir()
    provenances = {}
    for run in runs:
        shutil.copy(run / "provenance.json", prov_dir / f"{run.name}.json")
        provenances[run.name] = json.loads((run / "provenance.json").read_text())
    return rows, provenances


def dataset_line(provenance: dict) -> str:
    data = provenance["data"]
    units = data.get("target_images", data.get("frames"))
    return (f"Dataset: {data['dataset']} at `{data['root']}`, subset: {data['subset']} ({len(data['items'])} items: "
            f"{', '.join(data['items'])}; {units} target images or frames, references excluded).")


def write_table1(runs: list[Path], out: Path) -> pd.DataFrame:
    rows, provenances = save_runs(runs, out)
    table = table1(rows)
    table.to_csv(out / "table1.csv", index=False)
    figures = write_figures(rows, runs, out, "Table 1")
    lines = [
        "# Table 1: personalized segmentation (IoU per object and mIoU, %)",
        "",
        dataset_line(next(iter(provenances.values()))),
        "",
        markdown(table),
        "Rows marked *reference* are published numbers, not runs of this code. "
        "`fit_sec`: PerSAM-F weight fitting per object; `sec_per_image`: wall seconds per target image, "
        "model loading excluded (reference encoding and fitting included; embeddings may come from the cache, "
        "see provenance).",
        "",
        "Defaults and the original code: `PerSAM` and `PerSAM-F` are this project's defaults: the released code's "
        "attention formula and its cell-centre sampling of the reference mask, which scored best over PerSeg and "
        "davis_perseg. The rows in parentheses change one choice each: the paper's Eq. 7 attention "
        "(`method.attention=eq7`, alpha = 1), patch-coverage mask pooling (`method.mask_pooling=area`), and for "
        "PerSAM-F the original autograd fit on every pixel instead of the default grouped-pixel fit "
        "(`method.fit=autograd`). One difference from the original code remains in every row: the similarity "
        "bias is aligned with SAM's padded 64 x 64 grid instead of stretched over it (they agree on square images). "
        "The oracle row reads the ground-truth box: an upper bound, not a method.",
        "",
        *figures,
        *provenance_section(provenances),
    ]
    (out / "README.md").write_text("\n".join(lines))
    return table


ABLATION_ORDER = ["ablation_pos", "ablation_neg", "ablation_refine", "ablation_attn", "persam", "persam_f"]
# The last two rungs are the full methods; in the ladder they read as the component they add, as in the paper.
LADDER_LABELS = {"persam": "+ Target-semantic prompting (PerSAM)", "persam_f": "+ Fine-tuning (PerSAM-F)"}


def table3(rows: pd.DataFrame) -> pd.DataFrame:
    """The ablation ladder: mIoU and the gain over the row above; then the baselines; then the paper's ladder."""
    miou = rows[(rows.item == "ALL") & (rows.metric == "miou")].set_index("method")
    labels = rows.drop_duplicates("method").set_index("method")["label"]
    out, previous = [], None
    for method in [m for m in ABLATION_ORDER if m in miou.index] + [m for m in miou.index if m not in ABLATION_ORDER]:
        value = round(float(miou.loc[method, "value"]), 2)
        in_ladder = method in ABLATION_ORDER
        gain = round(value - previous, 2) if in_ladder and previous is not None else None
        label = LADDER_LABELS.get(method, labels[method])
        out.append({"method": label, "key": method, "kind": "measured", "mIoU": value,
                    "Gain": (f"{gain:+.2f}" if gain is not None else "")})
        previous = value if in_ladder else previous
    paper = PAPER_TABLE3
    for i, (label, value) in enumerate(paper):
        gain = f"{value - paper[i - 1][1]:+.2f}" if i else ""
        out.append({"method": f"{label} (paper, ViT-H, full PerSeg; reference)", "key": "", "kind": "reference",
                    "mIoU": value, "Gain": gain})
    return pd.DataFrame(out)


def write_table3(runs: list[Path], out: Path) -> pd.DataFrame:
    rows, provenances = save_runs(runs, out)
    table = table3(rows)
    table.to_csv(out / "table3.csv", index=False)
    figures = write_figures(rows, runs, out, "Table 3")
    lines = [
        "# Table 3: ablation of PerSAM's components (mIoU, %)",
        "",
        dataset_line(next(iter(provenances.values()))),
        "",
        markdown(table),
        "Each row adds one component to the row above (Gain = the difference). The sweep shares one embedding "
        "cache, so each distinct image is encoded once across all rows (see the encoder line below).",
        "",
        *figures,
        *provenance_section(provenances),
    ]
    (out / "README.md").write_text("\n".join(lines))
    return table


CORRUPTIONS = ["none", "erode75", "erode95", "dilate75", "dilate95"]


def table4(rows: pd.DataFrame) -> pd.DataFrame:
    """mIoU of each method with the reference mask as given, eroded and dilated (kernel 75 and 95)."""
    miou = rows[(rows.item == "ALL") & (rows.metric == "miou")]
    out = []
    for method, group in miou.groupby("method", sort=False):
        values = group.set_index("corruption")["value"].round(2).to_dict()
        out.append({"method": group["label"].iloc[0], "key": method, "kind": "measured",
                    **{c: values.get(c) for c in CORRUPTIONS if c in values}})
    return pd.DataFrame(out)


def write_table4(runs: list[Path], out: Path) -> pd.DataFrame:
    rows, provenances = save_runs(runs, out)
    rows["corruption"] = rows["run"].map({run: p["config"]["corruption"]["name"] for run, p in provenances.items()})
    table = table4(rows)
    table.to_csv(out / "table4.csv", index=False)
    figures = write_figures(rows[rows.corruption == "none"], [r for r in runs if "-none-" in r.name], out, "Table 4")
    lines = [
        "# Table 4: robustness to the reference mask (mIoU, %)",
        "",
        dataset_line(next(iter(provenances.values()))),
        "",
        markdown(table),
        "Columns: the reference mask as given (`none`), eroded or dilated once with an OpenCV rectangular kernel of "
        "75 or 95 pixels (`cv2.getStructuringElement(MORPH_RECT)`); an erosion that would empty the mask keeps its "
        "most interior pixel. Kernel sizes are in pixels whatever the image size: PerSeg photos are mostly over "
        "1,000 px on a side and davis_perseg frames are 854 x 480 with smaller objects, so the same kernel takes away "
        "or adds far more of a davis_perseg object. The paper's Table 4 numbers are not reproduced here as a "
        "reference row.",
        "",
        *figures,
        *provenance_section(provenances),
    ]
    (out / "README.md").write_text("\n".join(lines))
    return table


def write_figures(rows: pd.DataFrame, runs: list[Path], out: Path, title: str) -> list[str]:
    """Per-object IoU bars and a qualitative grid, as PNG beside the table; Markdown lines that show them."""
    from persam.experiments.figures import iou_bar_chart, qualitative_grid

    iou_bar_chart(rows, out / "iou_per_object.png", f"{title}: IoU per object")
    shown = [r for r in runs if pd.read_csv(r / "results.csv")["method"].iloc[0] in ("persam", "persam_f")] or runs[:1]
    qualitative_grid(shown, out / "qualitative.png")
    return ["![IoU per object](iou_per_object.png)", "", "![Qualitative results](qualitative.png)", ""]


# table name -> writer(runs, out_dir) -> DataFrame. Each writer puts README.md, CSVs and provenance/ in out_dir.
TABLES = {"table1": write_table1, "table2": write_table2, "table3": write_table3, "table4": write_table4,
          **{name: partial(write_protocol_table, name) for name in ("fewshot", "presence", "instances")}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m persam.tables", description=__doc__.split("\n")[0])
    parser.add_argument("table", choices=[*sorted(TABLES), "merge"], help="a table, or merge: join a run's shards")
    parser.add_argument("runs", nargs="+", help="run directories or multirun folders")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--wandb", action="store_true", help="also log the table and its figures to Weights & Biases "
                        "(offline unless an account is configured)")
    args = parser.parse_args(argv)
    try:
        runs = find_runs(args.runs)
        if args.table == "merge":
            merged = merge_shards(runs, args.out)
            print(f"merged {len(runs)} shards ({merged['item'].nunique() - 1} items) into {args.out}")
            return 0
    except (FileNotFoundError, MergeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table = TABLES[args.table](runs, args.out)
    if args.wandb:
        from persam.experiments.loggers import log_table

        group = log_table(args.table, table, args.out, runs)
        print(f"logged to W&B group {group}")
    print(markdown(table))
    print(f"written: {args.out}/ (README.md, CSV, provenance/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
