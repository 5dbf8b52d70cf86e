"""Methods by kind, from a method config (``conf/method/*.yaml``): PerSAM (with all its switches) or a baseline."""

from __future__ import annotations

from dataclasses import fields

from persam.methods.baselines import BaselineConfig, OracleBox, SimilarityThreshold
from persam.methods.persam import PerSAM, PerSAMConfig
from persam.models.predictor import GuidedPredictor

KINDS = {
    "persam": (PerSAM, PerSAMConfig),
    "similarity_threshold": (SimilarityThreshold, BaselineConfig),
    "oracle_box": (OracleBox, BaselineConfig),
}


def build_method(predictor: GuidedPredictor, settings: dict):
    """The method named by ``settings['kind']`` (default ``persam``), configured by the keys it knows."""
    kind = settings.get("kind", "persam")
    if kind not in KINDS:
        raise ValueError(f"method kind must be one of {', '.join(KINDS)}, got {kind!r}")
    cls, config_cls = KINDS[kind]
    known = {f.name for f in fields(config_cls)}
    return cls(predictor, config_cls(**{k: v for k, v in settings.items() if k in known}))
