"""One builder for every method: ``hydra.utils.instantiate`` of a method config (``persam/conf/method/<name>.yaml``).

A method config names its class with ``_target_`` and gives its settings as keyword arguments; ``name``,
``label``, ``video`` (the video procedure, :mod:`persam.methods.video`) and ``rung`` (true for a rung of an
ablation ladder, which the tables run and the app does not offer) are the harness's and are not passed to the
class. A key the class does not take is an error naming the key and the config file, never
silently dropped. The image task, the video task and every user entry (``persam segment``, ``persam track``,
``persam dreambooth-masks``, the app, through :func:`persam.segment.predictor.user_method`) build their method here.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import hydra.utils
from omegaconf import DictConfig, OmegaConf

from persam.config import CONFIG_DIR, compose

if TYPE_CHECKING:  # the builder stays importable without torch (the app lists methods before loading SAM)
    from persam.models.predictor import GuidedPredictor

# What `persam segment`, `persam track` and the app run unless told otherwise: the image method with the fewest
# Holm-corrected losses on the held-out sets (README, "Default image method"; persam.tables.default). On Table 2
# (development data, 13 sequences) no method is shown non-inferior to the others (README, "Default video
# method"), so tracking keeps the image default rather than a choice those verdicts cannot make.
DEFAULT_METHOD = "persam_plus"


class MethodConfigError(ValueError):
    """A method config that cannot build its method (unknown key, no ``_target_``, a class that fails)."""


@dataclass
class MethodSpec:
    """A method config split into what the harness reads and what the class takes."""

    name: str
    label: str
    target: str
    settings: dict
    video: dict = field(default_factory=dict)
    source: str = "the method config"


def method_source(name: str, searchpath: list[str] | None = None) -> str:
    """The file a method config most likely came from, for error messages: ``<dir>/method/<name>.yaml``
    in the first search-path folder that has it (the run's ``hydra.searchpath``, then ``persam/conf/``)."""
    for folder in [*(searchpath or []), CONFIG_DIR]:
        path = Path(folder.removeprefix("file://")) / "method" / f"{name}.yaml"
        if path.is_file():
            return str(path)
    return f"method/{name}.yaml"


def composed_method(name: str) -> dict:
    """``persam/conf/method/<name>.yaml`` composed as ``persam.run`` composes it (defaults merged,
    interpolations resolved), as a plain dict."""
    cfg = compose([f"method={name}"])
    return OmegaConf.to_container(cfg.method, resolve=True)


def method_spec(method_cfg: DictConfig | dict, source: str | None = None) -> MethodSpec:
    """Split a method config; ``source`` names its file in errors (default: found by its name)."""
    settings = OmegaConf.to_container(method_cfg, resolve=True) if isinstance(method_cfg, DictConfig) \
        else dict(method_cfg)
    name = settings.pop("name", None) or "unnamed"
    source = source or method_source(name)
    target = settings.pop("_target_", None)
    if not target:
        raise MethodConfigError(f"{source}: no _target_ (the method's class, e.g. persam.methods.persam.PerSAM)")
    video = settings.pop("video", None) or {}
    label = settings.pop("label", None) or name
    settings.pop("rung", None)
    return MethodSpec(name, label, target, settings, video, source)


def accepted_settings(cls: type) -> set[str] | None:
    """The keyword settings a method class takes (None: it takes any)."""
    settings_class = getattr(cls, "settings_class", None)
    if settings_class is not None and dataclasses.is_dataclass(settings_class):
        return {f.name for f in dataclasses.fields(settings_class)}
    params = list(inspect.signature(cls.__init__).parameters.values())[2:]  # self, predictor
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def method_class(spec: MethodSpec) -> type:
    """The class named by the config's ``_target_`` (imported, not built)."""
    try:
        return hydra.utils.get_class(spec.target)
    except Exception as err:  # hydra wraps import errors; the import's own message is the useful part
        raise MethodConfigError(f"{spec.source}: _target_ {spec.target!r} cannot be imported: "
                                f"{err.__cause__ or err}") from err


def build_method(predictor: GuidedPredictor, method_cfg: DictConfig | dict, source: str | None = None):
    """The method of ``method_cfg``, built on ``predictor`` (see the module docstring)."""
    spec = method_cfg if isinstance(method_cfg, MethodSpec) else method_spec(method_cfg, source)
    cls = method_class(spec)
    accepted = accepted_settings(cls)
    if accepted is not None:
        unknown = sorted(set(spec.settings) - accepted)
        if unknown:
            raise MethodConfigError(f"{spec.source}: unknown key {unknown[0]!r} for {cls.__name__} "
                                    f"(it takes: {', '.join(sorted(accepted))})")
    try:
        return hydra.utils.instantiate({"_target_": spec.target, **spec.settings}, predictor, _convert_="all")
    except Exception as err:  # a bad value: the class's own message, with the file
        raise MethodConfigError(f"{spec.source}: {err.__cause__ or err}") from err


def effective_settings(method) -> dict:
    """Every setting of a built method, defaults included (for provenance): its config dataclass's fields."""
    config = getattr(method, "config", None)
    if config is not None and dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    return {}
