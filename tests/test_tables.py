"""The table builders (persam/tables/): tables from rows only, scoped reference rows, generated prose, figures,
and the committed tables under results/ (rebuilt from their rows; no machine paths)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pandas as pd
import pytest
from conftest import SAMPLE

from persam.experiments.records import COLUMNS
from persam.tables import MODULES, main, write_table1, write_table2, write_table3, write_table4
from persam.tables.figures import iou_heatmap
from persam.tables.runs import load_runs

REPO = Path(__file__).resolve().parents[1]
OBJECTS = ["cat", "colorful_sneaker", "duck_toy"]
REFERENCE_DATA = REPO / "persam" / "tables" / "reference_numbers.yaml"
PERSAM = {"_target_": "persam.methods.persam.PerSAM", "negative_prior": True, "guided_attention": True,
          "semantic_prompting": True, "refinement_steps": 2, "attention": "original", "mask_pooling": "center",
          "embedding_pooling": "mean",
          "scale_fusion": False, "fit": "fast"}
SETTINGS = {
    "ablation_pos": {**PERSAM, "negative_prior": False, "guided_attention": False, "semantic_prompting": False,
                     "refinement_steps": 0},
    "ablation_neg": {**PERSAM, "guided_attention": False, "semantic_prompting": False, "refinement_steps": 0},
    "ablation_refine": {**PERSAM, "guided_attention": False, "semantic_prompting": False},
    "ablation_attn": {**PERSAM, "semantic_prompting": False},
    "persam": PERSAM,
    "ablation_fusion": {**PERSAM, "scale_fusion": True},
    "persam_f": {**PERSAM, "negative_prior": False, "guided_attention": False, "semantic_prompting": False,
                 "embedding_pooling": "mean_max", "scale_fusion": True},
    "persam_eq7": {**PERSAM, "attention": "eq7"},
    "baseline_similarity": {"_target_": "persam.methods.baselines.SimilarityThreshold", "mask_pooling": "area"},
}


LABELS = {"ablation_fusion": "+ Fine-tuning (scale fusion)"}


def make_run(root: Path, method: str, iou: float, corruption: str = "none", objects=OBJECTS, model="vit_t",
             dataset="perseg", masks: bool = False, recorded_settings: bool = True, experiment: str = "t") -> Path:
    """A run folder as the runner writes it: rows, provenance (with the method's effective settings unless
    ``recorded_settings`` is false: an older run), optionally masks (the ground truth copied as the prediction,
    for the qualitative grid)."""
    run = root / (f"{method}-{corruption}-{model}" + (f"-{experiment}" if experiment != "t" else ""))
    base = {"experiment": experiment, "dataset": dataset, "subset": f"{len(objects)} objects", "method": method,
            "label": LABELS.get(method, method.upper()), "model": model, "corruption": corruption, "shots": 1}
    rows = [{**base, "item": o, "metric": "iou", "value": iou + i} for i, o in enumerate(objects)]
    rows += [{**base, "item": "ALL", "metric": "miou", "value": iou + 1},
             {**base, "item": "ALL", "metric": "macc", "value": iou + 1},
             {**base, "item": "ALL", "metric": "sec_per_image_post_encoder", "value": 0.25},
             {**base, "item": "ALL", "metric": "encoder_sec_per_image", "value": 1.5}]
    run.mkdir(parents=True)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(run / "results.csv", index=False)
    if masks:
        for obj in objects:
            shutil.copytree(SAMPLE / "Annotations" / obj, run / "masks" / obj)
    settings = SETTINGS.get(method, PERSAM)
    record = {
        "date": "2026-11-24", "command": "run.py -m experiment=t", "git": {"commit": "abc", "dirty": False},
        "torch": "x", "device": "cpu", "machine": {"host_cpu": "cpu", "cpu_count": 2},
        "model": {"name": model, "checkpoint": "mobile_sam.pt", "sha256": "6dbb9052" * 8},
        "config": {"experiment_name": experiment, "dataset": {"ref_stems": ["00"]},
                   "method": {"name": method, "label": base["label"], **settings},
                   "corruption": {"name": corruption}},
        "data": {"dataset": dataset, "root": None, "subset": f"{len(objects)} objects", "items": list(objects),
                 "target_images": 2 * len(objects), "manifest": {"files": 3 * len(objects), "sha256": "ab" * 32}},
        "embedding_cache": {"hits": 3, "misses": 9, "encoder_calls": 9},
    }
    if recorded_settings:
        record["method_settings"] = {"name": method, "label": base["label"], "target": settings["_target_"],
                                     "settings": {k: v for k, v in settings.items() if k != "_target_"}}
    (run / "provenance.json").write_text(json.dumps(record))
    return run


LADDER = [("ablation_pos", 60.0), ("ablation_neg", 65.0), ("ablation_refine", 80.0), ("ablation_attn", 81.0),
          ("persam", 83.0), ("ablation_fusion", 90.0), ("persam_f", 88.0), ("baseline_similarity", 50.0)]


def test_table3_ladder_ends_with_fine_tuning_and_keeps_persam_f_as_released_apart(tmp_path):
    runs = [make_run(tmp_path / "runs", m, v, masks=m in ("persam", "ablation_fusion")) for m, v in LADDER]
    table = write_table3(runs, tmp_path / "out")
    rows = table.set_index("key")
    assert list(rows.index) == [m for m, _ in LADDER]  # ladder, then PerSAM-F as released, then the baseline
    assert rows.loc["ablation_pos", "Gain"] == "" and rows.loc["ablation_refine", "Gain"] == "+15.00"
    assert rows.loc["ablation_fusion", "Gain"] == "+7.00"
    assert rows.loc["ablation_fusion", "method"].startswith("+ Fine-tuning")
    assert rows.loc["persam_f", "Gain"] == "" and "as released" in rows.loc["persam_f", "method"]
    assert rows.loc["baseline_similarity", "Gain"] == ""
    assert (table.kind == "reference").sum() == 0  # 3 objects, vit_t: the paper's ladder is out of scope
    readme = (tmp_path / "out" / "README.md").read_text()
    ft_line = next(line for line in readme.splitlines() if line.startswith("- + Fine-tuning"))
    assert "keeps the rung above and adds scale fusion" in ft_line and "removes" not in ft_line
    f_line = next(line for line in readme.splitlines() if "as released" in line and line.startswith("- "))
    assert "removes the negative location prior" in f_line and "`embedding_pooling` mean -> mean_max" in f_line
    assert "a separate method (`_target_: persam.methods.baselines.SimilarityThreshold`)" in readme
    # Claims come from paired verdicts: on 3 objects there is none (a sign-flip test cannot reject), and it says so.
    claims = next(line for line in readme.splitlines() if line.startswith("Paired verdicts, per object"))
    assert "No verdict, too few objects (n < 8): " in claims and "+ Fine-tuning (scale fusion)" in claims
    assert "Better than" not in claims
    assert "Highest" not in readme and "scored best" not in readme and "published" not in readme
    for name in ("iou_per_object.png", "qualitative.png", "table3.csv", "results.csv"):
        assert (tmp_path / "out" / name).stat().st_size > 0


def test_papers_ladder_shows_only_for_the_full_perseg_on_vit_h(tmp_path):
    import yaml

    full = yaml.safe_load(REFERENCE_DATA.read_text())["scopes"]["perseg_40_vit_h"]["items"]
    perseg = write_table3([make_run(tmp_path / "a", "persam", 80.0, objects=full, model="vit_h")], tmp_path / "out-a")
    assert (perseg.kind == "reference").sum() == 6 and perseg["Gain"].iloc[-1] == "+6.01"
    other = write_table3([make_run(tmp_path / "b", "persam", 80.0, objects=full, model="vit_h",
                                   dataset="davis_perseg")], tmp_path / "out-b")
    assert (other.kind == "reference").sum() == 0


def test_reference_rows_need_the_same_dataset_items_and_model(tmp_path):
    same = write_table1([make_run(tmp_path / "a", "persam", 80.0)], tmp_path / "out-a")
    assert set(same.loc[same.kind == "reference", "mIoU"]) == {94.49, 94.92, 94.58}
    assert "PerSAM (original code, measured; reference)" in set(same["method"])
    fewer = write_table1([make_run(tmp_path / "b", "persam", 80.0, objects=OBJECTS[:2])], tmp_path / "out-b")
    assert (fewer.kind == "reference").sum() == 0
    readme = (tmp_path / "out-b" / "README.md").read_text()
    assert "not shown because their scope differs" in readme and "94.49" not in readme
    vit_h = write_table1([make_run(tmp_path / "c", "persam", 80.0, model="vit_h")], tmp_path / "out-c")
    assert (vit_h.kind == "reference").sum() == 0


def test_table1_describes_variants_from_their_settings_and_prints_no_timings(tmp_path):
    runs = [make_run(tmp_path / "runs", m, 80.0, masks=True) for m in ("persam", "persam_eq7", "persam_f")]
    table = write_table1(runs, tmp_path / "out")
    assert not [c for c in table.columns if "sec" in c]  # speed is make bench's, not an accuracy table's
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "sec_per_image" not in readme and "s per image" not in readme
    assert "- PERSAM_EQ7: differs from PERSAM: `attention` original -> eq7." in readme
    assert "as the original code: `attention: original`" in readme
    assert "`abc` (all 3 runs)" in readme and f"- data manifest: 9 files, sha256 `{'ab' * 32}`" in readme


def test_old_runs_without_settings_or_axes_fall_back_to_their_config(tmp_path):
    runs = [make_run(tmp_path / "runs", m, 80.0 - k, c, recorded_settings=False)
            for m in ("persam", "persam_f") for k, c in enumerate(["none", "erode75", "dilate95"])]
    for run in runs:  # rows as written before the corruption and shots columns existed
        rows = pd.read_csv(run / "results.csv")
        rows.drop(columns=["corruption", "shots"]).to_csv(run / "results.csv", index=False)
    table = write_table4(runs, tmp_path / "out")
    row = table.set_index("key").loc["persam_f"]
    assert [c for c in table.columns[3:] if " ci_" not in c] == ["none", "erode75", "dilate95"]
    assert (row["none"], row["erode75"], row["dilate95"]) == (81.0, 80.0, 79.0)
    assert set(pd.read_csv(tmp_path / "out" / "results.csv")["corruption"]) == {"none", "erode75", "dilate95"}


def test_a_table_folder_rebuilds_the_same_table(tmp_path):
    runs = [make_run(tmp_path / "runs", m, 80.0 - k, c) for m in ("persam", "persam_f")
            for k, c in enumerate(["none", "erode95"])]
    first = write_table4(runs, tmp_path / "out")
    assert main(["table4", str(tmp_path / "out"), "--out", str(tmp_path / "again")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "again" / "table4.csv"), first.reset_index(drop=True))
    assert sorted(p.name for p in (tmp_path / "again" / "provenance").iterdir()) == sorted(f"{r.name}.json" for r in runs)


DAVIS13 = ["blackswan", "breakdance", "camel", "car-roundabout", "car-shadow", "cows", "dance-twirl", "dog",
           "drift-chicane", "drift-straight", "goat", "libby", "parkour"]


def make_video_run(root: Path, method: str, sequences: list[str]) -> Path:
    """A video run folder as the runner writes it: J, F (and J&F) per object and overall, the video settings."""
    run = make_run(root, method, 80.0, objects=sequences, dataset="davis2017")
    base = {"experiment": "table2", "dataset": "davis2017", "subset": "s", "method": method, "label": method.upper(),
            "model": "vit_t", "corruption": "none", "shots": 1}
    rows = [{**base, "item": s, "metric": m, "value": 70.0 + i + (m == "F")}
            for i, s in enumerate(sequences) for m in ("J", "F")]
    rows += [{**base, "item": "ALL", "metric": m, "value": v} for m, v in
             (("J&F", 75.5), ("J", 75.0), ("F", 76.0), ("sec_per_image_post_encoder", 0.3))]
    pd.DataFrame(rows, columns=COLUMNS).to_csv(run / "results.csv", index=False)
    record = json.loads((run / "provenance.json").read_text())
    record["method_settings"]["video"] = {
        "tracker": {"box_prompt": True, "center_point": True, "box_margin": 10, "reacquire": True},
        "settings": {"first_mask": "single", "refine_box_from_first_step": True, "mask_pooling": "center",
                     "center_threshold": 123.675 / 215, "topk": 2}}
    record["data"] = {**record["data"], "frames": 40}
    record["video"] = {"objects": len(sequences), "split": "val_available"}
    (run / "provenance.json").write_text(json.dumps(record))
    return run


def test_table2_from_video_rows_scoped_to_the_sequences(tmp_path):
    table = write_table2([make_video_run(tmp_path / "a", "persam", DAVIS13)], tmp_path / "out")
    assert table.loc[table.kind == "measured", "J&F"].iloc[0] == 75.5
    assert set(table.loc[table.kind == "reference", "J&F"]) == {74.91, 76.81}  # the original video code, same sequences
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "keeps SAM's single-mask output" in readme and "(`video.reacquire`)" in readme
    per_sequence = pd.read_csv(tmp_path / "out" / "table2_per_sequence.csv").set_index("sequence")
    assert per_sequence.loc["camel", "PERSAM J&F"] == 72.5
    two = write_table2([make_video_run(tmp_path / "b", "persam", DAVIS13[:2])], tmp_path / "out-b")
    assert (two.kind == "reference").sum() == 0


@pytest.mark.parametrize("name,metrics,column,per_object", [
    ("fewshot", {"miou": [70.0, 75.0, 78.0]}, "gain k=3 vs 1", "iou"),
    ("presence", {"auroc": [0.97], "tpr": [0.96], "fpr": [0.04], "miou_pos": [80.0]}, "AUROC", "iou_pos"),
    ("instances", {"recall": [0.85], "precision": [0.9], "miou_union": [81.0]}, "recall", "iou_union"),
])
def test_named_protocols_are_tabled_from_their_rows(tmp_path, name, metrics, column, per_object):
    rows = []
    for method, offset in (("persam", 0.0), ("persam_plus", 0.01)):
        for metric, values in metrics.items():
            for k, value in enumerate(values, start=1):
                base = {"experiment": name, "dataset": "perseg", "subset": "3 objects", "method": method,
                        "label": method, "model": "vit_t", "corruption": "none", "shots": k}
                rows.append({**base, "item": "ALL", "metric": metric, "value": value + offset})
                if metric.startswith("miou"):  # the objects behind the mean: value - 1, value, value + 1
                    rows += [{**base, "item": o, "metric": per_object, "value": value + offset + i - 1}
                             for i, o in enumerate(OBJECTS)]
    run_dirs = []
    for method in ("persam", "persam_plus"):
        run = make_run(tmp_path / "runs", method, 80.0)
        pd.DataFrame([r for r in rows if r["method"] == method], columns=COLUMNS).to_csv(run / "results.csv", index=False)
        run_dirs.append(str(run))
    assert main([name, *run_dirs, "--out", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / f"{name}.csv").set_index("key")
    if name == "fewshot":
        assert table.loc["persam", "mIoU k=2"] == 75.0 and table.loc["persam", column] == 8.0
    else:
        assert table.loc["persam_plus", column] == round(metrics[next(iter(metrics))][0] + 0.01, 3)
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "Highest" not in readme  # no claim from comparing two means
    mean = next(c for c in table.columns if c.startswith("mIoU") and " ci_" not in c)
    assert table.loc["persam", f"{mean} ci_low"] <= table.loc["persam", mean] <= table.loc["persam", f"{mean} ci_high"]
    # 3 objects: the difference and the count, but no verdict
    if name == "fewshot":  # each k against k = 1 of the same method: +5 and +8 on every object
        assert "| persam | 3 | 3 | +8.0 (no test) | 3 / 0 / 0 | too few objects (n < 8) |" in readme
    else:  # persam_plus is 0.01 above persam on every object: a tie on each
        assert "| persam_plus | 3 | +0.0 (no test) | 0 / 3 / 0 | too few objects (n < 8) |" in readme


def test_heatmap_of_40_objects_by_8_methods_fits_the_page(tmp_path):
    iou = pd.DataFrame([[50.0 + i + j for j in range(8)] for i in range(40)], index=[f"object_{i}" for i in range(40)],
                       columns=[f"A fairly long method label number {j}" for j in range(8)])
    iou_heatmap(iou, tmp_path / "h.png", "IoU")
    height, width = cv2.imread(str(tmp_path / "h.png")).shape[:2]
    assert width <= 1600 and height < 2000


def test_qualitative_grid_shows_the_worst_and_best_object_with_ground_truth(tmp_path):
    runs = [make_run(tmp_path / "runs", m, v, masks=True) for m, v in (("persam", 80.0), ("persam_f", 85.0))]
    write_table1(runs, tmp_path / "out")
    readme = (tmp_path / "out" / "README.md").read_text()
    # make_run gives object i the IoU 80 + i: cat is PerSAM's worst, duck_toy its best
    assert "worst and the best object of PERSAM by IoU (cat / 01, duck_toy / 01)" in readme
    height, width = cv2.imread(str(tmp_path / "out" / "qualitative.png")).shape[:2]
    assert width <= 1600 and height < width


def test_command_refuses_a_folder_without_results(tmp_path, capsys):
    assert main(["table1", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "no results.csv" in capsys.readouterr().err


def test_run_folders_must_have_provenance(tmp_path, capsys):
    run = make_run(tmp_path / "runs", "persam", 80.0)
    (run / "provenance.json").unlink()
    assert main(["table3", str(run), "--out", str(tmp_path / "out")]) == 2
    assert "provenance.json: missing" in capsys.readouterr().err


def test_tables_import_neither_torch_nor_sam():
    code = ("import sys, persam.tables, persam.results_summary; "
            "print(sorted(m for m in ('torch', 'segment_anything') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO), "PATH": ""}, check=True)
    assert done.stdout.strip() == "[]"


# Every committed table: <name>.csv beside the results.csv it is built from.
COMMITTED = sorted(p for p in (REPO / "results").glob("**/*.csv")
                   if p.stem in MODULES and p.parent.joinpath("results.csv").is_file())


@pytest.mark.parametrize("table_csv", COMMITTED, ids=[str(p.relative_to(REPO)) for p in COMMITTED])
def test_every_committed_table_is_rebuilt_from_its_rows(tmp_path, table_csv):
    assert main([table_csv.stem, str(table_csv.parent), "--out", str(tmp_path / "out")]) == 0
    rebuilt = pd.read_csv(tmp_path / "out" / table_csv.name, dtype=str)
    pd.testing.assert_frame_equal(rebuilt, pd.read_csv(table_csv, dtype=str), check_dtype=False)


# An absolute path of some machine: a POSIX path under a usual top-level folder, or a Windows drive path.
ABSOLUTE = re.compile(r"(?<![\w.:/-])(/(?:work|home|root|tmp|Users|mnt|scratch|data|private|var|opt|srv)/[^\s\"'`|,)]*"
                      r"|[A-Za-z]:\\[^\s\"']*)")


def test_no_committed_result_nor_the_readme_holds_a_machine_path():
    files = [REPO / "README.md", *sorted(p for p in (REPO / "results").rglob("*")
                                         if p.is_file() and p.suffix in {".md", ".csv", ".json", ".txt"})]
    found = []
    for path in files:
        text = re.sub(r"[a-z][a-z0-9+.-]*://\S+", "", path.read_text())  # URLs aside
        found += [f"{path.relative_to(REPO)}: {m}" for m in ABSOLUTE.findall(text)]
    assert not found, f"{len(found)} machine paths, e.g. " + "; ".join(found[:5])


def test_readme_results_block_is_generated_from_the_committed_results():
    from persam.results_summary import rewrite, summary

    readme = (REPO / "README.md").read_text()
    assert rewrite(readme, summary(REPO / "results")) == readme, "run: python -m persam.results_summary"


POOLED = sorted((REPO / "results").glob("*/pooled.csv"))


@pytest.mark.parametrize("pooled_csv", POOLED, ids=[str(p.relative_to(REPO)) for p in POOLED])
def test_every_committed_pooled_table_is_rebuilt_from_its_datasets_rows(tmp_path, pooled_csv):
    table = pooled_csv.parent.name
    found = {p.parent.name: str(p.parent) for p in pooled_csv.parent.glob(f"*/{table}.csv")}
    order = ["perseg", "davis_perseg", "davis16_perseg"]  # the Makefile's IMAGE_SETS, as `make table1` pools them
    datasets = [found[d] for d in sorted(found, key=lambda d: order.index(d) if d in order else len(order))]
    assert len(datasets) >= 2
    assert main(["pooled", table, *datasets, "--out", str(tmp_path / "out")]) == 0
    rebuilt = pd.read_csv(tmp_path / "out" / "pooled.csv", dtype=str)
    pd.testing.assert_frame_equal(rebuilt, pd.read_csv(pooled_csv, dtype=str), check_dtype=False)


def test_a_rerun_supersedes_the_rows_and_record_it_repeats(tmp_path):
    """A committed table folder, then a rerun of one of its methods: the table holds the rerun's rows and record."""
    runs = [make_run(tmp_path / "old", m, v) for m, v in (("persam", 70.0), ("persam_f", 80.0))]
    write_table1(runs, tmp_path / "table")
    rerun = make_run(tmp_path / "new", "persam_f", 90.0)
    record = json.loads((rerun / "provenance.json").read_text())
    (rerun / "provenance.json").write_text(json.dumps({**record, "git": {"commit": "def", "dirty": False}}))
    table = write_table1([tmp_path / "table", rerun], tmp_path / "rebuilt").set_index("key")
    assert table.loc["persam", "mIoU"] == 71.0 and table.loc["persam_f", "mIoU"] == 91.0
    rows = pd.read_csv(tmp_path / "rebuilt" / "results.csv")
    assert len(rows[rows.method == "persam_f"]) == len(rows[rows.method == "persam"])  # the old rows are gone
    records = {p.name: json.loads(p.read_text())["git"]["commit"] for p in (tmp_path / "rebuilt" / "provenance").iterdir()}
    assert sorted(records.values()) == ["abc", "def"]
    assert sorted(records) == ["persam-none-vit_t.json", "persam_f-none-vit_t.json"]  # the rerun keeps its name


