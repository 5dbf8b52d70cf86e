"""``persam dreambooth-masks`` on the bundled sample: real MobileSAM, PerSAM-F, masks checked against the ground
truth."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLE
from dreambooth_tiny import one_thread  # noqa: F401  (a fixture)
from PIL import Image

from persam.cli import main
from persam.data.io import read_mask

pytestmark = pytest.mark.usefixtures("one_thread")


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def check_masks(out, obj: str, min_iou: float = 0.9) -> dict[str, float]:
    scores = {}
    for gt_path in sorted((SAMPLE / "Annotations" / obj).glob("*.png")):
        path = out / gt_path.name
        with Image.open(path) as image:
            assert image.mode == "P", f"{path}: not a palette PNG"
        scores[gt_path.stem] = iou(read_mask(path), read_mask(gt_path))
    assert min(scores.values()) >= min_iou, f"{obj}: IoU per photo {scores}"
    return scores


@pytest.mark.parametrize("obj", ["cat", pytest.param("colorful_sneaker", marks=pytest.mark.slow),
                                 pytest.param("duck_toy", marks=pytest.mark.slow)])
def test_masks_from_a_reference_mask(tmp_path, obj, capsys):
    out = tmp_path / obj
    rc = main(["dreambooth-masks", "--instance-dir", str(SAMPLE / "Images" / obj),
               "--ref-mask", str(SAMPLE / "Annotations" / obj / "00.png"), "--out", str(out), "--device", "cpu"])
    assert rc == 0
    check_masks(out, obj)
    sheet = np.asarray(Image.open(out / "contact_sheet.png"))
    assert sheet.shape[0] == 256 and sheet.shape[1] >= 3 * 100  # one row of three tiles
    assert "not found" not in capsys.readouterr().out


def test_masks_from_a_click(tmp_path):
    gt = read_mask(SAMPLE / "Annotations" / "duck_toy" / "00.png")
    ys, xs = np.nonzero(gt)
    inside = np.argmin((xs - xs.mean()) ** 2 + (ys - ys.mean()) ** 2)  # the object pixel nearest its centroid
    out = tmp_path / "duck_toy"
    rc = main(["dreambooth-masks", "--instance-dir", str(SAMPLE / "Images" / "duck_toy"),
               "--ref-point", f"{xs[inside]},{ys[inside]}", "--out", str(out), "--device", "cpu"])
    assert rc == 0
    check_masks(out, "duck_toy")


def test_bad_input_is_one_line(tmp_path, capsys):
    rc = main(["dreambooth-masks", "--instance-dir", str(tmp_path / "nowhere"), "--ref-point", "1,2",
               "--out", str(tmp_path / "out")])
    assert rc == 2
    assert "nowhere: no such folder" in capsys.readouterr().err
    rc = main(["dreambooth-masks", "--instance-dir", str(SAMPLE / "Images" / "cat"), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "exactly one of --ref-mask and --ref-point" in capsys.readouterr().err
    rc = main(["dreambooth-masks", "--instance-dir", str(SAMPLE / "Images" / "cat"), "--ref-point", "12",
               "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "expected X,Y" in capsys.readouterr().err


def test_an_oracle_method_is_refused_in_one_line(tmp_path, capsys):
    rc = main(["dreambooth-masks", "--subject-dir", str(SAMPLE / "Images" / "cat"), "--ref-point", "400,700",
               "--out", str(tmp_path / "o"), "--method", "baseline_oracle_box", "--device", "cpu"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: method 'baseline_oracle_box'") and "reads the ground truth" in err
    assert "\n" not in err and not (tmp_path / "o").exists()
