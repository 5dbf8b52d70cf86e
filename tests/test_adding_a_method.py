"""The "Adding a method" walkthrough of docs/methods.md, run as written: a method kept outside the package (its own
module and config folder) goes into Table 1 beside PerSAM, with no file of persam touched."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LABEL = "SAM with the 3 most similar points"


def walkthrough() -> str:
    text = (REPO / "docs" / "methods.md").read_text()
    block = re.search(r"<!-- adding-a-method:begin -->\n```bash\n(.*?)```\n<!-- adding-a-method:end -->", text, re.S)
    assert block, "docs/methods.md lost its 'Adding a method' walkthrough"
    # The walkthrough runs .venv's Python; a test runs the interpreter it was started with (the same one under make).
    return block.group(1).replace(".venv/bin/python", sys.executable)


def _package_state() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "persam"], cwd=REPO,
                          capture_output=True, text=True).stdout


def test_the_readme_walkthrough_adds_a_method_to_table1(tmp_path, embedding_cache):
    before = _package_state()
    env = {**os.environ, "SCRATCH": str(tmp_path), "PERSAM_CACHE_DIR": str(embedding_cache.root)}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", walkthrough()], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    readme = (tmp_path / "table1" / "README.md").read_text()
    rows = {line.split("|")[1].strip() for line in readme.splitlines() if line.startswith("| ")}
    assert {"PerSAM", LABEL} <= rows, rows
    assert LABEL in done.stdout  # the walkthrough's last command shows the table
    assert _package_state() == before  # nothing inside the package or its configs was written


def test_an_unknown_key_of_an_outside_method_names_the_key_and_its_file(tmp_path):
    files_only = walkthrough().split("PYTHONPATH=")[0]
    subprocess.run(["bash", "-euo", "pipefail", "-c", files_only], cwd=REPO, check=True,
                   env={**os.environ, "SCRATCH": str(tmp_path)})
    done = subprocess.run([sys.executable, "-m", "persam.run", f"hydra.searchpath=[file://{tmp_path}/my_conf]",
                           "method=topk_points", "+method.kk=3", f"hydra.run.dir={tmp_path}/bad"],
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(tmp_path / "my_methods")},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    expected = (f"error: {tmp_path}/my_conf/method/topk_points.yaml: unknown key 'kk' for TopKPoints "
                "(it takes: k)")
    assert done.stderr.strip().splitlines()[-1] == expected
