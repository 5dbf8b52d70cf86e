"""The image task: PerSeg-layout datasets, one reference per object, IoU per object and mIoU.

Each finished object is recorded in ``items/<object>.json`` (its rows and pixel counts, with the run's
fingerprint) after its masks are written; a rerun with the same fingerprint reuses it instead of
recomputing, so an interrupted run loses at most the object it was working on.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from omegaconf import DictConfig
from tqdm import tqdm

from persam.data.io import DataError, read_image, read_mask, write_mask
from persam.data.mask_corruption import corrupt_mask
from persam.data.perseg import load_perseg
from persam.data.sharding import shard_items
from persam.experiments.evaluate import TaskOutput, fingerprint, write_atomic
from persam.experiments.output_writer import OutputWriter
from persam.experiments.overlays import overlay, write_image
from persam.experiments.stage_times import StageTimes
from persam.methods import PerSAM
from persam.metrics import ObjectScore, mean_scores
from persam.models import GuidedPredictor

SAMPLE_PERSEG = Path(__file__).resolve().parents[1] / "sample_data" / "perseg"
PERSEG_OBJECTS = 40


def dataset_root(cfg: DictConfig) -> Path:
    return Path(cfg.dataset.root).expanduser() if cfg.dataset.root else SAMPLE_PERSEG


def subset_label(cfg: DictConfig, root: Path, n_objects: int) -> str:
    """What part of the dataset was evaluated, for tables: e.g. "3 of 40 objects"."""
    where = "bundled sample" if root == SAMPLE_PERSEG else str(cfg.dataset.root)
    total = PERSEG_OBJECTS if cfg.dataset.name == "perseg" else None
    count = f"{n_objects} of {total} objects" if total and n_objects < total else f"{n_objects} objects"
    return f"{count} ({where})"


def _finished(path: Path, key: str) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # absent or torn: redo the object
    return record if record.get("fingerprint") == key else None


def write_overlay(path: Path, image, prediction, gt) -> None:
    """Render the overlay of one prediction and write it (run on the output writer's thread)."""
    write_image(path, overlay(image, prediction.mask, prediction.point_coords, prediction.point_labels, gt))


def run_image_task(cfg: DictConfig, predictor: GuidedPredictor, method: PerSAM, out_dir: Path, base: dict) -> TaskOutput:
    root = dataset_root(cfg)
    objects = load_perseg(root, list(cfg.dataset.objects) if cfg.dataset.objects else None, cfg.dataset.ref_stem)
    shard, num_shards = cfg.dataset.get("shard", 0), cfg.dataset.get("num_shards", 1)
    chosen = set(shard_items([o.name for o in objects], shard, num_shards))
    objects = [o for o in objects if o.name in chosen]
    key = fingerprint(cfg, predictor.loaded.sha256)
    if not cfg.dataset.subset:
        base = {**base, "subset": subset_label(cfg, root, len(objects))}
    rows: list[dict] = []
    scores: dict[str, ObjectScore] = {}
    n_targets = sum(len(o.targets) for o in objects)
    computed_targets, reused = 0, []
    times = StageTimes()
    times.instrument(predictor)
    start = time.perf_counter()
    with OutputWriter() as writer, tqdm(total=n_targets, desc=f"{cfg.method.name} on {cfg.dataset.name}", unit="img",
              disable=not cfg.progress, dynamic_ncols=True) as bar:
        for obj in objects:
            item_file = out_dir / "items" / f"{obj.name}.json"
            done = _finished(item_file, key)
            if done is not None:
                scores[obj.name] = ObjectScore(**done["counts"])
                rows += done["rows"]
                reused.append(obj.name)
                bar.update(len(obj.targets))
                continue
            bar.set_postfix_str(obj.name)
            with times("read"):
                ref_image = read_image(obj.ref_image)
                ref_mask = read_mask(obj.ref_mask, ref_image.shape[:2])
            if not ref_mask.any():
                raise DataError(f"{obj.ref_mask}: reference mask is empty (no non-zero pixel)")
            ref_mask = corrupt_mask(ref_mask, cfg.corruption.op, cfg.corruption.kernel)
            ref_embedding = predictor.embed(ref_image)
            with times("method"):
                reference = method.fit(ref_embedding, ref_mask)
            score = scores[obj.name] = ObjectScore()
            for stem, image_path, gt_path in obj.targets:
                with times("read"):
                    image = read_image(image_path)
                    gt = read_mask(gt_path, image.shape[:2])
                embedding = predictor.embed(image)
                with times("method"):
                    prediction = method.predict(embedding, reference, gt if method.needs_ground_truth else None)
                with times("score"):
                    score.add(prediction.mask, gt)
                # Written on the writer's thread while the next image is read and encoded.
                if cfg.outputs.masks:
                    writer.submit(times.timed("write_masks", write_mask),
                                  out_dir / "masks" / obj.name / f"{stem}.png", prediction.mask)
                if cfg.outputs.overlays:
                    writer.submit(times.timed("write_overlays", write_overlay),
                                  out_dir / "overlays" / obj.name / f"{stem}.jpg", image, prediction, gt)
                bar.update(1)
            writer.flush()  # the object's record below says its outputs are on disk
            computed_targets += len(obj.targets)
            object_rows = [{**base, "item": obj.name, "metric": "iou", "value": 100 * score.iou},
                           {**base, "item": obj.name, "metric": "acc", "value": 100 * score.acc}]
            if reference.scale_weights is not None:
                object_rows.append({**base, "item": obj.name, "metric": "fit_sec", "value": reference.fit_seconds})
            rows += object_rows
            write_atomic(item_file, json.dumps({"fingerprint": key, "rows": object_rows, "counts": asdict(score)}))
    elapsed = time.perf_counter() - start
    miou, macc = mean_scores(scores)
    rows += [
        {**base, "item": "ALL", "metric": "miou", "value": 100 * miou},
        {**base, "item": "ALL", "metric": "macc", "value": 100 * macc},
        # Seconds per target image computed in this run (reused objects cost nothing and are not counted).
        {**base, "item": "ALL", "metric": "sec_per_image", "value": elapsed / max(computed_targets, 1)},
    ]
    return TaskOutput(rows, [o.name for o in objects], n_targets, elapsed, extra=
                      {"root": str(root.resolve()), "resumed_items": reused, "subset": base["subset"],
                       "shard": {"index": shard, "count": num_shards}, "stage_times": times.summary()})
