"""The presence check's second opinion: the semantic encoders (the real EfficientNet-Lite0 weights, a tiny DINOv2
built here) and the decision they join (persam.methods.second_opinion, persam.methods.presence_layer)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import SAMPLE

from persam.data.io import read_image, read_mask
from persam.methods.presence import Calibration
from persam.methods.presence_layer import checked_predict, consult, decide
from persam.methods.presence_settings import PresenceSettings
from persam.methods.protocol import Prediction, Shot
from persam.methods.second_opinion import SecondOpinion, second_opinion
from persam.models.checkpoints import CheckpointError
from persam.models.predictor import ImageEmbedding
from persam.models.semantic_encoder import EfficientNetLite0, SemanticEncoder, build_semantic_encoder, pooled

DOG = SAMPLE.parents[0] / "davis" / "JPEGImages" / "480p" / "dog" / "00000.jpg"
IMAGENET_DOGS = range(151, 269)  # ImageNet-1k classes 151-268 are dog breeds
ON, THREE = PresenceSettings(presence=True), PresenceSettings(presence=True, max_instances=3)
COLOUR = PresenceSettings(second_opinion="colour")


def test_efficientnet_weights_map_onto_timm_and_name_the_bundled_dog():
    """Keys are matched by position: a wrong match would load (shapes agree) and classify nonsense."""
    encoder = EfficientNetLite0()
    image = read_image(DOG)
    features = encoder(image)
    assert features.shape[0] == 1280 and features.ndim == 3
    with torch.no_grad():
        logits = encoder.model.forward_head(encoder.forward(encoder.input(image)))
    assert int(logits.argmax()) in IMAGENET_DOGS
    assert encoder.id.startswith("efficientnet_lite0:579344248a93")


def test_a_tiny_dinov2_loads_by_path_and_gives_a_patch_map(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=64, patch_size=14, image_size=56)
    transformers.Dinov2Model(config).save_pretrained(tmp_path / "tiny-dinov2")
    encoder = build_semantic_encoder(f"dinov2:{tmp_path / 'tiny-dinov2'}")
    features = encoder(np.zeros((300, 400, 3), np.uint8))
    assert features.shape == (32, round(300 * 518 / 400 / 14), 518 // 14)  # sides rounded to whole patches
    assert encoder.id == "dinov2:tiny-dinov2"


def test_bad_encoder_names_and_paths_say_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="unknown semantic encoder 'clip'"):
        build_semantic_encoder("clip")
    assert build_semantic_encoder("none") is None
    with pytest.raises(CheckpointError, match="no DINOv2 model there"):
        build_semantic_encoder(f"dinov2:{tmp_path / 'missing'}")
    with pytest.raises(CheckpointError, match="no such EfficientNet-Lite0 weights file"):
        EfficientNetLite0(path=tmp_path / "missing.pth")


def test_pooling_weights_cells_by_the_share_the_mask_covers():
    features = torch.zeros(2, 2, 2)
    features[0, 0, 0], features[1, 1, 1] = 1.0, 1.0
    mask = np.zeros((4, 4), bool)
    mask[:2, :2] = True  # the whole top-left cell
    mask[2, 2] = True  # a quarter of the bottom-right cell
    vector = pooled(features, mask)
    assert torch.allclose(vector, torch.tensor([1.0, 0.25]) / 1.25)
    assert pooled(features, np.zeros((4, 4), bool)) is None


class Colour(SemanticEncoder):
    """A semantic encoder built for the test: a cell's feature is its mean colour."""

    id = "colour"
    long_side, multiple = 8, 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _embedding(image: np.ndarray) -> ImageEmbedding:
    return ImageEmbedding(torch.zeros(1, 256, 64, 64), image.shape[:2], image.shape[:2], image)


