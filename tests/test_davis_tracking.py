"""Video tracking with real MobileSAM weights on a few frames of real DAVIS sequences: the runner's results
contract, palette PNGs the official scorer reads, resume, two objects with their own indices, Table 2, and
the ``persam track`` command."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from davis_util import DAVIS, copy_sequence, write_merged_sequence
from PIL import Image

from persam.cli import main as cli_main
from persam.config import compose
from persam.data.davis import load_davis
from persam.data.io import DataError, read_image
from persam.experiments.evaluate import evaluate
from persam.experiments.records import COLUMNS
from persam.methods import PerSAM, PerSAMConfig
from persam.methods.video import VideoConfig, box_prompts, resolve_overlaps, start, step

FRAMES = 4  # frame 0 given, frames 1-2 scored, frame 3 tracked but not scored (DAVIS protocol)
# J and F (%) pinned at +-0.05 points: re-measured with this code through the tests' predictor (torch fp32 encoder,
# eager decoder, real MobileSAM weights) on an Intel Xeon (AVX-512) with 2 cores; the same to 4 decimals with 1 and
# 2 threads. PerSAM on each sequence of the bundled clip (persam/sample_data/davis, 6 frames each):
CLIP = {"blackswan": (94.6618, 96.3638), "dog": (92.7559, 93.3269), "goat": (91.5137, 92.2812)}
FOUR_FRAMES = (93.6296, 95.3637)  # PerSAM, blackswan's first FRAMES frames
GOAT_DOG = {"goat-dog/1": (92.2638, 93.0447), "goat-dog/2": (91.0910, 85.8008)}  # PerSAM-F, the two-object clip


def make_cfg(*overrides: str):
    return compose(["progress=false", "dataset=davis2017", *overrides])


@pytest.fixture(scope="module")
def davis_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("davis")
    copy_sequence(root, "blackswan", FRAMES)
    write_merged_sequence(root, "goat-dog", 3, "goat", "dog")
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("blackswan\ngoat-dog\n")
    return root


def test_box_prompts_and_overlaps():
    prompts = box_prompts(np.array([5.0, 20, 100, 60]), (64, 104), VideoConfig())
    assert prompts.box.tolist() == [0, 10, 104, 64]  # widened by 10 px, clipped to the frame
    assert prompts.points.tolist() == [[52, 37]] and prompts.labels.tolist() == [1]
    import torch

    a = torch.tensor([[1.0, 3.0, -1.0], [2.0, -2.0, -5.0]])
    b = torch.tensor([[2.0, 1.0, -3.0], [2.0, -1.0, 0.0]])
    labels = resolve_overlaps({1: a, 7: b}, (2, 3))
    assert labels.tolist() == [[7, 1, 0], [1, 0, 0]]  # highest logit wins; ties to the lower id; none > 0: background


def test_run_tracks_scores_and_writes_davis_pngs(tmp_path, predictor, davis_root):
    cfg = make_cfg(f"dataset.root={davis_root}", "dataset.sequences=[blackswan]", "method=persam", "experiment_name=test")
    calls = predictor.encoder_calls
    rows = evaluate(cfg, tmp_path / "run", predictor=predictor)
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert list(results.columns) == COLUMNS and len(results) == len(rows)
    by = results.set_index(["item", "metric"])["value"]
    assert (by[("blackswan", "J")], by[("blackswan", "F")]) == pytest.approx(FOUR_FRAMES, abs=0.05)
    assert by[("ALL", "J&F")] == pytest.approx((by[("ALL", "J")] + by[("ALL", "F")]) / 2)
    assert {("ALL", "sec_per_image_post_encoder"), ("blackswan", "J_decay")} <= set(by.index)
    palette = Image.open(DAVIS / "Annotations" / "480p" / "blackswan" / "00000.png").getpalette()
    for i in range(FRAMES):
        png = Image.open(tmp_path / "run" / "masks" / "blackswan" / f"{i:05d}.png")
        assert png.mode == "P" and png.getpalette() == palette and png.size == (854, 480)
        assert set(np.unique(np.array(png))) == {0, 1}
    prov = json.loads((tmp_path / "run" / "provenance.json").read_text())
    assert prov["data"]["frames"] == FRAMES - 1 and prov["data"]["items"] == ["blackswan"]
    video = prov["method_settings"]["video"]
    assert video["settings"]["topk"] == 2 and video["tracker"]["box_margin"] == 10
    assert predictor.encoder_calls - calls <= FRAMES
    # The same settings again: the finished sequence is reused, nothing is encoded or decoded.
    again = evaluate(cfg, tmp_path / "run", predictor=predictor)
    assert json.loads((tmp_path / "run" / "provenance.json").read_text())["resumed_items"] == ["blackswan"]
    scores = [r["value"] for r in rows if r["metric"] in ("J", "F")]
    assert [r["value"] for r in again if r["metric"] in ("J", "F")] == scores


def test_two_objects_keep_their_indices(tmp_path, predictor, davis_root):
    cfg = make_cfg(f"dataset.root={davis_root}", "dataset.sequences=[goat-dog]", "method=persam_f")
    evaluate(cfg, tmp_path / "run", predictor=predictor)
    by = pd.read_csv(tmp_path / "run" / "results.csv").set_index(["item", "metric"])["value"]
    for item, pinned in GOAT_DOG.items():
        assert (by[(item, "J")], by[(item, "F")]) == pytest.approx(pinned, abs=0.05), item
    assert {("goat-dog/1", "fit_sec"), ("goat-dog/2", "fit_sec")} <= set(by.index)
    masks = [np.array(Image.open(tmp_path / "run" / "masks" / "goat-dog" / f"{i:05d}.png")) for i in range(3)]
    for labels in masks:
        assert set(np.unique(labels)) == {0, 1, 2}
        assert (labels[:, :427] == 2).sum() < 500 and (labels[:, 427:] == 1).sum() < 500  # each on its own side

    seq = load_davis(davis_root, ["goat-dog"])[0]  # the library API: the caller holds the per-object state
    method = PerSAM(predictor, PerSAMConfig(topk=2, negative_prior=False, guided_attention=False,
                                            semantic_prompting=False, refine_box_from_first_step=True))
    states = start(method, predictor.embed(read_image(seq.frames[0][1])), seq.annotation(0))
    assert [s.object_id for s in states] == [1, 2]
    result, new_states = step(method, predictor.embed(read_image(seq.frames[1][1])), states)
    assert set(result.predictions) == {1, 2} and new_states[0].box is not states[0].box
    assert set(np.unique(result.labels)) == {0, 1, 2}



def test_video_task_j_and_f_equals_vos_benchmark_on_the_masks_it_wrote(tmp_path, predictor):
    """Table 2's J&F is the one the oracle test checks: a real video run on every sequence of the bundled clip,
    its results.csv against vos-benchmark scoring the PNGs the run wrote (first and last frames left out), and
    each sequence's J and F pinned."""
    from vos_benchmark.benchmark import benchmark

    cfg = make_cfg(f"dataset.root={DAVIS}", f"dataset.sequences=[{','.join(CLIP)}]", "method=persam",
                   "outputs.overlays=false")
    evaluate(cfg, tmp_path / "run", predictor=predictor)
    by = pd.read_csv(tmp_path / "run" / "results.csv").set_index(["item", "metric"])["value"]
    for name, pinned in CLIP.items():
        assert (by[(name, "J")], by[(name, "F")]) == pytest.approx(pinned, abs=0.05), name
        # every frame: the oracle leaves out the first and last, as the protocol
        shutil.copytree(DAVIS / "Annotations" / "480p" / name, tmp_path / "gt" / name)
        shutil.copytree(tmp_path / "run" / "masks" / name, tmp_path / "pred" / name)
    [jf], [j], [f], _ = benchmark([str(tmp_path / "gt")], [str(tmp_path / "pred")], num_processes=1, verbose=False)
    assert by[("ALL", "J&F")] == pytest.approx(jf, abs=1e-6)
    assert by[("ALL", "J")] == pytest.approx(j, abs=1e-6) and by[("ALL", "F")] == pytest.approx(f, abs=1e-6)


