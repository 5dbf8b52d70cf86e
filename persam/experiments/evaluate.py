"""The task behind ``python -m persam.run``: evaluate one method on one dataset, ``evaluate(cfg) -> rows``.

Kept apart from the Hydra entry point so tests and notebooks call it with a composed config. The dataset's
``task`` picks the loop from :data:`TASKS` (``images``: PerSeg layout; ``video``: DAVIS layout; ``presence``
and ``instances``: the protocols of :mod:`persam.experiments.presence_task` and ``instances_task``), imported
only when chosen, so one task's missing dependency never hides another (and surfaces as itself). Every run
writes into ``out_dir``: per-item outputs (masks, overlays, ``items/<item>.json``), ``results.csv`` (tidy
rows, :mod:`persam.experiments.records`) and ``provenance.json``, written when the run starts (``status``
``running``: configuration, method settings, model, machine) and completed at its end, after ``results.csv``
(``status`` ``complete``: data, manifest, timings), so a run that stops on the way loses neither what it
computed (the finished items) nor the record of what it was. A rerun into the same folder with the same
settings reuses the finished items and computes only the rest; a folder holding another configuration's
results (or an unfinished run of it) is refused, never overwritten.
"""

from __future__ import annotations

import importlib
import json
import os
import random
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from persam.atomic import write_atomic
from persam.data.io import DataError
from persam.experiments import provenance
from persam.experiments.output_writer import OutputWriter
from persam.experiments.records import COLUMNS, digest
from persam.experiments.references import reference_protocol
from persam.experiments.task_context import TaskContext
from persam.methods.builder import MethodSpec, build_method, effective_settings, method_source, method_spec
from persam.models import EmbeddingCache, GuidedPredictor, build_sam

# dataset.task -> "module:function" of its loop; each is called as fn(ctx: TaskContext) -> TaskOutput.
TASKS = {
    "images": "persam.experiments.image_task:run_image_task",
    "video": "persam.experiments.video_task:run_video_task",
    "presence": "persam.experiments.presence_task:run_presence_task",
    "instances": "persam.experiments.instances_task:run_instances_task",
}

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
    return GuidedPredictor(loaded, cache, encoder=cfg.model.get("encoder") or "auto",
                           decoder=cfg.model.get("decoder") or "auto")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run_method_spec(cfg: DictConfig) -> MethodSpec:
    """The run's method config, its source file found on the run's config search path."""
    searchpath = []
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            choice = HydraConfig.get().runtime.choices.get("method")
            searchpath = [s.path for s in HydraConfig.get().runtime.config_sources if s.schema == "file"]
            return method_spec(cfg.method, method_source(choice or cfg.method.name, searchpath))
    except ImportError:
        pass
    return method_spec(cfg.method)


# Dataset settings that only label the results (image_task.subset_label), never change them. total_objects and
# objects_of label too but stay in, so the fingerprints of runs made before this list keep matching.
LABEL_ONLY = ("subset", "known_objects")


def fingerprint(cfg: DictConfig, checkpoint_sha256: str, encoder_id: str) -> str:
    """What must match for a finished item to be reused: method, model weights, encoder, dataset settings (not
    the decoder path: they agree to rounding, persam/models/decoders.py)."""
    return digest({
        "method": OmegaConf.to_container(cfg.method, resolve=True),
        "model": cfg.model.name,
        "encoder": encoder_id,
        "checkpoint": checkpoint_sha256,
        # references=fixed is left out, so runs from before the setting existed resume under the same key.
        "dataset": {k: v for k, v in OmegaConf.to_container(cfg.dataset, resolve=True).items()
                    if k not in LABEL_ONLY and not (k == "references" and v == "fixed")},
        "corruption": OmegaConf.to_container(cfg.corruption, resolve=True) if "corruption" in cfg else None,
    })


def refuse_other_configuration(out_dir: Path, key: str, cfg: DictConfig) -> None:
    """Stop when ``out_dir`` holds the results of another configuration (resume is for the same one)."""
    path = out_dir / "provenance.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    theirs = record.get("fingerprint")
    if theirs is not None and theirs != key:
        other = record.get("config", {}).get("method", {}).get("name", "?")
        raise DataError(f"{out_dir}: holds the results of another configuration (method {other}, fingerprint "
                        f"{theirs}); this run is method {cfg.method.name}, fingerprint {key}. Choose another "
                        "output folder (hydra.run.dir / hydra.sweep.dir) or remove that one")


def setting_fields(cfg: DictConfig, spec: MethodSpec) -> dict:
    """The run's setting as row columns (rows compare only within one setting): reference protocol, task, the
    presence check's second opinion, the presence check, max_instances."""
    return {
        "protocol": reference_protocol(cfg),
        "task": cfg.dataset.get("task", "images"),
        "second_opinion": spec.settings.get("second_opinion") or "none",
        "presence": bool(cfg.method.get("presence", False)),
        "max_instances": int(cfg.method.get("max_instances") or 1),
    }


