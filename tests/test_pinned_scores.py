"""Scores pinned to what this code produces on the bundled sample (real MobileSAM weights), so a regression
of a tenth of a point fails: per-object IoU (%) of PerSAM, PerSAM-F, PerSAM+ and both baselines through the
runner (tolerance 0.05 points), and `persam segment`, whose masks must be the runner's masks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLE
from PIL import Image

from persam.cli import main as cli_main
from persam.config import compose
from persam.data.io import read_mask
from persam.experiments.evaluate import evaluate

# Per-object IoU (%) on the sample's targets 01 and 02 (the original PerSAM code scores the same for PerSAM
# and PerSAM-F on these images: ../shared/peer/original-persam/image_iou.csv). The tests' predictor: torch fp32
# encoder, eager decoder; PerSAM+ re-measured with this code on an AMD EPYC, 2 cores (as
# tests/test_persam_plus.py's SAMPLE_IOU, which scores the method directly).
PINNED = {
    "persam": {"cat": 93.1308, "colorful_sneaker": 93.0752, "duck_toy": 97.2638},
    "persam_f": {"cat": 93.5217, "colorful_sneaker": 93.8980, "duck_toy": 97.3421},
    "baseline_similarity": {"cat": 80.7420, "colorful_sneaker": 67.8727, "duck_toy": 79.9730},
    "baseline_oracle_box": {"cat": 92.7819, "colorful_sneaker": 93.3734, "duck_toy": 97.5642},
    "persam_plus": {"cat": 93.1618, "colorful_sneaker": 93.0161, "duck_toy": 97.3478},
}


def _cfg(method: str):
    return compose(["progress=false", f"method={method}", "outputs.overlays=false"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory, predictor):
    out = tmp_path_factory.mktemp("pinned")
    for method in PINNED:
        evaluate(_cfg(method), out / method, predictor=predictor)
    return out


@pytest.mark.parametrize("method", list(PINNED))
def test_per_object_iou_is_pinned(runs, method):
    rows = pd.read_csv(runs / method / "results.csv")
    iou = rows[rows.metric == "iou"].set_index("item")["value"].to_dict()
    assert iou == pytest.approx(PINNED[method], abs=0.05)


def test_segment_command_writes_the_runners_masks(runs, tmp_path, embedding_cache, monkeypatch):
    monkeypatch.setenv("PERSAM_CACHE_DIR", str(embedding_cache.root))
    cat = SAMPLE / "Images" / "cat"
    assert cli_main(["segment", "--ref-image", str(cat / "00.jpg"), "--ref-mask",
                     str(SAMPLE / "Annotations" / "cat" / "00.png"), "--images", str(cat / "01.jpg"),
                     str(cat / "02.jpg"), "--out", str(tmp_path), "--method", "persam", "--device", "cpu"]) == 0
    for stem in ("01", "02"):
        written = np.array(Image.open(tmp_path / "masks" / f"{stem}.png")) > 0
        runner = np.array(Image.open(runs / "persam" / "masks" / "cat" / f"{stem}.png")) > 0
        assert np.array_equal(written, runner)
        gt = read_mask(SAMPLE / "Annotations" / "cat" / f"{stem}.png", written.shape)
        assert (written & gt).sum() / (written | gt).sum() > 0.9