def test_a_method_that_cannot_track_says_so(tmp_path, predictor):
    cfg = make_cfg(f"dataset.root={DAVIS}", "dataset.split=sample", "method=baseline_similarity")
    with pytest.raises(DataError, match=r"baseline_similarity\.yaml: method 'baseline_similarity' cannot track video"):
        evaluate(cfg, tmp_path / "run", predictor=predictor)


def test_missing_sequence_is_an_error(tmp_path, predictor, davis_root):
    cfg = make_cfg(f"dataset.root={davis_root}", "dataset.sequences=[blackswan,ghost]")
    with pytest.raises(DataError, match="sequences not found: ghost"):
        evaluate(cfg, tmp_path / "run", predictor=predictor)


def test_track_command(tmp_path, davis_root, embedding_cache, monkeypatch, capsys):
    monkeypatch.setenv("PERSAM_CACHE_DIR", str(embedding_cache.root))  # frames already encoded by the tests above
    frames = davis_root / "JPEGImages" / "480p" / "goat-dog"
    ref = davis_root / "Annotations" / "480p" / "goat-dog" / "00000.png"
    assert cli_main(["track", "--frames", str(frames), "--ref-mask", str(ref), "--out", str(tmp_path / "out"),
                     "--device", "cpu"]) == 0
    masks = sorted((tmp_path / "out" / "masks").glob("*.png"))
    assert [m.stem for m in masks] == ["00000", "00001", "00002"]
    assert set(np.unique(np.array(Image.open(masks[-1])))) == {0, 1, 2}
    gif = Image.open(tmp_path / "out" / "overlay.gif")
    assert gif.n_frames == 3
    assert "overlay video" in capsys.readouterr().out
    empty = tmp_path / "empty.png"
    Image.fromarray(np.zeros((480, 854), np.uint8)).save(empty)
    assert cli_main(["track", "--frames", str(frames), "--ref-mask", str(empty), "--out", str(tmp_path / "x")]) == 2
    assert "reference mask is empty" in capsys.readouterr().err


