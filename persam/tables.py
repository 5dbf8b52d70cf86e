"""Tables generated from result files, never typed by hand.

    python -m persam.tables table1 RUN_DIR [RUN_DIR ...] --out results/table1

Each RUN_DIR is a run directory (with ``results.csv`` and ``provenance.json``) or a folder containing
such run directories (a Hydra multirun). The table's CSV, Markdown and provenance are written to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import pandas as pd

from persam.experiments.reference_numbers import ORIGINAL_CODE_VIT_T_SUBSET, PAPER_TABLE1


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
    for label, ref in ORIGINAL_CODE_VIT_T_SUBSET.items():
        out.append({"method": f"{label} (original code, same subset; reference)", "key": "", "model": ref["model"],
                    "kind": "reference", "mIoU": ref["miou"]})
    for label, ref in PAPER_TABLE1.items():
        out.append({"method": f"{label} (paper, full PerSeg; reference)", "key": "", "model": ref["model"],
                    "kind": "reference", "mIoU": ref["miou"]})
    return pd.DataFrame(out)


def markdown(table: pd.DataFrame) -> str:
    shown = table.drop(columns=["key", "kind"]).astype(object)
    shown = shown.where(shown.notna(), "")
    header = "| " + " | ".join(shown.columns) + " |\n|" + "---|" * len(shown.columns) + "\n"
    body = "".join("| " + " | ".join(str(v) for v in row) + " |\n" for row in shown.itertuples(index=False))
    return header + body


def write_table1(runs: list[Path], out: Path) -> pd.DataFrame:
    rows = load_rows(runs)
    table = table1(rows)
    out.mkdir(parents=True, exist_ok=True)
    rows.drop(columns=["run"]).to_csv(out / "results.csv", index=False)
    table.to_csv(out / "table1.csv", index=False)
    prov_dir = out / "provenance"
    if prov_dir.exists():
        shutil.rmtree(prov_dir)
    prov_dir.mkdir()
    provenances = {}
    for run in runs:
        method = pd.read_csv(run / "results.csv")["method"].iloc[0]
        shutil.copy(run / "provenance.json", prov_dir / f"{method}.json")
        provenances[method] = json.loads((run / "provenance.json").read_text())
    first = next(iter(provenances.values()))
    commits = sorted({f"{p['git']['commit']}{' (dirty)' if p['git']['dirty'] else ''}" for p in provenances.values()})
    dataset = first["data"]
    lines = [
        "# Table 1: personalized segmentation on PerSeg (IoU per object and mIoU, %)",
        "",
        f"Dataset: {dataset['dataset']} at `{dataset['root']}`, subset: {dataset['subset']} "
        f"({len(dataset['items'])} objects: {', '.join(dataset['items'])}; {dataset['target_images']} target images, "
        "reference image excluded).",
        "",
        markdown(table),
        "Rows marked *reference* are published numbers, not runs of this code. "
        "`fit_sec`: PerSAM-F weight fitting per object; `sec_per_image`: wall seconds per target image, "
        "model loading excluded (reference encoding and fitting included; embeddings may come from the cache, "
        "see provenance).",
        "",
        "Defaults and the original code: `PerSAM` and `PerSAM-F` are this project's defaults; the "
        "*original-code choices* rows switch to the original implementation's cell-centre mask sampling "
        "(`method.mask_pooling=center`), the released code's attention formula (`method.attention=original`) and, for "
        "PerSAM-F, its autograd fit on every pixel (`method.fit=autograd`); *released-code attention* changes only "
        "the attention formula. PerSAM's default attention is the paper's Eq. 7 (alpha = 1), which scored best here.",
        "",
        "## Provenance",
        "",
        f"- command: `{first['command']}` (one run per method; per-run records in `provenance/`)",
        f"- git commit: {', '.join(commits)}",
        f"- model: {first['model']['name']} (`{Path(first['model']['checkpoint']).name}`, "
        f"sha256 {first['model']['sha256'][:12]}...)",
        f"- date: {first['date']}",
        f"- machine: {first['machine']['host_cpu']}, {first['machine']['cpu_count']} CPUs, device {first['device']}; "
        f"torch {first['torch']}",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines))
    return table


# table name -> writer(runs, out_dir) -> DataFrame. Each writer puts README.md, CSVs and provenance/ in out_dir.
TABLES = {"table1": write_table1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m persam.tables", description=__doc__.split("\n")[0])
    parser.add_argument("table", choices=sorted(TABLES))
    parser.add_argument("runs", nargs="+", help="run directories or multirun folders")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        runs = find_runs(args.runs)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table = TABLES[args.table](runs, args.out)
    print(markdown(table))
    print(f"written: {args.out}/ (README.md, CSV, provenance/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
