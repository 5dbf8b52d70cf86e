"""The davis_perseg derivation (data_prep/davis_to_perseg.py) on the bundled DAVIS clip: frame 0 is the
reference 00, the frames round(linspace(0, n-1, 6))[1:] are the targets 01..05, images copied byte for byte,
masks PerSeg palette PNGs {0, 1} equal to the DAVIS object."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from davis_util import DAVIS
from PIL import Image

from persam.data.davis import read_annotation
from persam.data.perseg import load_perseg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "data_prep"))
from davis_to_perseg import target_indices  # noqa: E402


def test_target_frames_follow_the_stated_rule():
    assert target_indices(6) == [1, 2, 3, 4, 5]
    assert target_indices(50) == [10, 20, 29, 39, 49]  # numpy rounds half to even, as the peers' numpy.rint
    assert target_indices(81) == [16, 32, 48, 64, 80]


def test_derivation_on_real_frames(tmp_path):
    done = subprocess.run([sys.executable, "data_prep/davis_to_perseg.py", "--davis", str(DAVIS), "--out",
                           str(tmp_path), "--sequences", "blackswan", "dog"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    objects = load_perseg(tmp_path)
    assert [o.name for o in objects] == ["blackswan", "dog"]
    for obj in objects:
        assert [stem for stem, _, _ in obj.references] == ["00"]
        assert [stem for stem, _, _ in obj.targets] == ["01", "02", "03", "04", "05"]
        for new, old in zip(["00", "01", "02", "03", "04", "05"], range(6), strict=True):
            source = DAVIS / "JPEGImages" / "480p" / obj.name / f"{old:05d}.jpg"
            assert (tmp_path / "Images" / obj.name / f"{new}.jpg").read_bytes() == source.read_bytes()
            mask = Image.open(tmp_path / "Annotations" / obj.name / f"{new}.png")
            truth = read_annotation(DAVIS / "Annotations" / "480p" / obj.name / f"{old:05d}.png") == 1
            assert mask.mode == "P" and np.array_equal(np.array(mask) == 1, truth)
            assert set(np.unique(np.array(mask))) == {0, 1}


def test_a_missing_sequence_is_an_error(tmp_path):
    done = subprocess.run([sys.executable, "data_prep/davis_to_perseg.py", "--davis", str(DAVIS), "--out",
                           str(tmp_path), "--sequences", "ghost"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode != 0 and "ghost: sequence not found" in done.stderr
