"""The presence task (``dataset.task=presence``): is the object in the image, on a PerSeg-layout dataset?

``dataset.negatives=cross``: for each object, its own targets are the positives and every other object's
targets in the same dataset are the negatives (an own target whose ground truth is empty, the object having left
the view, is a negative too: the object is not in that image). The method is fitted on the object's references only (its
presence threshold is calibrated there, never on targets) and predicts every positive and negative image.

Rows per object (``item`` = the object) and for ``ALL``:

* ``auroc``: the presence score's AUROC, the object's positives against its negatives (``ALL``: the mean over
  objects, since each object has its own calibrated threshold, scores are compared within an object);
* ``tpr`` / ``fpr``: the rate of positives / negatives the method called present (``ALL``: pooled over
  every decision);
* ``miou_pos``: IoU over the positives with the presence check (an empty prediction there scores 0; ``ALL``:
  the mean over objects, as PerSeg's mIoU); ``miou_unchecked``: the same positives without the check (the
  mask the method had before it decided "absent");
* ``il_mcc`` and ``cgf1``: SAM 3's image-level Matthews correlation of the method's own decision (a non-empty
  mask) against the truth, and its cgF1, 100 x positive micro-F1 (over IoU thresholds 0.5 ... 0.95) x IL_MCC
  (:mod:`persam.metrics.presence`; ``ALL``: pooled over every image-object pair, as SAM 3 pools its pairs);
* ``oracle_fpr``: the false-positive rate at the object's lowest positive score, the threshold that keeps every
  positive (so ``miou_pos`` would equal ``miou_unchecked``) chosen on the targets themselves (``ALL``: pooled):
  not a method's result but a bound on its score, which no calibration without the targets can beat while
  keeping every positive.

Each object is one item of the shared loop (resumable); its record keeps the scores, the second opinion's
semantic similarities (None without one, or where it did not run) and the decisions.
Masks: ``masks/<object>/<stem>.png`` (positives) and ``masks/<object>/negatives/<other>_<stem>.png``.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np

from persam.data.io import DataError, read_image, read_mask, write_mask
from persam.drawing import overlay, write_image
from persam.experiments.image_task import dataset_root, fit_object, task_objects
from persam.experiments.item_loop import run_items
from persam.experiments.provenance import portable_path
from persam.experiments.records import TaskOutput
from persam.experiments.task_context import TaskContext
from persam.metrics import ObjectScore
from persam.metrics.presence import auroc, cgf1, il_mcc, image_level_counts, keeps_every_positive, rates

NEGATIVES = ("cross",)


def unchecked_mask(prediction) -> np.ndarray:
    """The mask before the presence check: the prediction's own, or the one the check emptied."""
    decision = prediction.decision
    return decision.unchecked.mask if decision is not None and decision.unchecked is not None else prediction.mask


def semantic_score(prediction) -> float | None:
    """The second opinion's similarity for the prediction (None where it was not asked)."""
    return prediction.decision.semantic if prediction.decision is not None else None


