"""The several-instances loop (persam.methods.instances) on scripted predictions, and presence decisions
(persam.methods.presence_layer)."""

import numpy as np
import pytest
import torch

from persam.methods.grid import suppress_region
from persam.methods.instances import find_instances, label_map
from persam.methods.presence import Calibration, calibrate, dilate
from persam.methods.presence_layer import decide
from persam.methods.presence_settings import PresenceSettings
from persam.methods.protocol import Prediction, Shot
from persam.models.predictor import ImageEmbedding

H, W = 32, 48
REPEAT = PresenceSettings().repeat_overlap


def _box(y0, y1, x0, x1):
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def _prediction(mask, score, logit=1.0):
    logits = torch.where(torch.from_numpy(mask), torch.tensor(logit), torch.tensor(-1.0))
    return Prediction(mask, np.zeros((1, 2)), np.ones(1, np.int64), score=score, logits=logits)


class Scripted:
    """Answers with the first listed instance that the exclusion region does not cover (the way a location
    prior's top point moves on), or an empty low-score mask when none is left."""

    def __init__(self, instances):
        self.instances = instances
        self.calls = []

    def __call__(self, prompts):
        exclude = None if prompts is None else prompts.exclude
        self.calls.append(exclude)
        for mask, score in self.instances:
            if exclude is None or not (mask & exclude).any():
                return _prediction(mask, score)
        return _prediction(np.zeros((H, W), bool), -1.0)


def test_finds_instances_until_one_is_absent():
    a, b, c = _box(0, 8, 0, 8), _box(10, 20, 10, 20), _box(22, 30, 30, 40)
    predict = Scripted([(a, 0.9), (b, 0.8), (c, 0.3)])
    out = find_instances(lambda prompts: decide(predict(prompts), 0.5), max_instances=5, repeat_overlap=REPEAT)
    assert out.instances.dtype == np.uint8
    assert set(np.unique(out.instances)) == {0, 1, 2}
    assert (out.instances == 1).sum() == a.sum() and (out.instances == 2).sum() == b.sum()
    assert np.array_equal(out.mask, a | b)
    assert out.extra["instance_scores"] == [0.9, 0.8]
    assert len(predict.calls) == 3 and predict.calls[0] is None and np.array_equal(predict.calls[2], a | b)


def test_max_instances_caps_the_loop_and_one_means_one_call():
    a, b = _box(0, 8, 0, 8), _box(10, 20, 10, 20)
    predict = Scripted([(a, 0.9), (b, 0.8)])
    out = find_instances(predict, max_instances=1, repeat_overlap=REPEAT)
    assert len(predict.calls) == 1 and out.instances.max() == 1
    with pytest.raises(ValueError, match="at least 1"):
        find_instances(predict, 0, REPEAT)


def test_a_repeat_of_a_found_instance_stops_the_loop():
    a = _box(0, 10, 0, 10)
    grown = _box(0, 10, 0, 12)  # mostly the first instance again
    calls = iter([_prediction(a, 0.9), _prediction(grown, 0.9)])
    out = find_instances(lambda prompts: next(calls), max_instances=3, repeat_overlap=REPEAT)
    assert out.instances.max() == 1


def test_an_absent_first_prediction_gives_an_empty_label_map():
    empty = Prediction.empty((H, W), score=0.1)
    out = find_instances(lambda prompts: empty, max_instances=3, repeat_overlap=REPEAT)
    assert not out.present and out.instances.shape == (H, W) and out.instances.max() == 0


def test_overlaps_go_to_the_highest_logit():
    a, b = _box(0, 10, 0, 10), _box(5, 15, 5, 15)
    labels = label_map([_prediction(a, 0.9, logit=1.0), _prediction(b, 0.8, logit=5.0)])
    assert labels[7, 7] == 2 and labels[2, 2] == 1 and labels[12, 12] == 2 and labels[20, 20] == 0
    no_logits = [Prediction(m, np.zeros((0, 2)), np.zeros(0, np.int64)) for m in (a, b)]
    assert label_map(no_logits)[7, 7] == 1  # without logits the earlier instance keeps the pixel


def test_suppress_region_moves_the_prior_peak_out_of_the_excluded_cells():
    embedding = ImageEmbedding(torch.zeros(1, 256, 64, 64), (512, 1024), (512, 1024))
    grid = torch.rand(64, 64)
    grid[3, 5] = 2.0
    exclude = np.zeros((512, 1024), bool)
    exclude[3 * 16 + 4, 5 * 16 + 4] = True  # one pixel in cell (3, 5)
    out = suppress_region(grid, embedding, exclude)
    assert out[3, 5] == grid.min() and int(out.argmax()) != 3 * 64 + 5
    assert torch.equal(out.flatten()[:3 * 64 + 5], grid.flatten()[:3 * 64 + 5])
    assert suppress_region(grid, embedding, None) is grid


def test_decide_empties_below_the_threshold_only():
    p = _prediction(_box(0, 5, 0, 5), 0.4)
    assert decide(p, None) is p
    kept = decide(p, 0.3)
    assert kept.present and kept.mask is p.mask and kept.decision.threshold == 0.3 and kept.decision.unchecked is None
    absent = decide(p, 0.5)
    assert not absent.present and not absent.mask.any() and absent.score == 0.4
    assert absent.decision.unchecked is p and absent.decision.threshold == 0.5 and not absent.decision.present


def test_calibration_puts_the_threshold_between_the_references_and_their_backgrounds():
    shots = [Shot(ImageEmbedding(torch.zeros(1), (H, W), (H, W)), _box(0, 8, 0, 8)) for _ in range(3)]
    fitted = []

    def fit(subset):
        fitted.append(len(subset))
        return len(subset)

    def score(embedding, reference, exclude):
        if exclude is not None:
            assert exclude.sum() > shots[0].mask.sum()  # the object, dilated
            return 0.2
        return 0.6 + 0.1 * reference  # leave-one-out states were fitted on 2 references

    cal = calibrate(shots, fit, score, margin=0.05, exclude_margin=2)
    assert isinstance(cal, Calibration) and cal.rule == "leave-one-out"
    assert fitted == [3, 2, 2, 2]
    assert cal.positives == pytest.approx([0.8] * 3) and cal.negatives == [0.2] * 3
    assert cal.threshold == pytest.approx(0.75) and cal.instance_threshold == pytest.approx(0.5)
    single = calibrate(shots[:1], fit, score, margin=0.5, exclude_margin=2)  # the midpoint guard: (0.7 + 0.2) / 2
    assert single.rule == "self" and single.threshold == pytest.approx(0.45)
    assert single.instance_threshold == pytest.approx(0.2)  # the self score's correction stops at the negative
    one = calibrate(shots[:1], fit, score, margin=0.05, exclude_margin=2)  # an unseen view: 0.7 - 0.05
    assert one.threshold == pytest.approx(0.65) and one.instance_threshold == pytest.approx((0.65 + 0.2) / 2)
    with pytest.raises(ValueError, match="presence_margin"):
        calibrate(shots, fit, score, margin=-1, exclude_margin=2)
    assert dilate(_box(5, 6, 5, 6), 1).sum() == 5
