"""Sweeps beyond one machine: shards, their merge, and the submitit launchers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import SAMPLE, SHARED_DATA
from PIL import Image
from wandb_records import offline_runs

from persam.config import compose
from persam.data.sharding import shard_items
from persam.experiments.loggers import GROUP_FILE, shared_name
from persam.experiments.merge import MergeError, merge_shards

REPO = Path(__file__).resolve().parents[1]
WANDB_OFFLINE = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
PERSEG = SHARED_DATA / "perseg" if (SHARED_DATA / "perseg").is_dir() else SAMPLE


def test_shards_partition_the_items_deterministically():
    items = ["duck", "cat", "sneaker", "apple", "zebra"]
    shards = [shard_items(items, i, 2) for i in range(2)]
    assert shards == [["apple", "duck", "zebra"], ["cat", "sneaker"]]
    assert shard_items(list(reversed(items)), 1, 2) == shards[1]
    with pytest.raises(ValueError, match="shard"):
        shard_items(items, 2, 2)


def test_slurm_launcher_config_composes_with_overrides():
    cfg = compose(["hydra/launcher=persam_slurm", "hydra.launcher.partition=gpu", "hydra.launcher.timeout_min=30",
                   "hydra.launcher.mem_gb=64"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.partition, launcher.timeout_min, launcher.mem_gb, launcher.gpus_per_node) == ("gpu", 30, 64, 1)


def _fake_shard(root: Path, index: int, count: int, items: list[str]) -> Path:
    run = root / f"shard{index}"
    run.mkdir(parents=True)
    base = {"experiment": "t", "dataset": "perseg", "subset": "s", "method": "persam", "label": "PerSAM",
            "model": "vit_t"}
    rows = [{**base, "item": i, "metric": "iou", "value": 50.0} for i in items]
    rows.append({**base, "item": "ALL", "metric": "sec_per_image", "value": 1.0})
    pd.DataFrame(rows).to_csv(run / "results.csv", index=False)
    record = {"config": {"dataset": {"shard": index, "num_shards": count}, "method": {"name": "persam"}},
              "data": {"items": items, "target_images": 2 * len(items)}, "shard": {"index": index, "count": count}}
    (run / "provenance.json").write_text(json.dumps(record))
    return run


def test_merge_refuses_a_missing_shard(tmp_path):
    runs = [_fake_shard(tmp_path, 0, 3, ["a"]), _fake_shard(tmp_path, 2, 3, ["c"])]
    with pytest.raises(MergeError, match="missing shard.*1 of 3"):
        merge_shards(runs, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_merge_refuses_an_unfinished_shard(tmp_path):
    runs = [_fake_shard(tmp_path, 0, 2, ["a"]), _fake_shard(tmp_path, 1, 2, ["b"])]
    record = json.loads((runs[1] / "provenance.json").read_text())
    (runs[1] / "provenance.json").write_text(json.dumps({**record, "status": "running"}))  # it stopped at its end
    with pytest.raises(MergeError, match=r"did not finish .*shard1"):
        merge_shards(runs, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_merge_refuses_overlapping_shards(tmp_path):
    runs = [_fake_shard(tmp_path, 0, 2, ["a", "b"]), _fake_shard(tmp_path, 1, 2, ["b"])]
    with pytest.raises(MergeError, match="'b' is in two shards"):
        merge_shards(runs, tmp_path / "out")


def test_two_shard_submitit_local_sweep_merges_to_the_unsharded_run(tmp_path):
    common = [f"dataset.root={PERSEG}", f"cache.dir={tmp_path / 'cache'}", "progress=false", "outputs.overlays=false"]
    whole = subprocess.run([sys.executable, "-m", "persam.run", *common, f"hydra.run.dir={tmp_path / 'whole'}"],
                           cwd=REPO, capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr
    sweep = subprocess.run(
        [sys.executable, "-m", "persam.run", "-m", "hydra/launcher=persam_local", *common,
         "dataset.num_shards=2", "dataset.shard=0,1", f"hydra.sweep.dir={tmp_path / 'sweep'}",
         "hydra.sweep.subdir=shard${dataset.shard}", "logger=wandb"],
        cwd=REPO, capture_output=True, text=True, timeout=900, env=WANDB_OFFLINE)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    done = subprocess.run([sys.executable, "-m", "persam.tables", "merge", str(tmp_path / "sweep"),
                           "--out", str(tmp_path / "merged")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    keep = ["item", "metric", "value"]

    def scores(run: Path) -> pd.DataFrame:
        rows = pd.read_csv(run / "results.csv")
        rows = rows[~rows.metric.str.contains("sec")][keep]  # timings differ from run to run
        return rows.sort_values(keep[:2]).reset_index(drop=True)

    pd.testing.assert_frame_equal(scores(tmp_path / "merged"), scores(tmp_path / "whole"))
    for mask in (tmp_path / "whole" / "masks").rglob("*.png"):
        merged = tmp_path / "merged" / mask.relative_to(tmp_path / "whole")
        assert Image.open(mask).tobytes() == Image.open(merged).tobytes()

    # W&B: one group for the sweep, one run per job, and the table built from the merged shards logged once
    # into the same group.
    table = subprocess.run([sys.executable, "-m", "persam.tables", "table1", str(tmp_path / "merged"),
                            "--out", str(tmp_path / "table"), "--wandb"],
                           cwd=REPO, capture_output=True, text=True, timeout=300, env=WANDB_OFFLINE)
    assert table.returncode == 0, table.stderr[-3000:]
    group = (tmp_path / "sweep" / GROUP_FILE).read_text().strip()
    assert group.startswith("default-sweep-")
    jobs = offline_runs(tmp_path / "sweep")
    assert len(jobs) == 2 and {j["group"] for j in jobs} == {group}, jobs
    tables = offline_runs(tmp_path / "table")
    assert [(t["group"], t["job_type"]) for t in tables] == [(group, "table")]
    assert f"logged to W&B group {group}" in table.stdout


def _name_in(args: tuple[str, str]) -> str:
    return shared_name(Path(args[0]), args[1])


def test_concurrent_jobs_agree_on_one_group_name_and_leave_no_files(tmp_path):
    import multiprocessing

    path = tmp_path / "sweep" / GROUP_FILE
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        names = pool.map(_name_in, [(str(path), f"proposal-{i}") for i in range(16)])
    assert len(set(names)) == 1 and names[0].startswith("proposal-")
    assert [p.name for p in path.parent.iterdir()] == [GROUP_FILE]
