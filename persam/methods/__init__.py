"""Methods (PerSAM, PerSAM-F, baselines, successors) and their parts, under one protocol (:mod:`.protocol`).

The names below are imported on first use, so ``persam.methods.builder`` (which lists and composes method
configs) loads without torch.
"""

from importlib import import_module

_EXPORTS = {
    "PerSAM": "persam.methods.persam", "PerSAMConfig": "persam.methods.persam", "Reference": "persam.methods.persam",
    "Method": "persam.methods.protocol", "Prediction": "persam.methods.protocol",
    "Prompts": "persam.methods.protocol", "Shot": "persam.methods.protocol",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'persam.methods' has no attribute {name!r}")
