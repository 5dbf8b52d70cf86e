"""DreamBooth training end to end on the CPU: a tiny Stable Diffusion pipeline (random weights, saved as a
pretrained folder) fine-tuned on the bundled sample's cat photos with class images it generates itself."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SAMPLE
from dreambooth_tiny import one_thread, save_tiny_pipeline  # noqa: F401  (one_thread: a fixture)
from omegaconf import OmegaConf
from wandb_records import offline_runs, records

from persam.config import compose
from persam.data.io import DataError, read_mask
from persam.dreambooth.train import train

REPO = Path(__file__).resolve().parents[1]
PHOTOS = SAMPLE / "Images" / "cat"

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny") / "pipeline")


@pytest.fixture(scope="module")
def class_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("class_images")  # filled by the first run, reused by the others


def config(tiny_model: Path, class_dir: Path, output_dir: Path, *overrides: str):
    """The real config (persam/conf/dreambooth/default.yaml) scaled down to the tiny pipeline."""
    return compose([
        f"pretrained_model={tiny_model}", f"instance.dir={PHOTOS}", "instance.prompt=a photo of sks cat",
        "class_data.prompt=a photo of cat", f"class_data.dir={class_dir}", "class_data.num_images=3",
        "class_data.inference_steps=2", "resolution=64", "train.lr=1e-3", "samples.at_steps=[]",
        "samples.inference_steps=2", "samples.per_prompt=1", "logger.mode=disabled", f"output_dir={output_dir}",
        f"masks.dir={SAMPLE / 'Annotations' / 'cat'}", *overrides], "default", group="dreambooth")


def unet_weights(folder: Path) -> dict[str, torch.Tensor]:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel.from_pretrained(folder, subfolder="unet").state_dict()


def test_checkpoints_load_as_pipelines_and_a_resumed_run_matches_an_uninterrupted_one(tiny_model, class_dir, tmp_path):
    from diffusers import StableDiffusionPipeline

    whole = train(config(tiny_model, class_dir, tmp_path / "whole", "train.steps=3", "checkpoint.every=3"))
    assert whole.start_step == 0
    assert len(list(class_dir.glob("class-*.png"))) == 3
    first = train(config(tiny_model, class_dir, tmp_path / "split", "train.steps=2", "checkpoint.every=2"))
    checkpoint = tmp_path / "split" / "checkpoints" / "checkpoint-2"
    assert (checkpoint / "optimizer.bin").is_file() and first.start_step == 0

    pipe = StableDiffusionPipeline.from_pretrained(checkpoint, safety_checker=None)
    image = pipe("a photo of sks cat", height=64, width=64, num_inference_steps=2,
                 generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (64, 64) and np.asarray(image).std() > 0
    trained, pretrained = unet_weights(checkpoint), unet_weights(tiny_model)
    assert any(not torch.equal(trained[k], pretrained[k]) for k in trained), "training changed nothing"

    resumed = train(config(tiny_model, class_dir, tmp_path / "split", "train.steps=3", "checkpoint.every=3"))
    assert resumed.start_step == 2
    a, b = unet_weights(resumed.pipeline), unet_weights(whole.pipeline)
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 1e-6, f"resumed run differs from the uninterrupted one by {worst}"


def history(run_dir: Path) -> list[dict]:
    (path,) = run_dir.glob("run-*.wandb")
    rows = []
    for record in records(path):
        if record.WhichOneof("record_type") == "history":
            row = {item.key or ".".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            rows.append({**row, "step": record.history.step.num})
    return rows


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_both_mask_modes_log_their_losses_and_samples_to_wandb(tiny_model, class_dir, tmp_path):
    common = ("train.steps=2", "checkpoint.every=0", "samples.at_steps=[2]", "logger.mode=offline")
    with_masks = config(tiny_model, class_dir, tmp_path / "persam", *common, "mask_mode=persam", "masks.dir=null",
                        f"masks.ref_mask={SAMPLE / 'Annotations' / 'cat' / '00.png'}")
    train(with_masks)
    train(config(tiny_model, class_dir, tmp_path / "none", *common, "mask_mode=none"))

    for photo in PHOTOS.glob("*.jpg"):  # the masks PerSAM-F computed for training
        computed = read_mask(tmp_path / "persam" / "masks" / f"{photo.stem}.png")
        assert iou(computed, read_mask(SAMPLE / "Annotations" / "cat" / f"{photo.stem}.png")) >= 0.9
    assert (tmp_path / "persam" / "masks" / "contact_sheet.png").is_file()
    losses = {}
    for mode in ("persam", "none"):
        (run,) = offline_runs(tmp_path / mode / "wandb")
        rows = history(run["dir"])
        steps = [r for r in rows if "loss" in r]
        assert [r["step"] for r in steps] == [1, 2]
        for r in steps:
            assert all(math.isfinite(r[k]) for k in ("loss", "instance_loss", "prior_loss"))
            assert math.isclose(r["loss"], r["instance_loss"] + r["prior_loss"], rel_tol=1e-5)
        losses[mode] = [r["instance_loss"] for r in steps]
        (logged,) = [r for r in rows if "samples.filenames" in r]
        assert logged["step"] == 2 and logged["samples.count"] == 2
        assert all((run["dir"] / "files" / name).is_file() for name in logged["samples.filenames"])
        samples = sorted((tmp_path / mode / "samples" / "step-2").glob("*.png"))
        assert len(samples) == 2  # two prompts, one image each
    assert losses["persam"] != losses["none"], "the mask changed nothing"


def test_bad_settings_are_named(tiny_model, class_dir, tmp_path):
    with pytest.raises(DataError, match="mask_mode must be one of persam, none"):
        train(config(tiny_model, class_dir, tmp_path, "mask_mode=everything"))
    with pytest.raises(DataError, match="exactly one of masks.ref_mask and masks.ref_point"):
        train(config(tiny_model, class_dir, tmp_path, "masks.dir=null"))
    with pytest.raises(DataError, match="nowhere: cannot load the Stable Diffusion pipeline"):
        train(config(tiny_model, class_dir, tmp_path, f"pretrained_model={tmp_path / 'nowhere'}"))


def leaves(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield prefix + key


def test_help_lists_every_option():
    out = subprocess.run([sys.executable, "-m", "persam.dreambooth.train", "--help"], cwd=REPO, capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": str(REPO), "PATH": ""}).stdout
    cfg = OmegaConf.to_container(compose(config_name="default", group="dreambooth"))
    options = out.split("== Options ==")[1].split("== Defaults ==")[0]
    missing = [k for k in leaves(cfg) if f"  {k} " not in options]
    assert not missing, f"--help does not explain {missing}"
    assert "mask_mode: persam" in out and "lr: 1.0e-06" in out  # the defaults are shown too


def test_a_photo_without_the_subject_is_left_out_and_shown_on_the_contact_sheet(tiny_model, class_dir, tmp_path,
                                                                                 caplog):
    from persam.data.io import write_mask
    from persam.dreambooth.subject_masks import contact_sheet, read_subject_masks, subject_photos

    masks = tmp_path / "masks"
    for photo in PHOTOS.glob("*.jpg"):
        mask = read_mask(SAMPLE / "Annotations" / "cat" / f"{photo.stem}.png")
        write_mask(masks / f"{photo.stem}.png", mask if photo.stem != "01" else np.zeros_like(mask))
    found = read_subject_masks(masks, subject_photos(PHOTOS))
    assert [m.present for m in found] == [True, False, True]
    sheet = contact_sheet(found)
    assert sheet.shape[0] == 256 and sheet.ndim == 3
    with caplog.at_level("WARNING"):
        train(config(tiny_model, class_dir, tmp_path / "run", "train.steps=1", "checkpoint.every=0",
                     f"masks.dir={masks}"))
    assert "subject not found in 01.jpg: left out of training" in caplog.text
