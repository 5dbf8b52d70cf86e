"""The Hydra runner: configs compose, a real run writes its results contract, bad input fails in one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLE
from PIL import Image

from persam.config import compose, config_file, method_names
from persam.data.io import DataError
from persam.experiments.evaluate import evaluate
from persam.experiments.records import COLUMNS
from persam.methods import PerSAM, PerSAMConfig
from persam.methods.builder import MethodConfigError, build_method

REPO = Path(__file__).resolve().parents[1]
METHODS = method_names()


def make_cfg(*overrides: str):
    return compose(["progress=false", *overrides])


@pytest.mark.parametrize("method", METHODS)
def test_every_method_config_composes_and_builds(method, predictor):
    """Every persam/conf/method/*.yaml composes and builds its class through the one builder."""
    cfg = make_cfg(f"method={method}")
    assert cfg.method.name == method and cfg.method.label
    built = build_method(predictor, cfg.method)
    assert type(built).__name__ == cfg.method._target_.rsplit(".", 1)[1]
    if isinstance(built, PerSAM):
        assert built.config.scale_fusion == (method.startswith("persam_f") or method == "ablation_fusion")


def test_unknown_method_key_names_the_key_and_the_file(predictor):
    cfg = make_cfg("method=persam", "+method.topk_typo=3")
    with pytest.raises(MethodConfigError, match=r"persam/conf/method/persam\.yaml: unknown key 'topk_typo'"):
        build_method(predictor, cfg.method)


@pytest.mark.parametrize("model", ["vit_t", "vit_b", "vit_l", "vit_h"])
def test_model_configs_compose(model):
    assert make_cfg(f"model={model}").model.name == model


@pytest.mark.parametrize("experiment", sorted(p.stem for p in config_file("experiment").glob("*.yaml")))
def test_every_experiment_composes_and_sweeps_existing_methods(experiment):
    cfg = compose([f"experiment={experiment}"], return_hydra_config=True)
    assert cfg.experiment_name == experiment
    swept = cfg.hydra.sweeper.params.method.split(",")
    assert set(swept) <= set(METHODS)
    if experiment == "plus_ablation":  # PerSAM+'s own ablation: PerSAM+ and its rungs
        assert swept[0] == "persam_plus" and all(m.startswith("persam_plus_") for m in swept[1:])
    else:  # the paper's protocols: the paper's two methods at least
        assert {"persam", "persam_f"} <= set(swept)


@pytest.fixture
def one_object(tmp_path):
    """A PerSeg copy of one sample object, to be damaged by tests."""
    for kind in ("Images", "Annotations"):
        shutil.copytree(SAMPLE / kind / "duck_toy", tmp_path / kind / "duck_toy")
    return tmp_path


def test_run_writes_results_provenance_masks_and_overlays(tmp_path, predictor):
    cfg = make_cfg("method=persam_f", "dataset.objects=[duck_toy]", "experiment_name=test")
    rows = evaluate(cfg, tmp_path / "run", predictor=predictor)
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert list(results.columns) == COLUMNS
    assert len(results) == len(rows)
    by = results.set_index(["item", "metric"])["value"]
    assert by[("duck_toy", "iou")] == pytest.approx(97.3421, abs=0.05)  # tests/test_pinned_scores.py's persam_f
    assert by[("ALL", "miou")] == pytest.approx(by[("duck_toy", "iou")])
    assert {("duck_toy", "acc"), ("duck_toy", "fit_sec"), ("ALL", "macc"),
            ("ALL", "sec_per_image_post_encoder")} <= set(by.index)
    assert set(results.corruption) == {"none"} and set(results.shots) == {1}
    for stem in ("01", "02"):
        mask = np.array(Image.open(tmp_path / "run" / "masks" / "duck_toy" / f"{stem}.png"))
        assert mask.shape == (1440, 1440) and set(np.unique(mask)) <= {0, 1}
        assert (tmp_path / "run" / "overlays" / "duck_toy" / f"{stem}.jpg").is_file()
    prov = json.loads((tmp_path / "run" / "provenance.json").read_text())
    assert prov["model"]["sha256"].startswith("6dbb9052")
    assert prov["data"]["items"] == ["duck_toy"] and prov["data"]["target_images"] == 2
    assert prov["config"]["method"]["name"] == "persam_f"
    assert {"commit", "dirty"} <= set(prov["git"]) and prov["torch"] and prov["device"] == "cpu"
    # the effective settings: every field of the method's config, defaults included
    assert set(prov["method_settings"]["settings"]) == {f.name for f in fields(PerSAMConfig)}
    assert prov["method_settings"]["source"] == "persam/conf/method/persam_f.yaml"
    assert prov["data"]["manifest"]["files"] == 6 and len(prov["data"]["manifest"]["sha256"]) == 64
    text = json.dumps(prov)
    assert str(REPO) not in text and str(Path.home()) + "/" not in text  # no path of this machine


def test_same_run_twice_gives_identical_masks_and_numbers(tmp_path, predictor):
    cfg = make_cfg("dataset.objects=[duck_toy]", "outputs.overlays=false")
    first = evaluate(cfg, tmp_path / "a", predictor=predictor)
    second = evaluate(cfg, tmp_path / "b", predictor=predictor)
    def scores(rows):  # timings differ between runs; every score must not
        return [r for r in rows if "sec" not in r["metric"]]

    assert scores(first) == scores(second) and len(scores(first)) == 4
    for stem in ("01", "02"):
        a = np.array(Image.open(tmp_path / "a" / "masks" / "duck_toy" / f"{stem}.png"))
        assert np.array_equal(a, np.array(Image.open(tmp_path / "b" / "masks" / "duck_toy" / f"{stem}.png")))


def _damage_empty_reference(root: Path) -> Path:
    path = root / "Annotations" / "duck_toy" / "00.png"
    Image.fromarray(np.zeros((1280, 1280), dtype=np.uint8)).save(path)
    return path


def _damage_reference_size(root: Path) -> Path:
    path = root / "Annotations" / "duck_toy" / "00.png"
    Image.open(path).resize((640, 640)).save(path)
    return path


def _damage_unreadable_image(root: Path) -> Path:
    path = root / "Images" / "duck_toy" / "01.jpg"
    path.write_bytes(path.read_bytes()[:2000])
    return path


def _damage_missing_ground_truth(root: Path) -> Path:
    (root / "Annotations" / "duck_toy" / "02.png").unlink()
    return root / "Images" / "duck_toy" / "02.jpg"


@pytest.mark.parametrize("damage", [_damage_empty_reference, _damage_reference_size, _damage_unreadable_image,
                                    _damage_missing_ground_truth])
def test_bad_input_is_a_data_error_naming_the_file(one_object, tmp_path, predictor, damage):
    bad = damage(one_object)
    cfg = make_cfg(f"dataset.root={one_object}")
    with pytest.raises(DataError) as err:
        evaluate(cfg, tmp_path / "run", predictor=predictor)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_command_line_reports_bad_input_in_one_line(one_object, tmp_path):
    bad = _damage_empty_reference(one_object)
    done = subprocess.run(
        [sys.executable, "-m", "persam.run", f"dataset.root={one_object}", f"hydra.run.dir={tmp_path / 'run'}",
         "progress=false"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == f"error: {bad}: reference mask is empty (no non-zero pixel)"
    assert "Traceback" not in done.stderr
