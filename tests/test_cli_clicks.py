"""Click-to-reference on the command line (real MobileSAM, bundled sample): one click inside each object gives
the same mIoU as the ground-truth reference mask; bad clicks are one-line errors."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from conftest import SAMPLE

from persam.cli import main as cli_main
from persam.data.io import read_mask
from persam.metrics.miou import ObjectScore, mean_scores

OBJECTS = ("cat", "colorful_sneaker", "duck_toy")


def inside_point(mask: np.ndarray) -> tuple[int, int]:
    """The XY pixel of ``mask`` farthest from its border: where a person would click."""
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(distance.argmax()), distance.shape)
    return int(x), int(y)


def run_segment(out, obj, *reference):
    images = SAMPLE / "Images" / obj
    targets = [str(images / "01.jpg"), str(images / "02.jpg")]
    assert cli_main(["segment", "--ref-image", str(images / "00.jpg"), *reference, "--images", *targets,
                     "--out", str(out), "--device", "cpu"]) == 0
    score = ObjectScore()
    for stem in ("01", "02"):
        score.add(read_mask(out / "masks" / f"{stem}.png"), read_mask(SAMPLE / "Annotations" / obj / f"{stem}.png"))
    return score


@pytest.mark.slow  # 6 runs of the CLI (3 objects x mask/click): ~40 s of CPU
def test_one_click_matches_the_ground_truth_reference(tmp_path):
    from_mask, from_click = {}, {}
    for obj in OBJECTS:
        gt_ref = SAMPLE / "Annotations" / obj / "00.png"
        from_mask[obj] = run_segment(tmp_path / obj / "mask", obj, "--ref-mask", str(gt_ref))
        x, y = inside_point(read_mask(gt_ref))
        out = tmp_path / obj / "click"
        from_click[obj] = run_segment(out, obj, "--ref-point", f"{x},{y}")
        clicked = read_mask(out / "reference_mask.png")
        gt = read_mask(gt_ref)
        assert (clicked & gt).sum() / (clicked | gt).sum() > 0.8, obj  # SAM found the object from one click
        assert (out / "reference_overlay.jpg").stat().st_size > 0
    miou_mask, miou_click = mean_scores(from_mask)[0], mean_scores(from_click)[0]
    print(f"mIoU with the ground-truth reference {100 * miou_mask:.2f}, with one click {100 * miou_click:.2f}")
    assert miou_mask > 0.7
    assert abs(miou_click - miou_mask) <= 0.01


def test_bad_clicks_are_one_line_errors(tmp_path, capsys):
    ref = SAMPLE / "Images" / "cat" / "00.jpg"
    base = ["segment", "--ref-image", str(ref), "--images", str(ref), "--out", str(tmp_path / "o"), "--device", "cpu"]
    assert cli_main([*base, "--ref-point", "99999,5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {ref}: click (99999, 5) is outside") and "\n" not in err
    assert cli_main([*base, "--ref-box", "50,50,10,10"]) == 2
    assert "is not inside" in capsys.readouterr().err
    for extra in (["--ref-point", "12"], ["--ref-mask", str(ref), "--ref-point", "1,1"], []):
        with pytest.raises(SystemExit) as exit_info:
            cli_main([*base, *extra])
        assert exit_info.value.code == 2
        assert capsys.readouterr().err.strip().splitlines()[-1].startswith("persam segment: error:")


def test_track_from_a_click(tmp_path, capsys):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        shutil.copy(SAMPLE / "Images" / "duck_toy" / "00.jpg", frames / f"{i:05d}.jpg")
    gt = read_mask(SAMPLE / "Annotations" / "duck_toy" / "00.png")
    x, y = inside_point(gt)
    out = tmp_path / "out"
    assert cli_main(["track", "--frames", str(frames), "--ref-point", f"{x},{y}", "--out", str(out),
                     "--device", "cpu"]) == 0
    assert "1 = the clicked object" in capsys.readouterr().out
    first, second = read_mask(out / "masks" / "00000.png"), read_mask(out / "masks" / "00001.png")
    assert np.array_equal(first, read_mask(out / "reference_mask.png"))
    assert (second & gt).sum() / (second | gt).sum() > 0.8  # the same picture: the object is found again
