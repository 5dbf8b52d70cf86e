"""Several references, presence and several instances on PerSAM / PerSAM-F with the real MobileSAM weights."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from persam.data.io import read_image, read_mask
from persam.methods.location_prior import similarity_grid
from persam.methods.multi_reference import best_match_grid, prototypes, stacked_fit_inputs
from persam.methods.persam import PerSAM, PerSAMConfig
from persam.methods.persam_plus import PerSAMPlus
from persam.methods.protocol import Shot
from persam.models.predictor import ImageEmbedding

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "persam" / "sample_data" / "perseg"


def _shot(predictor, name, stem):
    image = read_image(SAMPLE / "Images" / name / f"{stem}.jpg")
    return Shot(predictor.embed(image), read_mask(SAMPLE / "Annotations" / name / f"{stem}.png", image.shape[:2]))


def test_one_prototype_is_the_one_reference_prior():
    torch.manual_seed(0)
    embedding = ImageEmbedding(torch.randn(1, 256, 64, 64), (64, 64), (1024, 1024))
    protos = torch.randn(3, 256)
    assert torch.equal(best_match_grid(embedding, protos[:1]), similarity_grid(embedding, protos[0]))
    grids = torch.stack([similarity_grid(embedding, p) for p in protos])
    assert torch.allclose(best_match_grid(embedding, protos), grids.max(0).values)
    shots = [Shot(embedding, np.ones((64, 64), bool)), Shot(embedding, np.eye(64, dtype=bool))]
    assert prototypes(shots, lambda e, m: torch.full((4,), float(m.sum()))).shape == (2, 4)
    logits, gt = stacked_fit_inputs([torch.zeros(3, 2, 5), torch.ones(3, 4, 4)],
                                    [torch.zeros(2, 5, dtype=torch.bool), torch.ones(4, 4, dtype=torch.bool)])
    assert logits.shape == (3, 1, 26) and gt.shape == (1, 26) and gt.sum() == 16


def test_k_references_fit_and_every_prediction_has_a_score(predictor):
    shots = [_shot(predictor, "cat", "00"), _shot(predictor, "cat", "01")]
    method = PerSAM(predictor, PerSAMConfig())
    reference = method.fit(shots)
    assert reference.prototypes.shape == (2, 256)
    assert torch.allclose(reference.embedding, reference.prototypes.mean(0))
    target = _shot(predictor, "cat", "02")
    prediction = method.predict(target.embedding, reference)
    iou = (prediction.mask & target.mask).sum() / (prediction.mask | target.mask).sum()
    assert iou > 0.8 and prediction.score > 0.9 and prediction.present
    fused = PerSAM(predictor, PerSAMConfig(scale_fusion=True, negative_prior=False, guided_attention=False,
                                           semantic_prompting=False, embedding_pooling="mean_max"))
    weights = fused.fit(shots).scale_weights
    assert weights.shape == (3,) and float(weights.sum()) == pytest.approx(1.0, abs=1e-5)
    assert not torch.allclose(weights, fused.fit(shots[:1]).scale_weights)  # fitted on both references
    voting = PerSAM(predictor, dataclasses.replace(fused.config, references="vote"))
    voters = voting.fit(shots)
    assert len(voters.members) == 2 and voting.fit(shots[:1]).members is None  # one reference: no vote
    for member, shot in zip(voters.members, shots, strict=True):  # each fitted on its own photo
        assert torch.allclose(member.scale_weights, fused.fit([shot]).scale_weights)
    voted = voting.predict(target.embedding, voters)
    assert voted.extra["voters"] == 2
    assert (voted.mask & target.mask).sum() / (voted.mask | target.mask).sum() > 0.8


# Presence and several instances are the protocol's, so every method that has the settings is held to them.
METHODS = {"persam": lambda predictor, **kw: PerSAM(predictor, PerSAMConfig(**kw)),
           "persam_plus": lambda predictor, **kw: PerSAMPlus(predictor, **kw)}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_presence_says_absent_for_other_objects_and_present_for_the_cat(predictor, name):
    method = METHODS[name](predictor, presence=True)
    reference = method.fit([_shot(predictor, "cat", "00")])
    calibration = reference.presence
    assert calibration.rule == "self" and calibration.negatives[0] < calibration.threshold < calibration.positives[0]
    for stem in ("01", "02"):
        assert method.predict(_shot(predictor, "cat", stem).embedding, reference).present
    for name in ("colorful_sneaker", "duck_toy"):
        absent = method.predict(_shot(predictor, name, "01").embedding, reference)
        assert not absent.present and not absent.mask.any() and absent.score < calibration.threshold
        assert absent.decision.unchecked.mask.any()  # what it would have said without the check


@pytest.mark.parametrize("name", sorted(METHODS))
def test_two_cats_in_a_composite_become_two_instances(predictor, tmp_path, name):
    sys.path.insert(0, str(ROOT / "data_prep"))
    from copy_paste_instances import build

    build(SAMPLE, tmp_path / "composites")
    image = read_image(tmp_path / "composites" / "Images" / "cat" / "c01.jpg")
    gt = np.array(Image.open(tmp_path / "composites" / "Annotations" / "cat" / "c01.png"))
    assert set(np.unique(gt)) == {0, 1, 2}
    method = METHODS[name](predictor, max_instances=3)
    reference = method.fit([_shot(predictor, "cat", "00")])
    prediction = method.predict(predictor.embed(image), reference)
    assert prediction.instances.dtype == np.uint8 and prediction.instances.max() == 2
    for label in (1, 2):  # each true instance is matched by a predicted one at IoU >= 0.5
        true = gt == label
        best = max(((prediction.instances == k) & true).sum() / ((prediction.instances == k) | true).sum()
                   for k in (1, 2))
        assert best > 0.5
    single = method.predict(_shot(predictor, "cat", "01").embedding, reference)
    assert single.instances.max() == 1  # the unmodified photo has one cat
    # As `persam segment --max-instances 3` runs it: the presence check with its second opinion on.
    checked = METHODS[name](predictor, max_instances=3, presence=True, second_opinion="efficientnet_lite0")
    found = checked.predict(predictor.embed(image), checked.fit([_shot(predictor, "cat", "00")]))
    assert found.present and found.instances.max() == 2


def test_segment_command_writes_empty_masks_for_absent_images_and_the_summary(tmp_path):
    images = tmp_path / "album"
    images.mkdir()
    for name in ("cat", "colorful_sneaker", "duck_toy"):
        for stem in ("01", "02"):
            (images / f"{name}_{stem}.jpg").write_bytes((SAMPLE / "Images" / name / f"{stem}.jpg").read_bytes())
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "persam", "segment",
                           "--ref-image", str(SAMPLE / "Images" / "cat" / "00.jpg"),
                           "--ref-mask", str(SAMPLE / "Annotations" / "cat" / "00.png"),
                           "--images", str(images), "--out", str(out), "--device", "cpu"],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "found in 2 of 6 images (0 with several instances)"
    rows = [line.split(",") for line in (out / "scores.csv").read_text().splitlines()]
    assert rows[0] == ["file", "present", "score", "instances"] and len(rows) == 7
    scores = {file: float(score) for file, _, score, _ in rows[1:]}
    cats = [s for file, s in scores.items() if file.startswith("cat")]
    assert min(cats) > max(s for file, s in scores.items() if not file.startswith("cat"))  # the cats score highest
    for file, present, _, instances in rows[1:]:
        mask = np.array(Image.open(out / "masks" / f"{Path(file).stem}.png"))
        if file.startswith("cat"):
            assert present == "1" and instances == "1" and set(np.unique(mask)) == {0, 1}
        else:
            assert present == "0" and instances == "0" and not mask.any()


def test_soft_vote_is_the_majority_of_probabilities():
    from persam.methods.multi_reference import soft_vote
    from persam.methods.protocol import Prediction

    def voter(mask, score, confidence=4.0):
        logits = torch.where(torch.from_numpy(mask), confidence, -confidence)
        return Prediction(mask, np.array([[score, 0.0]]), np.array([1]), score=score, logits=logits)

    left, right = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    left[:, :2], right[:, 1:3] = True, True
    alone = voter(left, 0.9)
    assert soft_vote([alone], 0.5) is alone  # one reference: its own prediction
    voted = soft_vote([voter(left, 0.9), voter(left, 0.8), voter(right, 0.95)], 0.5)
    assert (voted.mask == left).all()  # two of three agree; the dissenter's extra column is outvoted
    assert voted.score == pytest.approx((0.9 + 0.8 + 0.95) / 3)
    assert (voted.point_coords == [[0.95, 0.0]]).all()  # the prompts of the best-scoring voter
    assert ((voted.logits > 0).numpy() == voted.mask).all()
    # A confident voter outweighs a hesitant one: probabilities are averaged, not masks.
    sure, unsure = voter(left, 0.9, confidence=6.0), voter(~left, 0.9, confidence=0.5)
    assert (soft_vote([sure, unsure], 0.5).mask == left).all()
