"""The one folder loop (persam.segment.folder) behind its three callers: ``persam segment``, the app's runs and
``persam dreambooth-masks`` write ``scores.csv`` with the same columns (real MobileSAM, bundled sample); every
user entry refuses an oracle method with the same message."""

from __future__ import annotations

import csv

import pytest
from conftest import SAMPLE

from persam.app.engine import Engine
from persam.cli import main as cli_main
from persam.data.io import read_image, read_mask
from persam.segment.folder import SCORES_COLUMNS

CAT = SAMPLE / "Images" / "cat"


def header_and_rows(path):
    with path.open() as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def test_segment_app_and_dreambooth_masks_write_one_scores_schema(tmp_path):
    from persam.models import EmbeddingCache

    ref, ref_mask = CAT / "00.jpg", SAMPLE / "Annotations" / "cat" / "00.png"
    assert cli_main(["segment", "--ref-image", str(ref), "--ref-mask", str(ref_mask), "--images", str(CAT / "01.jpg"),
                     "--out", str(tmp_path / "segment"), "--device", "cpu"]) == 0
    engine = Engine(tmp_path / "app", EmbeddingCache(tmp_path / "embeddings"))
    result = engine.run(engine.predictor(), "persam", read_image(ref), read_mask(ref_mask), [CAT / "01.jpg"])
    assert cli_main(["dreambooth-masks", "--subject-dir", str(CAT), "--ref-mask", str(ref_mask), "--method", "persam",
                     "--out", str(tmp_path / "dreambooth"), "--device", "cpu"]) == 0
    tables = {"segment": header_and_rows(tmp_path / "segment" / "scores.csv"),
              "app": header_and_rows(result.downloads[2]),
              "dreambooth-masks": header_and_rows(tmp_path / "dreambooth" / "scores.csv")}
    for caller, (header, _) in tables.items():
        assert header == list(SCORES_COLUMNS) == ["file", "present", "score", "instances"], caller
    (segment,), (app,) = tables["segment"][1], tables["app"][1]
    assert segment[0] == app[0] == "01.jpg" and segment[1] == app[1] == "1" and segment[3] == app[3] == "1"
    assert float(segment[2]) > 0.5 and float(app[2]) > 0.5  # PerSAM's presence score (the check: segment only)
    dreambooth = tables["dreambooth-masks"][1]
    assert [row[0] for row in dreambooth] == ["00.jpg", "01.jpg", "02.jpg"]
    assert all(row[1] == "1" and row[3] == "1" for row in dreambooth) and dreambooth[0][2] == ""  # 00: the reference


@pytest.mark.parametrize("command", [["segment", "--ref-image", str(CAT / "00.jpg"), "--ref-point", "400,700",
                                      "--images", str(CAT / "01.jpg")],
                                     ["track", "--frames", str(CAT), "--ref-point", "400,700"]])
def test_segment_and_track_refuse_an_oracle_method(tmp_path, capsys, command):
    assert cli_main([*command, "--out", str(tmp_path / "o"), "--method", "baseline_oracle_box", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: method 'baseline_oracle_box'") and "reads the ground truth" in err and "\n" not in err
