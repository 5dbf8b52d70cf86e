"""PerSAM, PerSAM-F and their parts: target embedding, location prior, guidance, refinement, scale fusion."""

from persam.methods.persam import PerSAM, PerSAMConfig, Prediction, Reference

__all__ = ["PerSAM", "PerSAMConfig", "Prediction", "Reference"]
