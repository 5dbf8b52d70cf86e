"""The methods the page offers: every ``persam/conf/method/*.yaml`` but the ablation rungs (``rung: true``), composed
through Hydra as ``persam.run`` does.

Kept free of torch and SAM so the page can list them while the model is still loading.
"""

from __future__ import annotations

from functools import cache

from persam.config import method_names
from persam.methods.builder import DEFAULT_METHOD, composed_method

method_settings = cache(composed_method)  # composed once per name while the page runs


def method_choices() -> list[tuple[str, str]]:
    """(label, name) of every method config but the ablation rungs, the default first, then by name:
    ``("PerSAM (persam)", "persam")``."""
    names = [name for name in method_names() if not method_settings(name).get("rung", False)]
    names.sort(key=lambda name: name != DEFAULT_METHOD)
    return [(f"{method_settings(name).get('label', name)} ({name})", name) for name in names]
