"""persam's allocator setting (persam/allocator.py): large tensors come from the heap, not from fresh mappings."""

from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# In a fresh process (the setting is process-wide and once only): apply it or not, then allocate a 64 MB tensor
# and say whether its buffer lies in the [heap] mapping of /proc/self/maps.
PROBE = """
import json, sys
from persam.allocator import keep_large_buffers
applied = keep_large_buffers()
import torch
buffer = torch.empty(16 * 2**20, dtype=torch.float32)
address = buffer.data_ptr()
heap = []
for line in open("/proc/self/maps"):
    if line.rstrip().endswith("[heap]"):
        start, end = (int(v, 16) for v in line.split()[0].split("-"))
        heap.append(start <= address < end)
print(json.dumps({"applied": applied, "in_heap": any(heap)}))
"""

glibc = sys.platform.startswith("linux") and "libc.so.6" in (ctypes.util.find_library("c") or "")


def probe(**env: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, check=True,
                          env={**os.environ, **env})
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not glibc, reason="the setting is glibc's mallopt")
def test_large_tensors_come_from_the_heap_with_the_setting_and_from_fresh_mappings_without():
    assert probe(PERSAM_MALLOC="") == {"applied": True, "in_heap": True}
    assert probe(PERSAM_MALLOC="default") == {"applied": False, "in_heap": False}


@pytest.mark.skipif(not glibc, reason="the setting is glibc's mallopt")
def test_the_setting_is_recorded_in_provenance():
    code = ("import json; from persam.allocator import keep_large_buffers; keep_large_buffers(); "
            "from persam.experiments.provenance import machine; print(json.dumps(machine()['malloc']))")
    for env, expected in (("", "persam.allocator"), ("default", "C library default")):
        done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                              env={**os.environ, "PERSAM_MALLOC": env})
        assert expected in json.loads(done.stdout.strip().splitlines()[-1])
