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


@pytest.mark.slow  # three real runs in subprocesses: minutes on 2 CPU cores
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_run_resumes_and_matches_an_uninterrupted_one(tmp_path, sig):
    out, cache = tmp_path / "run", tmp_path / "cache"
    process = _run(out, cache)
    first_item = out / "items" / "duck_toy.json"
    deadline = time.time() + 240
    while not first_item.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert first_item.exists(), process.communicate()[0]
    process.send_signal(sig)
    process.wait(timeout=60)
    assert not (out / "results.csv").exists()
    leftovers = [p for p in out.rglob(".*.tmp*")]
    for path in leftovers:  # a torn temporary file may remain; it is never read as a result
        assert not path.name.endswith((".json", ".png", ".csv"))
    resumed = _run(out, cache)
    assert resumed.wait(timeout=600) == 0, resumed.communicate()[0]
    record = json.loads((out / "provenance.json").read_text())
    assert record["resumed_items"] == ["duck_toy"]
    fresh = _run(tmp_path / "fresh", cache)
    assert fresh.wait(timeout=600) == 0
    columns = ["item", "metric", "value"]
    got = pd.read_csv(out / "results.csv")
    want = pd.read_csv(tmp_path / "fresh" / "results.csv")
    keep = ~got.metric.isin(["sec_per_image", "fit_sec"])
    pd.testing.assert_frame_equal(got[keep][columns].reset_index(drop=True),
                                  want[~want.metric.isin(["sec_per_image", "fit_sec"])][columns].reset_index(drop=True))


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
    assert not [p for p in tmp_path.rglob(".tmp-*")]
    assert os.listdir(tmp_path)
