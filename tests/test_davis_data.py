"""The DAVIS reader: layout, 2017 palette and 2016 binary annotations, split files and explicit lists, and
named-but-absent sequences as errors; the video configs compose."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
from davis_util import SHARED_DAVIS as DAVIS
from davis_util import needs_shared_davis
from PIL import Image

from persam.config import compose
from persam.data.davis import load_davis, read_annotation, split_names
from persam.data.io import DEFAULT_PALETTE, DataError
from persam.methods import PerSAMConfig

PALETTE = [7, 8, 9] + DEFAULT_PALETTE[3:]


def _sequence(root, name, frames=3, labels=(0, 1, 2, 255), mode="P"):
    (root / "JPEGImages" / "480p" / name).mkdir(parents=True, exist_ok=True)
    (root / "Annotations" / "480p" / name).mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        Image.fromarray(np.zeros((8, 12, 3), np.uint8)).save(root / "JPEGImages" / "480p" / name / f"{i:05d}.jpg")
        values = np.array(labels, dtype=np.uint8)[np.arange(8 * 12).reshape(8, 12) % len(labels)]
        mask = Image.fromarray(values, mode=mode)
        if mode == "P":
            mask.putpalette(PALETTE)
        mask.save(root / "Annotations" / "480p" / name / f"{i:05d}.png")


@pytest.fixture
def davis(tmp_path):
    for name in ("aa", "bb", "cc"):
        _sequence(tmp_path, name)
    (tmp_path / "ImageSets" / "2017").mkdir(parents=True)
    (tmp_path / "ImageSets" / "2017" / "val.txt").write_text("aa\nbb\n")
    (tmp_path / "ImageSets" / "2017" / "train.txt").write_text("cc\n")
    return tmp_path


def test_reads_split_list_and_palette(davis):
    seqs = load_davis(davis)
    assert [s.name for s in seqs] == ["aa", "bb"]
    assert [s.name for s in load_davis(davis, split="train")] == ["cc"]
    assert [s.name for s in load_davis(davis, ["cc", "aa"])] == ["cc", "aa"]
    assert [s.name for s in load_davis(davis, "bb,cc")] == ["bb", "cc"]
    listed = davis / "mine.txt"
    listed.write_text("cc\n\nbb\n")
    assert [s.name for s in load_davis(davis, split=str(listed))] == ["cc", "bb"]
    seq = seqs[0]
    assert seq.stems == ["00000", "00001", "00002"]
    labels = seq.annotation(0)
    assert labels.dtype == np.uint8 and set(np.unique(labels)) == {0, 1, 2, 255}  # 255 (void) kept for 2017
    assert seq.palette() == PALETTE


def test_davis2016_binary_masks_are_one_object(tmp_path):
    _sequence(tmp_path, "bin", labels=(0, 255), mode="L")
    seq = load_davis(tmp_path, ["bin"], year=2016)[0]
    assert set(np.unique(seq.annotation(1))) == {0, 1}
    assert set(np.unique(read_annotation(seq.frames[1][2], 2017))) == {0, 255}  # read as 2017, 255 would be void


def test_named_but_absent_sequences_are_errors(davis):
    with pytest.raises(DataError, match="sequences not found: zz, yy"):
        load_davis(davis, ["aa", "zz", "yy"])
    (davis / "ImageSets" / "2017" / "val.txt").write_text("aa\nghost\n")
    with pytest.raises(DataError, match="ghost"):
        load_davis(davis)
    with pytest.raises(DataError, match="split 'test-dev' not found"):
        load_davis(davis, split="test-dev")
    (davis / "Annotations" / "480p" / "bb" / "00001.png").unlink()
    with pytest.raises(DataError, match="00001.jpg: frame has no annotation"):
        load_davis(davis, ["bb"])
    with pytest.raises(DataError, match="not a folder"):
        load_davis(davis / "nowhere")


def test_missing_frames_are_errors(davis):
    (davis / "JPEGImages" / "480p" / "aa" / "00001.jpg").unlink()  # a frame lost, its annotation still there
    with pytest.raises(DataError, match="aa/00001.png: annotation has no frame"):
        load_davis(davis, ["aa"])
    (davis / "Annotations" / "480p" / "aa" / "00001.png").unlink()  # both lost: a gap in the numbering
    with pytest.raises(DataError, match="frame 00001 is missing"):
        load_davis(davis, ["aa"])


@needs_shared_davis
def test_real_davis_subset():
    names = split_names(DAVIS, "val_available")
    seqs = load_davis(DAVIS, split="val_available")
    assert [s.name for s in seqs] == names and len(seqs) == 13
    assert sum(len(s.frames) for s in seqs) == 934
    first = seqs[0].annotation(0)
    assert first.shape == (480, 854) and set(np.unique(first)) == {0, 1}
    assert seqs[0].palette()[:6] == [0, 0, 0, 128, 0, 0]
    with pytest.raises(DataError, match="sequences not found: bike-packing"):  # val lists 30; 17 are absent here
        load_davis(DAVIS, split="val")


def _compose(*overrides, hydra=False):
    return compose(overrides, return_hydra_config=hydra)


def test_video_configs_compose():
    cfg = _compose("experiment=table2", hydra=True)
    assert cfg.dataset.name == "davis2017" and cfg.dataset.task == "video" and cfg.experiment_name == "table2"
    assert {"persam", "persam_f"} <= set(cfg.hydra.sweeper.params.method.split(","))
    known = {f.name for f in fields(PerSAMConfig)}
    for method in ("persam", "persam_f"):
        video = _compose(f"method={method}").method.video
        assert set(video.settings) <= known, method
        PerSAMConfig(**video.settings)
    assert _compose("method=persam").method.video.settings.topk == 2
    persam_f = _compose("method=persam_f").method.video.settings
    assert persam_f.topk == 1 and persam_f.fit_steps == 800 and persam_f.fit_lr == pytest.approx(4e-4)
    old = _compose("dataset=davis2016", "dataset.sequences=[blackswan,dog]")
    assert old.dataset.year == 2016 and old.dataset.task == "video" and list(old.dataset.sequences) == ["blackswan", "dog"]