def test_the_check_empties_a_mask_of_another_kind_and_keeps_its_own():
    red, green = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)
    red[..., 0], green[..., 1] = 255, 255
    reference = Shot(_embedding(red), np.ones((8, 8), bool))
    opinion = SecondOpinion(Colour(), torch.nn.functional.normalize(
        pooled(Colour()(red), reference.mask)[None], dim=1), threshold=0.5)
    mask = np.ones((8, 8), bool)
    same = consult(opinion, Prediction(mask, np.zeros((0, 2)), np.zeros(0), score=0.9), _embedding(red))
    other = consult(opinion, Prediction(mask, np.zeros((0, 2)), np.zeros(0), score=0.9), _embedding(green))
    assert same.present and same.mask.all() and same.decision.semantic == pytest.approx(1.0)
    assert not other.present and not other.mask.any() and other.decision.unchecked.mask.all()
    assert other.decision.semantic < 0.5 and other.score == 0.9


def test_with_a_second_opinion_it_decides_instead_of_sams_threshold():
    """A mask scoring below SAM's calibrated threshold is present when the second opinion accepts it (the
    threshold sits just below the reference's own score and misses unseen views), absent when it does not."""
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    opinion = SecondOpinion(Colour(), torch.tensor([[1.0, 0.0, 0.0]]), threshold=0.5)
    calibration = Calibration(0.95, [1.0], [0.5], 0.05, "self", 0.75, opinion)
    low = Prediction(np.ones((8, 8), bool), np.zeros((0, 2)), np.zeros(0), score=0.9)
    kept = checked_predict(lambda extra: low, calibration, ON, embedding=_embedding(red))
    assert kept.present and kept.decision.semantic >= 0.5
    alone = checked_predict(lambda extra: low, dataclasses.replace(calibration, second_opinion=None), ON,
                            embedding=_embedding(red))
    assert not alone.present
    assert calibration.record()["second_opinion"] == {"encoder": "colour", "threshold": 0.5, "can_veto": True}


def test_a_further_instance_is_decided_as_the_first_is():
    """Where the second opinion consents, a further instance is kept below SAM's instance threshold too (the first
    instance never faces that threshold), but not below the reference's own background (the negative, 0.5);
    without a second opinion the threshold decides."""
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    opinion = SecondOpinion(Colour(), torch.tensor([[1.0, 0.0, 0.0]]), threshold=0.5)
    calibration = Calibration(0.95, [1.0], [0.5], 0.05, "self", 0.75, opinion)

    def answer(extra):  # column pairs 0-1, 3-4, 6-7, each outside what was found, scoring 0.96, 0.6, 0.45
        found = np.zeros((8, 8), bool) if extra is None or extra.exclude is None else extra.exclude
        start = next(c for c in (0, 3, 6) if not found[:, c].any())
        mask = np.zeros((8, 8), bool)
        mask[:, start:start + 2] = True
        return Prediction(mask, np.zeros((0, 2)), np.zeros(0), score={0: 0.96, 3: 0.6, 6: 0.45}[start])

    kept = checked_predict(answer, calibration, THREE, embedding=_embedding(red))
    assert kept.extra["instance_scores"] == [0.96, 0.6]  # the third scores under the negative
    alone = checked_predict(answer, dataclasses.replace(calibration, second_opinion=None), THREE,
                            embedding=_embedding(red))
    assert alone.extra["instance_scores"] == [0.96]


def test_persam_plus_second_opinion_on_the_real_cat(predictor):
    """Fitted on the cat, PerSAM+ with the second opinion keeps the cat's other photo and says the duck toy is
    absent; without it the decision rests on SAM's score alone."""
    embed = predictor.embed
    ref = Shot(embed(read_image(SAMPLE / "Images" / "cat" / "00.jpg")),
               read_mask(SAMPLE / "Annotations" / "cat" / "00.png"))
    from persam.methods.persam_plus import PerSAMPlus

    method = PerSAMPlus(predictor, presence=True, second_opinion="efficientnet_lite0")
    reference = method.fit([ref])
    assert reference.presence.second_opinion is not None
    cat = method.predict(embed(read_image(SAMPLE / "Images" / "cat" / "01.jpg")), reference)
    duck = method.predict(embed(read_image(SAMPLE / "Images" / "duck_toy" / "01.jpg")), reference)
    assert cat.present and cat.decision.semantic >= reference.presence.second_opinion.threshold == 0.38
    assert not duck.present
    assert second_opinion(PresenceSettings(), [ref]) is None


