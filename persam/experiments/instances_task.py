"""The instances task (``dataset.task=instances``): several copies of the object in one image.

The dataset is a PerSeg layout whose masks are instance label maps (0 background, 1..n), as
``data_prep/copy_paste_instances.py`` writes: the unmodified targets (one instance) and the copy-paste
composites (two). Images are told apart by their ground truth (one instance or several), not by name.

Rows per object (``item``) and for ``ALL``:

* ``recall`` / ``precision``: instances matched one-to-one at IoU >= 0.5 over the true / predicted instances
  of the composites (``ALL``: pooled counts); per object also the counts, ``instances_matched``,
  ``instances_true`` and ``instances_predicted`` (the pooled ratios' intervals resample them by object);
* ``miou_union``: the IoU of the union of the predicted instances with the union of the true ones, over the
  composites (pooled per object as PerSeg's IoU; ``ALL``: the mean over objects);
* ``miou_single``: the same on the single-instance images, to compare with ``max_instances: 1``;
* ``max_instances`` (``ALL``): the method's setting (1 where it has none), so a table tells the runs apart.

A method without ``instances`` in its prediction counts its mask as one instance. Masks are written as
``masks/<object>/<stem>.png``, palette label maps 1..n; each object's record (``items/<object>.json``) also keeps
every image's counts (``images``: true, predicted and matched instances), to read where instances were lost.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np

from persam.data.io import DEFAULT_PALETTE, DataError, read_image, read_label_map, write_mask
from persam.drawing import overlay_labels, write_image
from persam.experiments.image_task import dataset_root, fit_object, task_objects
from persam.experiments.item_loop import run_items
from persam.experiments.provenance import portable_path
from persam.experiments.records import TaskOutput
from persam.experiments.task_context import TaskContext
from persam.metrics import ObjectScore
from persam.metrics.instances import InstanceCounts


def predicted_labels(prediction) -> np.ndarray:
    """H x W uint8 instance labels of a prediction (its mask as instance 1 when it has no label map)."""
    if prediction.instances is not None:
        return np.asarray(prediction.instances, dtype=np.uint8)
    return prediction.mask.astype(np.uint8)


def run_instances_task(ctx: TaskContext) -> TaskOutput:
    cfg = ctx.cfg
    root = dataset_root(cfg)
    objects = task_objects(ctx)
    base = ctx.base  # runs of one method differ by the presence check and max_instances: columns of every row

    def compute(name: str, bar) -> dict:
        obj = objects[name]
        reference, _ = fit_object(ctx, obj)
        counts, union, single, images = InstanceCounts(), ObjectScore(), ObjectScore(), []
        for stem, image_path, gt_path in obj.targets:
            image = read_image(image_path)
            gt = read_label_map(gt_path)
            if gt.shape != image.shape[:2]:
                raise DataError(f"{gt_path}: mask is {gt.shape[1]}x{gt.shape[0]} but its image is "
                                f"{image.shape[1]}x{image.shape[0]}")
            embedding = ctx.embed(image)
            start = time.perf_counter()
            prediction = ctx.method.predict(embedding, reference, gt > 0 if ctx.method.needs_ground_truth else None)
            ctx.clock.method_seconds += time.perf_counter() - start
            ctx.clock.method_images += 1
            labels = predicted_labels(prediction)
            image_counts = InstanceCounts()
            image_counts.add(labels, gt)
            images.append({"image": stem, **asdict(image_counts)})
            if image_counts.true > 1:  # a composite
                counts += image_counts
                union.add(labels > 0, gt > 0)
            else:
                single.add(labels > 0, gt > 0)
            if cfg.outputs.masks:
                write_mask(ctx.out_dir / "masks" / name / f"{stem}.png", labels)
            if cfg.outputs.overlays:
                write_image(ctx.out_dir / "overlays" / name / f"{stem}.jpg", overlay_labels(image, labels, DEFAULT_PALETTE))
            bar.update(1)
        if not counts.true:
            raise DataError(f"{root / 'Annotations' / name}: no image with several instances (is this a "
                            "copy-paste composite dataset? see data_prep/copy_paste_instances.py)")
        rows = [{**base, "item": name, "metric": "recall", "value": 100 * counts.recall},
                {**base, "item": name, "metric": "precision", "value": 100 * counts.precision},
                {**base, "item": name, "metric": "iou_union", "value": 100 * union.iou},
                *[{**base, "item": name, "metric": f"instances_{k}", "value": v} for k, v in asdict(counts).items()]]
        if single.images:
            rows.append({**base, "item": name, "metric": "iou_single", "value": 100 * single.iou})
        return {"rows": rows, "counts": asdict(counts), "union": asdict(union), "single": asdict(single),
                "images": images}

    start = time.perf_counter()
    result = run_items(list(objects), lambda name: len(objects[name].targets), compute, ctx.out_dir, ctx.key,
                       f"{cfg.method.name} instances on {cfg.dataset.name}", "img", cfg.progress, clock=ctx.clock,
                       plan=ctx.predictor.expect_images)
    records = list(result.records.values())
    total = sum((InstanceCounts(**r["counts"]) for r in records), InstanceCounts())
    rows = [row for r in records for row in r["rows"]]
    mean = {m: float(np.mean([row["value"] for row in rows if row["metric"] == m]))
            for m in ("iou_union", "iou_single") if any(row["metric"] == m for row in rows)}
    rows += [{**base, "item": "ALL", "metric": "recall", "value": 100 * total.recall},
             {**base, "item": "ALL", "metric": "precision", "value": 100 * total.precision},
             {**base, "item": "ALL", "metric": "miou_union", "value": mean["iou_union"]}]
    if "iou_single" in mean:
        rows.append({**base, "item": "ALL", "metric": "miou_single", "value": mean["iou_single"]})
    rows.append({**base, "item": "ALL", "metric": "max_instances", "value": cfg.method.get("max_instances", 1)})
    rows += ctx.timing_rows()
    n_images = sum(len(o.targets) for o in objects.values())
    return TaskOutput(rows, list(objects), n_images, time.perf_counter() - start,
                      extra={"root": portable_path(root), "resumed_items": result.reused, "subset": base["subset"]})
