"""Interrupted runs resume: a real run killed part-way, then rerun, gives the rows of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from persam.models import EmbeddingCache

REPO = Path(__file__).resolve().parents[1]


def _run(out: Path, cache: Path, **popen) -> subprocess.Popen:
    command = [sys.executable, "-m", "persam.run", "method=persam_f", "dataset.objects=[duck_toy,cat]",
               f"hydra.run.dir={out}", f"cache.dir={cache}", "outputs.overlays=false", "progress=false"]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


SCORES = ["item", "metric", "value"]


def _scores(run: Path) -> pd.DataFrame:
    rows = pd.read_csv(run / "results.csv")
    return rows[~rows.metric.str.contains("sec")][SCORES].reset_index(drop=True)  # timings differ, scores must not


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("embeddings")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, cache) -> Path:
    """The same run, never interrupted (it also fills the embedding cache the interrupted runs share)."""
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    process = _run(out, cache)
    assert process.wait(timeout=600) == 0, process.communicate()[0]
    return out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_killed_run_resumes_and_matches_an_uninterrupted_one(tmp_path, sig, cache, uninterrupted):
    out = tmp_path / "run"
    process = _run(out, cache)
    # Kill it in the middle of the second object: the first is finished, the second has masks written but
    # no item record yet.
    second_masks = out / "masks" / "cat"
    deadline = time.time() + 300
    while process.poll() is None and time.time() < deadline and not any(second_masks.glob("*.png")):
        time.sleep(0.005)
    assert process.poll() is None, "the run finished before it could be interrupted: " + process.communicate()[0]
    process.send_signal(sig)
    assert process.wait(timeout=60) != 0
    assert (out / "items" / "duck_toy.json").exists() and not (out / "items" / "cat.json").exists()
    assert not (out / "results.csv").exists()
    started = json.loads((out / "provenance.json").read_text())  # written when the run started
    assert started["status"] == "running" and started["config"]["dataset"]["objects"] == ["duck_toy", "cat"]
    for path in out.rglob(".*tmp*"):  # a torn temporary file may remain; it is never read as a result
        assert not path.name.endswith((".json", ".png", ".csv")), path
    resumed = _run(out, cache)
    assert resumed.wait(timeout=600) == 0, resumed.communicate()[0]
    record = json.loads((out / "provenance.json").read_text())
    assert record["resumed_items"] == ["duck_toy"] and record["status"] == "complete"
    assert record["fingerprint"] == started["fingerprint"]
    pd.testing.assert_frame_equal(_scores(out), _scores(uninterrupted))
    for mask in (uninterrupted / "masks").rglob("*.png"):
        assert mask.read_bytes() == (out / mask.relative_to(uninterrupted)).read_bytes(), mask


def test_a_torn_cache_entry_is_detected_and_recomputed(tmp_path):
    cache = EmbeddingCache(tmp_path)
    key = "ab" * 32
    cache.put(key, {"features": torch.ones(2), "original_size": [1, 1], "input_size": [1, 1]})
    path = next(tmp_path.glob("*/*.pt"))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a kill mid-write, without the rename
    assert cache.get(key) is None and not path.exists()


def test_two_processes_writing_one_entry_leave_a_readable_entry(tmp_path):
    code = ("import sys, torch; from persam.models import EmbeddingCache; c = EmbeddingCache(sys.argv[1]); "
            "[c.put('cd' * 32, {'features': torch.full((256, 64, 64), float(sys.argv[2]))}) for _ in range(20)]")
    writers = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(i)], cwd=REPO) for i in (1, 2)]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    entry = EmbeddingCache(tmp_path).get("cd" * 32)
    assert entry is not None and float(entry["features"][0, 0, 0]) in (1.0, 2.0)
    assert not [p for p in tmp_path.rglob(".*.tmp")]  # no temporary file left behind
    assert os.listdir(tmp_path)


def test_the_item_loop_plans_for_the_items_left_to_compute(tmp_path):
    from persam.experiments.item_loop import run_items

    units = {"a": 3, "b": 5, "c": 7}

    def compute(name, bar):
        bar.update(units[name])
        return {"rows": [name]}

    planned = []
    run_items(["a", "b"], units.get, compute, tmp_path, "key", "test", "img", progress=False, plan=planned.append)
    result = run_items(list(units), units.get, compute, tmp_path, "key", "test", "img", progress=False,
                       plan=planned.append)
    assert planned == [8, 7]  # the second run reuses a and b: only c's images are left to decode
    assert result.reused == ["a", "b"] and [r["rows"] for r in result.records.values()] == [["a"], ["b"], ["c"]]