def run_presence_task(ctx: TaskContext) -> TaskOutput:
    cfg = ctx.cfg
    negatives = cfg.dataset.get("negatives", "cross")
    if negatives not in NEGATIVES:
        raise ValueError(f"dataset.negatives must be one of {', '.join(NEGATIVES)}, got {negatives!r}")
    if not cfg.method.get("presence", False):
        raise ValueError(f"method {cfg.method.name!r} runs without a presence check; the presence task needs "
                         "method.presence=true (on a method that has the setting)")
    objects = task_objects(ctx)
    if len(objects) < 2:
        raise DataError(f"{dataset_root(cfg)}: cross negatives need at least 2 objects, found {len(objects)}")
    base = ctx.base
    pool = [(o.name, stem, image, gt) for o in objects.values() for stem, image, gt in o.targets]

    def compute(name: str, bar) -> dict:
        obj = objects[name]
        reference, _ = fit_object(ctx, obj)
        checked, unchecked = ObjectScore(), ObjectScore()
        scores, labels, present, masked, ious, semantic = [], [], [], [], [], []
        for owner, stem, image_path, gt_path in pool:
            positive = owner == name
            image = read_image(image_path)
            gt = read_mask(gt_path, image.shape[:2]) if positive else np.zeros(image.shape[:2], bool)
            embedding = ctx.embed(image)
            start = time.perf_counter()
            prediction = ctx.method.predict(embedding, reference)
            ctx.clock.method_seconds += time.perf_counter() - start
            ctx.clock.method_images += 1
            if positive:
                checked.add(prediction.mask, gt)
                unchecked.add(unchecked_mask(prediction), gt)
            scores.append(float(prediction.score))
            semantic.append(semantic_score(prediction))
            labels.append(bool(gt.any()))
            present.append(bool(prediction.present))
            masked.append(bool(prediction.mask.any()))
            union = np.logical_or(prediction.mask, gt).sum()
            ious.append(float(np.logical_and(prediction.mask, gt).sum() / union) if union else 0.0)
            where = f"{stem}" if positive else f"negatives/{owner}_{stem}"
            if cfg.outputs.masks:
                write_mask(ctx.out_dir / "masks" / name / f"{where}.png", prediction.mask)
            if cfg.outputs.overlays:
                picture = overlay(image, prediction.mask, prediction.point_coords, prediction.point_labels,
                                  gt if positive else None)
                write_image(ctx.out_dir / "overlays" / name / f"{where}.jpg", picture)
            bar.update(1)
        scores_a, labels_a = np.array(scores), np.array(labels)
        tpr, fpr = rates(labels_a, present)
        rows = [{**base, "item": name, "metric": "auroc", "value": 100 * auroc(scores_a, labels_a)},
                {**base, "item": name, "metric": "tpr", "value": 100 * tpr},
                {**base, "item": name, "metric": "fpr", "value": 100 * fpr},
                {**base, "item": name, "metric": "iou_pos", "value": 100 * checked.iou},
                {**base, "item": name, "metric": "iou_unchecked", "value": 100 * unchecked.iou},
                {**base, "item": name, "metric": "oracle_fpr",
                 "value": 100 * rates(labels_a, keeps_every_positive(scores_a, labels_a))[1]},
                {**base, "item": name, "metric": "il_mcc", "value": il_mcc(*image_level_counts(labels_a, masked))},
                {**base, "item": name, "metric": "cgf1", "value": cgf1(labels_a, masked, ious)}]
        calibration = getattr(reference, "presence", None)
        return {"rows": rows, "scores": scores, "labels": labels, "present": present, "masked": masked, "ious": ious,
                "checked": asdict(checked), "unchecked": asdict(unchecked),
                "semantic": semantic, "calibration": calibration.record() if calibration is not None else None}

    start = time.perf_counter()
    result = run_items(list(objects), lambda name: len(pool), compute, ctx.out_dir, ctx.key,
                       f"{cfg.method.name} presence on {cfg.dataset.name}", "img", cfg.progress, clock=ctx.clock,
                       plan=ctx.predictor.expect_images)
    records = list(result.records.values())
    labels = np.concatenate([r["labels"] for r in records]).astype(bool)
    present = np.concatenate([r["present"] for r in records]).astype(bool)
    masked = np.concatenate([r["masked"] for r in records]).astype(bool)
    ious = np.concatenate([r["ious"] for r in records])
    rows = [row for r in records for row in r["rows"]]
    oracle = np.concatenate([keeps_every_positive(np.array(r["scores"]), np.array(r["labels"])) for r in records])
    tpr, fpr = rates(labels, present)
    per_object = {m: np.mean([row["value"] for row in rows if row["metric"] == m])
                  for m in ("auroc", "iou_pos", "iou_unchecked")}
    rows += [
        {**base, "item": "ALL", "metric": "auroc", "value": per_object["auroc"]},
        {**base, "item": "ALL", "metric": "tpr", "value": 100 * tpr},
        {**base, "item": "ALL", "metric": "fpr", "value": 100 * fpr},
        {**base, "item": "ALL", "metric": "miou_pos", "value": per_object["iou_pos"]},
        {**base, "item": "ALL", "metric": "miou_unchecked", "value": per_object["iou_unchecked"]},
        {**base, "item": "ALL", "metric": "oracle_fpr", "value": 100 * rates(labels, oracle)[1]},
        {**base, "item": "ALL", "metric": "il_mcc", "value": il_mcc(*image_level_counts(labels, masked))},
        {**base, "item": "ALL", "metric": "cgf1", "value": cgf1(labels, masked, ious)},
        *ctx.timing_rows(),
    ]
    return TaskOutput(rows, list(objects), len(objects) * len(pool), time.perf_counter() - start,
                      extra={"root": portable_path(dataset_root(cfg)), "resumed_items": result.reused,
                             "subset": base["subset"], "negatives": negatives,
                             "calibrations": {n: r["calibration"] for n, r in result.records.items()}})
