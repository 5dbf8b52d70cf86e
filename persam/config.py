"""The one home of persam's Hydra configs: ``persam/conf/`` (shipped inside the package, so an installed wheel
composes from any folder) and the one way to compose them outside ``python -m persam.run``.

    from persam.config import compose
    cfg = compose(["method=persam_f", "dataset.objects=[cat]"])
    dreambooth = compose(config_name="default", group="dreambooth")

Kept free of torch and SAM: the app lists the methods before the model loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

# Absolute, as Hydra's config_path and initialize_config_dir want it; next to this file, never the working folder.
CONFIG_DIR = str(Path(__file__).resolve().parent / "conf")


def config_file(*parts: str) -> Path:
    """A file or folder under ``persam/conf/``, e.g. ``config_file("method", "persam.yaml")``."""
    return Path(CONFIG_DIR).joinpath(*parts)


def method_names() -> list[str]:
    """Every method config shipped with persam (``persam/conf/method/*.yaml``), by name."""
    return sorted(path.stem for path in config_file("method").glob("*.yaml"))


def compose(overrides: Sequence[str] = (), config_name: str = "config", *, group: str | None = None,
            return_hydra_config: bool = False) -> DictConfig:
    """``config_name`` composed with ``overrides`` as ``python -m persam.run`` composes it; ``group`` composes a
    config of its own folder instead (``group="dreambooth"``: ``persam/conf/dreambooth/<config_name>.yaml``)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    config_dir = str(config_file(group)) if group else CONFIG_DIR
    with initialize_config_dir(version_base="1.3", config_dir=config_dir):
        return hydra_compose(config_name=config_name, overrides=list(overrides),
                             return_hydra_config=return_hydra_config)