def row_label(spec: MethodSpec, fields: dict) -> str:
    """The row's display label, generated from the method's label and the setting ``fields`` (never parsed back):
    the second opinion where there is one; in the instances task, whose runs differ by the presence check and
    max_instances, those too."""
    label = spec.label
    if fields["second_opinion"] != "none":
        label += f" + second opinion ({fields['second_opinion']})"
    if fields["task"] == "instances":
        label += (" with presence check" if fields["presence"] else "") + f" (max_instances={fields['max_instances']})"
    return label


def base_row(cfg: DictConfig, spec: MethodSpec) -> dict:
    fields = setting_fields(cfg, spec)
    return {
        "experiment": cfg.experiment_name,
        "dataset": cfg.dataset.name,
        "subset": cfg.dataset.subset or "as found",
        "method": spec.name,
        "label": row_label(spec, fields),
        "model": cfg.model.name,
        "corruption": cfg.corruption.name if "corruption" in cfg else "none",
        "shots": len(cfg.dataset.get("ref_stems") or ["00"]),
        **fields,
    }


def task_function(task: str):
    if task not in TASKS:
        raise DataError(f"dataset.task must be one of {', '.join(TASKS)}, got {task!r}")
    module, name = TASKS[task].split(":")
    return getattr(importlib.import_module(module), name)


def evaluate(cfg: DictConfig, out_dir: str | Path, predictor: GuidedPredictor | None = None) -> list[dict]:
    """Run ``cfg.method`` over ``cfg.dataset`` and return tidy result rows (scores in percent)."""
    out_dir = Path(out_dir)
    seed_everything(cfg.seed)
    run_task = task_function(cfg.dataset.get("task", "images"))
    reference_protocol(cfg)  # a protocol the task cannot run stops here, before the model loads
    spec = run_method_spec(cfg)
    predictor = predictor or build_predictor(cfg)
    method = build_method(predictor, spec)
    key = fingerprint(cfg, predictor.loaded.sha256, predictor.encoder_id)
    refuse_other_configuration(out_dir, key, cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = started_record(cfg, spec, method, predictor, key)
    write_atomic(out_dir / "provenance.json", json.dumps(record, indent=2, default=str))
    encoder_calls_before = predictor.encoder_calls
    cache_before = predictor.cache.stats() if predictor.cache else None
    ctx = TaskContext(cfg, predictor, method, spec, out_dir, base_row(cfg, spec), key)
    ctx.times.instrument(predictor)
    with OutputWriter() as ctx.writer:  # masks and overlays are written while the next image is encoded
        output = run_task(ctx)
    frame = pd.DataFrame(output.rows, columns=COLUMNS)
    write_atomic(out_dir / "results.csv", frame.to_csv(index=False))
    # From here on every result is on disk: the record is completed (a failure now loses nothing computed).
    cache = {"enabled": False}
    if predictor.cache:
        now = predictor.cache.stats()
        cache = {"dir": provenance.portable_path(now["dir"]), "hits": now["hits"] - cache_before["hits"],
                 "misses": now["misses"] - cache_before["misses"]}
    manifest = provenance.data_manifest(output.data_files, output.data_root) if output.data_root is not None else None
    record.update({
        "status": "complete",
        "date": provenance.utc_now(),
        "method_settings": {**record["method_settings"], **output.extra.pop("method", {})},
        "data": {"dataset": cfg.dataset.name, "root": output.extra.pop("root", record["data"]["root"]),
                 "subset": output.extra.pop("subset", base_row(cfg, spec)["subset"]),
                 "items": output.items, output.unit_name: output.units, "manifest": manifest},
        "embedding_cache": {**cache, "encoder_calls": predictor.encoder_calls - encoder_calls_before},
        "wall_seconds": output.wall_seconds,
        "stage_times": {**ctx.times.summary(), "method": {"seconds": round(ctx.clock.method_seconds, 6),
                                                          "calls": ctx.clock.method_images}},
        **output.extra,
    })
    write_atomic(out_dir / "provenance.json", json.dumps(record, indent=2, default=str))
    return output.rows


def started_record(cfg: DictConfig, spec: MethodSpec, method, predictor: GuidedPredictor, key: str) -> dict:
    """The provenance a run writes as it starts (``status`` ``running``): what it is and where it runs; evaluate
    completes it at the end (``status`` ``complete``, ``date`` the end, ``started`` the start)."""
    record = provenance.collect({
        "status": "running",
        "fingerprint": key,
        "config": OmegaConf.to_container(cfg, resolve=True),
        "setting": setting_fields(cfg, spec),  # as every row's columns
        "method_settings": {"name": spec.name, "label": spec.label, "target": spec.target,
                            "source": provenance.portable_path(spec.source),
                            "settings": effective_settings(method) or spec.settings},
        "model": {"name": predictor.loaded.name, "checkpoint": provenance.portable_path(predictor.loaded.checkpoint),
                  "sha256": predictor.loaded.sha256, "encoder": predictor.encoder_id,
                  "decoder": predictor.decoder_id},
        "device": str(predictor.device),
        "data": {"dataset": cfg.dataset.name, "root": provenance.portable_path(cfg.dataset.get("root"))},
        "seed": {"value": cfg.seed, "seeded": ["python random", "numpy", "torch"]},
    })
    return {**record, "started": record["date"]}
