"""The task behind ``python -m persam.run``: evaluate one method on one dataset, ``evaluate(cfg) -> rows``.

Kept apart from the Hydra entry point so tests and notebooks call it with a composed config. The dataset's
``task`` picks the loop (``images``: PerSeg layout, :mod:`persam.experiments.image_task`; ``video``: DAVIS
layout). Every run writes into ``out_dir``: per-item outputs (masks, overlays, ``items/<item>.json``),
``results.csv`` (tidy rows) and ``provenance.json``. A rerun into the same folder with the same settings
reuses the finished items and computes only the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from persam.experiments import provenance
from persam.methods import PerSAMConfig
from persam.methods.factory import build_method
from persam.models import EmbeddingCache, GuidedPredictor, build_sam

COLUMNS = ["experiment", "dataset", "subset", "method", "label", "model", "item", "metric", "value"]
METHOD_KEYS = set(PerSAMConfig.__dataclass_fields__)


@dataclass
class TaskOutput:
    """What a dataset loop hands back: rows, the items it covered and what else provenance should say."""

    rows: list[dict]
    items: list[str]
    units: int  # how many target images / frames were evaluated
    wall_seconds: float
    unit_name: str = "target_images"
    extra: dict = field(default_factory=dict)


def method_config(cfg: DictConfig) -> PerSAMConfig:
    fields = {k: v for k, v in OmegaConf.to_container(cfg.method, resolve=True).items() if k in METHOD_KEYS}
    return PerSAMConfig(**fields)


_MODELS: dict[tuple, object] = {}  # loaded SAMs by where their weights come from: a multirun's jobs share one


def build_predictor(cfg: DictConfig) -> GuidedPredictor:
    key = (cfg.model.name, str(cfg.model.checkpoint), str(cfg.device),
           os.environ.get("PERSAM_CHECKPOINT"), os.environ.get("PERSAM_HOME"))
    if key not in _MODELS:
        _MODELS[key] = build_sam(cfg.model.name, cfg.model.checkpoint, cfg.device)
    loaded = _MODELS[key]
    cache = None
    if cfg.cache.enabled:
        kwargs = {"max_bytes": int(cfg.cache.max_gb * 2**30)}
        cache = EmbeddingCache(cfg.cache.dir, **kwargs) if cfg.cache.dir else EmbeddingCache(**kwargs)
    return GuidedPredictor(loaded, cache, encoder=cfg.model.get("encoder") or "auto")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and a rename: a reader (or a later run) sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def fingerprint(cfg: DictConfig, checkpoint_sha256: str) -> str:
    """What must match for a finished item to be reused: method, model weights, dataset settings."""
    parts = {
        "method": OmegaConf.to_container(cfg.method, resolve=True),
        "model": cfg.model.name,
        "encoder": cfg.model.get("encoder") or "auto",
        "checkpoint": checkpoint_sha256,
        "dataset": {k: v for k, v in OmegaConf.to_container(cfg.dataset, resolve=True).items() if k != "subset"},
        "corruption": OmegaConf.to_container(cfg.corruption, resolve=True) if "corruption" in cfg else None,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def base_row(cfg: DictConfig) -> dict:
    return {
        "experiment": cfg.experiment_name,
        "dataset": cfg.dataset.name,
        "subset": cfg.dataset.subset or "as found",
        "method": cfg.method.name,
        "label": cfg.method.label,
        "model": cfg.model.name,
    }


def _tasks() -> dict[str, Callable[..., TaskOutput]]:
    from persam.experiments.image_task import run_image_task

    tasks = {"images": run_image_task}
    try:
        from persam.experiments.video_task import run_video_task
    except ImportError:
        return tasks
    return {**tasks, "video": run_video_task}


def evaluate(cfg: DictConfig, out_dir: str | Path, predictor: GuidedPredictor | None = None) -> list[dict]:
    """Run ``cfg.method`` over ``cfg.dataset`` and return tidy result rows (scores in percent)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    tasks = _tasks()
    task = cfg.dataset.get("task", "images")
    if task not in tasks:
        raise ValueError(f"dataset.task must be one of {', '.join(tasks)}, got {task!r}")
    predictor = predictor or build_predictor(cfg)
    method = build_method(predictor, OmegaConf.to_container(cfg.method, resolve=True))
    encoder_calls_before = predictor.encoder_calls
    cache_before = predictor.cache.stats() if predictor.cache else None
    output = tasks[task](cfg, predictor, method, out_dir, base_row(cfg))
    frame = pd.DataFrame(output.rows, columns=COLUMNS)
    write_atomic(out_dir / "results.csv", frame.to_csv(index=False))
    cache = {"enabled": False}
    if predictor.cache:
        now = predictor.cache.stats()
        cache = {"dir": now["dir"], "hits": now["hits"] - cache_before["hits"],
                 "misses": now["misses"] - cache_before["misses"]}
    record = provenance.collect({
        "config": OmegaConf.to_container(cfg, resolve=True),
        "model": {"name": predictor.loaded.name, "checkpoint": str(predictor.loaded.checkpoint),
                  "sha256": predictor.loaded.sha256, "encoder": predictor.encoder_id},
        "device": str(predictor.device),
        "data": {"dataset": cfg.dataset.name, "root": output.extra.pop("root", None),
                 "subset": output.extra.pop("subset", base_row(cfg)["subset"]),
                 "items": output.items, output.unit_name: output.units},
        "seed": {"value": cfg.seed, "seeded": ["python random", "numpy", "torch"],
                 "note": "PerSAM and PerSAM-F draw no random numbers; the seed is set for any variant that does"},
        "embedding_cache": {**cache, "encoder_calls": predictor.encoder_calls - encoder_calls_before},
        "wall_seconds": output.wall_seconds,
        **output.extra,
    })
    write_atomic(out_dir / "provenance.json", json.dumps(record, indent=2, default=str))
    return output.rows