def test_a_run_with_a_second_opinion_does_not_supersede_the_method_without(tmp_path):
    """The presence table adds second-opinion runs beside the committed runs of the same methods."""

    plain = make_run(tmp_path / "old", "persam", 70.0)
    opinion = make_run(tmp_path / "new", "persam", 75.0)
    rows = pd.read_csv(opinion / "results.csv")
    rows["label"] = rows["label"] + " + second opinion (efficientnet_lite0)"
    rows["second_opinion"] = "efficientnet_lite0"
    rows.to_csv(opinion / "results.csv", index=False)
    record = json.loads((opinion / "provenance.json").read_text())
    record["config"]["method"]["second_opinion"] = "efficientnet_lite0"
    (opinion / "provenance.json").write_text(json.dumps(record))
    runs = load_runs([plain, opinion])
    assert sorted(set(runs.rows["label"])) == ["PERSAM", "PERSAM + second opinion (efficientnet_lite0)"]
    assert len(runs.provenances) == 2
    rerun = load_runs([plain, opinion, opinion])  # the same variant again does supersede
    assert len(rerun.rows) == len(runs.rows)


def test_plus_ablation_puts_persam_plus_first_and_says_what_each_rung_switches_off(tmp_path):
    plus = {"_target_": "persam.methods.persam_plus.PerSAMPlus", "mask_check": True,
            "reference_cleanup": True}
    SETTINGS.update({"persam_plus_without_check": {**plus, "mask_check": False}, "persam_plus": plus,
                     "persam_plus_without_cleanup": {**plus, "reference_cleanup": False}})
    objects = [f"o{i}" for i in range(10)]
    ablation = {"experiment": "plus_ablation", "dataset": "davis16_perseg"}  # held-out: the family that decides
    try:
        runs = [make_run(tmp_path / "runs", "persam_plus_without_check", 70.0, objects=objects, **ablation),
                make_run(tmp_path / "runs", "persam_plus", 80.0, objects=objects, **ablation),
                *[make_run(tmp_path / "runs", m, iou, "box", objects=objects, **ablation)
                  for m, iou in (("persam_plus", 80.0), ("persam_plus_without_cleanup", 40.0))],
                *[make_run(tmp_path / dataset, m, iou, objects=objects, experiment="fewshot", dataset=dataset)
                  for dataset in ("davis16_fewshot", "davis16_instances")  # two sets in one section: a row per set
                  for m, iou in (("persam_plus", 80.0), ("persam_plus_without_check", 80.0))]]
        table = MODULES["plus_ablation"].write(load_runs(runs), tmp_path / "out")
    finally:
        for key in ("persam_plus_without_check", "persam_plus", "persam_plus_without_cleanup"):
            SETTINGS.pop(key)
    segmentation = table[table["section"] == "plus_ablation"]
    assert list(segmentation["key"]) == ["persam_plus", "persam_plus_without_check", "persam_plus_without_cleanup"]
    assert [c for c in segmentation.dropna(axis=1, how="all").columns[4:] if " ci_" not in c] == ["none", "box"]
    fewshot = table[table["section"] == "fewshot"]
    assert list(fewshot["key"]) == ["persam_plus", "persam_plus_without_check"] * 2
    assert list(fewshot["dataset"]) == ["davis16_fewshot"] * 2 + ["davis16_instances"] * 2
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "- PERSAM_PLUS_WITHOUT_CHECK: `mask_check` True -> False." in readme
    assert "Holm-corrected within this family of 4 comparisons" in readme  # every section and column, one family
    assert readme.count("| worse |") == 2 and readme.count("| equivalent |") == 2
