"""The task behind ``python -m persam.run``: evaluate one method on one dataset, ``evaluate(cfg) -> rows``.

Kept apart from the Hydra entry point so tests and notebooks call it with a composed config. Writes into
``out_dir``: ``masks/<object>/<stem>.png`` (palette PNGs), ``overlays/<object>/<stem>.jpg``,
``results.csv`` (tidy rows) and ``provenance.json``.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from persam.data.io import DataError, read_image, read_mask, write_mask
from persam.data.perseg import load_perseg
from persam.experiments import provenance
from persam.experiments.overlays import overlay, write_image
from persam.methods import PerSAM, PerSAMConfig
from persam.metrics import ObjectScore, mean_scores
from persam.models import EmbeddingCache, GuidedPredictor, build_sam

SAMPLE_PERSEG = Path(__file__).resolve().parents[1] / "sample_data" / "perseg"
COLUMNS = ["experiment", "dataset", "subset", "method", "label", "model", "item", "metric", "value"]
METHOD_KEYS = set(PerSAMConfig.__dataclass_fields__)


def method_config(cfg: DictConfig) -> PerSAMConfig:
    fields = {k: v for k, v in OmegaConf.to_container(cfg.method, resolve=True).items() if k in METHOD_KEYS}
    return PerSAMConfig(**fields)


def dataset_root(cfg: DictConfig) -> Path:
    return Path(cfg.dataset.root).expanduser() if cfg.dataset.root else SAMPLE_PERSEG


def build_predictor(cfg: DictConfig) -> GuidedPredictor:
    loaded = build_sam(cfg.model.name, cfg.model.checkpoint, cfg.device)
    cache = None
    if cfg.cache.enabled:
        kwargs = {"max_bytes": int(cfg.cache.max_gb * 2**30)}
        cache = EmbeddingCache(cfg.cache.dir, **kwargs) if cfg.cache.dir else EmbeddingCache(**kwargs)
    return GuidedPredictor(loaded, cache)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def evaluate(cfg: DictConfig, out_dir: str | Path, predictor: GuidedPredictor | None = None) -> list[dict]:
    """Run ``cfg.method`` over ``cfg.dataset`` and return tidy result rows (scores in percent)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    root = dataset_root(cfg)
    objects = load_perseg(root, list(cfg.dataset.objects) if cfg.dataset.objects else None, cfg.dataset.ref_stem)
    predictor = predictor or build_predictor(cfg)
    method = PerSAM(predictor, method_config(cfg))
    base = {
        "experiment": cfg.experiment_name,
        "dataset": cfg.dataset.name,
        "subset": cfg.dataset.subset or ("bundled sample" if not cfg.dataset.root else "as found"),
        "method": cfg.method.name,
        "label": cfg.method.label,
        "model": cfg.model.name,
    }
    rows: list[dict] = []
    scores: dict[str, ObjectScore] = {}
    n_targets = sum(len(o.targets) for o in objects)
    encoder_calls_before = predictor.encoder_calls
    start = time.perf_counter()
    with tqdm(total=n_targets, desc=f"{cfg.method.name} on {cfg.dataset.name}", unit="img",
              disable=not cfg.progress, dynamic_ncols=True) as bar:
        for obj in objects:
            bar.set_postfix_str(obj.name)
            ref_image = read_image(obj.ref_image)
            ref_mask = read_mask(obj.ref_mask, ref_image.shape[:2])
            if not ref_mask.any():
                raise DataError(f"{obj.ref_mask}: reference mask is empty (no non-zero pixel)")
            reference = method.fit(predictor.embed(ref_image), ref_mask)
            score = scores[obj.name] = ObjectScore()
            for stem, image_path, gt_path in obj.targets:
                image = read_image(image_path)
                gt = read_mask(gt_path, image.shape[:2])
                prediction = method.predict(predictor.embed(image), reference)
                score.add(prediction.mask, gt)
                if cfg.outputs.masks:
                    write_mask(out_dir / "masks" / obj.name / f"{stem}.png", prediction.mask)
                if cfg.outputs.overlays:
                    picture = overlay(image, prediction.mask, prediction.point_coords, prediction.point_labels, gt)
                    write_image(out_dir / "overlays" / obj.name / f"{stem}.jpg", picture)
                bar.update(1)
            rows.append({**base, "item": obj.name, "metric": "iou", "value": 100 * score.iou})
            rows.append({**base, "item": obj.name, "metric": "acc", "value": 100 * score.acc})
            if reference.scale_weights is not None:
                rows.append({**base, "item": obj.name, "metric": "fit_sec", "value": reference.fit_seconds})
    elapsed = time.perf_counter() - start
    miou, macc = mean_scores(scores)
    rows += [
        {**base, "item": "ALL", "metric": "miou", "value": 100 * miou},
        {**base, "item": "ALL", "metric": "macc", "value": 100 * macc},
        {**base, "item": "ALL", "metric": "sec_per_image", "value": elapsed / max(n_targets, 1)},
    ]
    pd.DataFrame(rows, columns=COLUMNS).to_csv(out_dir / "results.csv.tmp", index=False)
    os.replace(out_dir / "results.csv.tmp", out_dir / "results.csv")
    record = provenance.collect({
        "config": OmegaConf.to_container(cfg, resolve=True),
        "model": {"name": predictor.loaded.name, "checkpoint": str(predictor.loaded.checkpoint),
                  "sha256": predictor.loaded.sha256},
        "device": str(predictor.device),
        "data": {"dataset": cfg.dataset.name, "root": str(root.resolve()), "subset": base["subset"],
                 "items": [o.name for o in objects], "target_images": n_targets},
        "seed": {"value": cfg.seed, "seeded": ["python random", "numpy", "torch"],
                 "note": "PerSAM and PerSAM-F draw no random numbers; the seed is set for any variant that does"},
        "embedding_cache": {**(predictor.cache.stats() if predictor.cache else {"enabled": False}),
                            "encoder_calls": predictor.encoder_calls - encoder_calls_before},
        "wall_seconds": elapsed,
    })
    write_atomic(out_dir / "provenance.json", json.dumps(record, indent=2, default=str))
    return rows