def test_first_annotation_without_an_object_is_an_error(tmp_path, predictor, davis_root):
    root = tmp_path / "davis"
    shutil.copytree(davis_root, root)
    first = root / "Annotations" / "480p" / "blackswan" / "00000.png"
    with Image.open(first) as image:
        empty = Image.fromarray(np.zeros((image.height, image.width), np.uint8), mode="P")
        empty.putpalette(image.getpalette())
    empty.save(first)
    cfg = make_cfg(f"dataset.root={root}", "dataset.sequences=[blackswan]")
    with pytest.raises(DataError, match="blackswan/00000.png: the first annotation holds no object"):
        evaluate(cfg, tmp_path / "run", predictor=predictor)


@pytest.mark.parametrize("reacquire", [False, True])
def test_an_object_that_leaves_the_video_and_comes_back(predictor, davis_root, reacquire):
    """Frames: the swan, a frame without it (goat and dog), the swan again (two frames). Nothing raises and every
    output has the frame's shape. While the swan is away PerSAM still segments the most similar thing and the
    box prompt follows it; with ``reacquire`` the swan is found again as soon as it is back (IoU % pinned,
    measured as CLIP above)."""
    swan = load_davis(davis_root, ["blackswan"])[0]
    away = load_davis(davis_root, ["goat-dog"])[0]
    method = PerSAM(predictor, PerSAMConfig(topk=2, negative_prior=False, guided_attention=False,
                                            semantic_prompting=False, refine_box_from_first_step=True))
    config = VideoConfig(reacquire=reacquire)
    states = start(method, predictor.embed(read_image(swan.frames[0][1])), swan.annotation(0), config=config)
    ious = []
    for frame, gt in ((away.frames[0][1], None), (swan.frames[2][1], swan.annotation(2)),
                      (swan.frames[3][1], swan.annotation(3))):
        image = read_image(frame)
        result, states = step(method, predictor.embed(image), states, config)
        assert result.labels.shape == image.shape[:2] and result.labels.dtype == np.uint8
        assert set(np.unique(result.labels)) <= {0, 1} and len(states) == 1
        if gt is not None:
            found, truth = result.labels == 1, gt == 1
            ious.append(100 * (found & truth).sum() / (found | truth).sum())
    # without reacquire the box stays on what the away frame offered
    assert ious == pytest.approx([95.9886, 95.8854] if reacquire else [41.4091, 29.3839], abs=0.05)
