"""Methods (PerSAM, PerSAM-F, baselines, successors) and their parts, under one protocol (:mod:`.protocol`)."""

from persam.methods.persam import PerSAM, PerSAMConfig, Reference
from persam.methods.protocol import Method, Prediction, Prompts, Shot

__all__ = ["Method", "PerSAM", "PerSAMConfig", "Prediction", "Prompts", "Reference", "Shot"]
