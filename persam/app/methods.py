"""The methods the page offers: every ``conf/method/*.yaml``, composed through Hydra as ``persam.run`` does.

Kept free of torch and SAM so the page can list them while the model is still loading.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

# The same folder as persam.run.CONFIG_DIR, which is not imported here: it pulls in torch and the harness.
CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"
DEFAULT_METHOD = "persam"


@cache
def method_settings(name: str) -> dict:
    """The composed ``method`` group of ``conf/method/<name>.yaml`` as a plain dict (interpolations resolved)."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        cfg = compose(config_name="config", overrides=[f"method={name}"])
    return OmegaConf.to_container(cfg.method, resolve=True)


def method_choices() -> list[tuple[str, str]]:
    """(label, name) of every method config, the default first, then by name: ``("PerSAM", "persam")``."""
    names = sorted(path.stem for path in (CONFIG_DIR / "method").glob("*.yaml"))
    names.sort(key=lambda name: name != DEFAULT_METHOD)
    return [(f"{method_settings(name).get('label', name)} ({name})", name) for name in names]