def test_a_reference_the_encoder_cannot_see_defers_to_sams_threshold(monkeypatch):
    """A reference object under second_opinion_min_cells feature cells gives a prototype that is mostly its surroundings: a
    refusal then goes to SAM's calibrated threshold (kept above it, absent below), a further instance to SAM's
    instance threshold alone; an object covering enough cells keeps the veto."""
    from persam.methods import second_opinion as module

    red, green = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)
    red[..., 0], green[..., 1] = 255, 255
    tiny = np.zeros((8, 8), bool)
    tiny[0, :3] = True  # 3 of the Colour encoder's 8 x 8 cells
    monkeypatch.setattr(module, "semantic_encoder", lambda name, device: Colour())
    assert not second_opinion(COLOUR, [Shot(_embedding(red), tiny)]).can_veto
    assert second_opinion(COLOUR, [Shot(_embedding(red), tiny), Shot(_embedding(red), np.ones((8, 8), bool))]).can_veto

    opinion = SecondOpinion(Colour(), torch.tensor([[1.0, 0.0, 0.0]]), threshold=0.5, can_veto=False)
    calibration = Calibration(0.8, [0.85], [0.3], 0.05, "self", 0.55, opinion)
    scores = iter([0.9, 0.6, 0.5])

    def answer(extra):
        mask = np.zeros((8, 8), bool)
        mask[:, :2] = extra is None or extra.exclude is None
        mask[:, 4:6] = not mask.any()
        return Prediction(mask, np.zeros((0, 2)), np.zeros(0), score=next(scores))

    found = checked_predict(answer, calibration, THREE, embedding=_embedding(green))
    assert found.decision.deferred and found.decision.semantic < 0.5
    assert found.extra["instance_scores"] == [0.9, 0.6]  # the third (0.5) is under the instance threshold
    low = checked_predict(lambda extra: Prediction(np.ones((8, 8), bool), np.zeros((0, 2)), np.zeros(0), score=0.7),
                          calibration, ON, embedding=_embedding(green))
    assert not low.present and low.decision.threshold == 0.8
    vetoed = dataclasses.replace(calibration, second_opinion=dataclasses.replace(opinion, can_veto=True))
    scores = iter([0.9])
    assert not checked_predict(answer, vetoed, ON, embedding=_embedding(green)).present
    assert calibration.record()["second_opinion"]["can_veto"] is False


def test_a_mask_the_second_opinion_emptied_stays_absent_below_sams_threshold_too():
    """Both checks can say absent: the decision keeps the first 'absent' (and what it replaced)."""
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    opinion = SecondOpinion(Colour(), torch.tensor([[0.0, 1.0, 0.0]]), threshold=0.5)
    prediction = Prediction(np.ones((8, 8), bool), np.zeros((0, 2)), np.zeros(0), score=0.2)
    absent = decide(consult(opinion, prediction, _embedding(red)), threshold=0.6)
    assert not absent.present and absent.decision.unchecked is prediction


def test_an_image_read_again_is_not_encoded_again():
    """The presence protocol predicts every image once per object, each time from a fresh embedding."""
    from persam.methods.second_opinion import features

    class Counting(Colour):
        id = "counting"
        calls = 0

        def forward(self, x):
            Counting.calls += 1
            return x

    encoder, image, keep = Counting(), np.full((8, 8, 3), 7, np.uint8), PresenceSettings().second_opinion_cache_images
    first = features(encoder, _embedding(image), keep)
    again = features(encoder, _embedding(image.copy()), keep)
    assert Counting.calls == 1 and again is first
    features(encoder, _embedding(np.full((8, 8, 3), 8, np.uint8)), keep)
    assert Counting.calls == 2
