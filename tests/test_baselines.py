"""The baselines' own logic: the similarity threshold is the one that best reproduces the reference mask, and
the oracle box predicts nothing where the ground truth is empty (real scores: tests/test_pinned_scores.py)."""

from __future__ import annotations

import numpy as np
import torch

from persam.methods.baselines import OracleBox, SimilarityThreshold
from persam.methods.protocol import Shot


class FakeEmbedding:
    original_size = (20, 20)


def test_the_threshold_is_the_reference_masks_best(monkeypatch):
    similarity = torch.linspace(0, 1, 400).reshape(20, 20)  # rises row by row
    mask = (similarity > 0.6).numpy()
    method = SimilarityThreshold(predictor=None, candidates=101)
    monkeypatch.setattr("persam.methods.baselines.target_embedding", lambda *a, **k: torch.zeros(4))
    monkeypatch.setattr(method, "_similarity", lambda embedding, target: similarity)
    reference = method.fit([Shot(FakeEmbedding(), mask)])
    assert 0.59 <= reference.threshold <= 0.61
    assert np.array_equal(method.predict(FakeEmbedding(), reference).mask, mask)


def test_the_oracle_predicts_nothing_for_an_empty_ground_truth():
    method = OracleBox(predictor=None)
    reference = method.fit([Shot(FakeEmbedding(), np.ones((20, 20), dtype=bool))])
    prediction = method.predict(FakeEmbedding(), reference, gt=np.zeros((20, 20), dtype=bool))
    assert not prediction.mask.any() and prediction.mask.shape == (20, 20)
