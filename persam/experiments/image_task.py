"""The image task: PerSeg-layout datasets, one or more references per object, IoU per object and mIoU.

``dataset.ref_stems`` (default ``[00]``) are each object's references; ``dataset.not_targets`` are stems
that are never targets, so a few-shot comparison over k references keeps the same targets for every k.
The reference masks can be eroded or dilated first (``corruption``, Table 4). Items are objects, run by the
shared loop (:mod:`persam.experiments.item_loop`), which resumes an interrupted run object by object.

With ``dataset.references=rotate`` (:mod:`persam.experiments.references`) the items are episodes instead,
``<object>@<reference stem>``: each image whose mask holds the object is once the reference (corrupted as the run
says) and the object's other images are the targets, each episode scored as an object is under the fixed
protocol. The loop resumes episode by episode; at the end each object's ``iou`` / ``acc`` rows are the means over
its episodes (whose own rows are ``iou_episode`` / ``acc_episode``), and mIoU / mAcc the means over objects.
Masks and overlays of an episode go to ``masks/<object>@<reference stem>/``. Every image is encoded once per run
(the embedding cache serves the other episodes).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from omegaconf import DictConfig

from persam.data.io import DataError, read_image, read_mask, write_mask
from persam.data.mask_corruption import corrupt_mask
from persam.data.perseg import PerSegObject, list_objects, load_episodes, load_perseg, object_names
from persam.data.sharding import shard_items
from persam.drawing import overlay, write_image
from persam.experiments.item_loop import run_items
from persam.experiments.provenance import portable_path
from persam.experiments.records import TaskOutput
from persam.experiments.references import reference_protocol
from persam.experiments.task_context import TaskContext
from persam.methods.protocol import Shot
from persam.metrics import ObjectScore, mean_scores

SAMPLE_PERSEG = Path(__file__).resolve().parents[1] / "sample_data" / "perseg"
EPISODE = "_episode"  # the suffix of an episode's metrics (rotation), so no table takes an episode for an object


def dataset_root(cfg: DictConfig) -> Path:
    return Path(cfg.dataset.root).expanduser() if cfg.dataset.root else SAMPLE_PERSEG


def subset_label(cfg: DictConfig, root: Path, n_objects: int) -> str:
    """What part of the dataset was evaluated, for tables: e.g. "3 of 40 objects (bundled sample)", or
    "20 of 30 DAVIS-2016 train objects (data/davis16_perseg)"; the dataset config names the whole (``total_objects``,
    ``objects_of``). The count is "of" that whole only when ``root`` is the dataset's own: every object folder
    in it is one of the dataset's ``known_objects``; any other folder in the layout is labelled by its own count
    and name, e.g. "10 objects (my_folder)", so no set is counted against another's size."""
    where = "bundled sample" if root.resolve() == SAMPLE_PERSEG.resolve() else portable_path(cfg.dataset.root)
    total, of, known = cfg.dataset.get("total_objects"), cfg.dataset.get("objects_of"), cfg.dataset.get("known_objects")
    if not (total and known and set(list_objects(root)) <= set(known)):
        return f"{n_objects} objects ({where})"
    objects = f"{of} objects" if of else "objects"
    count = f"{n_objects} of {total} {objects}" if n_objects < total else f"{n_objects} {objects}"
    return f"{count} ({where})"


def load_objects(cfg: DictConfig) -> list[PerSegObject]:
    """The run's objects: the dataset's (or the listed ones), this shard's share."""
    root = dataset_root(cfg)
    objects = load_perseg(root, list(cfg.dataset.objects) if cfg.dataset.objects else None,
                          [str(s) for s in cfg.dataset.ref_stems], [str(s) for s in cfg.dataset.get("not_targets") or []])
    chosen = set(shard_items([o.name for o in objects], cfg.dataset.get("shard", 0), cfg.dataset.get("num_shards", 1)))
    return [o for o in objects if o.name in chosen]


def holds_object(mask_path: Path) -> bool:
    """Whether a mask has a non-zero pixel (an image whose object has left the view is never a reference)."""
    return bool(read_mask(mask_path).any())


def load_rotation(cfg: DictConfig) -> dict[str, list[PerSegObject]]:
    """The run's objects (this shard's share) -> their episodes (:func:`persam.data.perseg.load_episodes`)."""
    root = dataset_root(cfg)
    names = object_names(root, list(cfg.dataset.objects) if cfg.dataset.objects else None)
    chosen = set(shard_items(names, cfg.dataset.get("shard", 0), cfg.dataset.get("num_shards", 1)))
    return {name: load_episodes(root, name, holds_object) for name in names if name in chosen}


def reference_shots(ctx: TaskContext, obj: PerSegObject) -> list[Shot]:
    """The object's references as shots, masks corrupted as the run says (Table 4)."""
    shots = []
    for _, image_path, mask_path in obj.references:
        with ctx.times("read"):
            image = read_image(image_path)
            mask = read_mask(mask_path, image.shape[:2])
        if not mask.any():
            raise DataError(f"{mask_path}: reference mask is empty (no non-zero pixel)")
        mask = corrupt_mask(mask, ctx.cfg.corruption.op, ctx.cfg.corruption.kernel)
        shots.append(Shot(ctx.embed(image), mask))
    return shots


def write_overlay(path: Path, image, prediction, gt) -> None:
    """Render one prediction's overlay and write it."""
    write_image(path, overlay(image, prediction.mask, prediction.point_coords, prediction.point_labels, gt))


def task_objects(ctx: TaskContext) -> dict[str, PerSegObject]:
    """The run's objects by name; the run's ``subset`` column names them when the config gives no subset."""
    objects = {o.name: o for o in load_objects(ctx.cfg)}
    if not ctx.cfg.dataset.subset:
        ctx.base = {**ctx.base, "subset": subset_label(ctx.cfg, dataset_root(ctx.cfg), len(objects))}
    return objects


def fit_object(ctx: TaskContext, obj: PerSegObject) -> tuple[object, float]:
    """The method fitted on the object's references, and the seconds it took (counted as method time)."""
    shots = reference_shots(ctx, obj)
    start = time.perf_counter()
    reference = ctx.method.fit(shots)
    seconds = time.perf_counter() - start
    ctx.clock.method_seconds += seconds
    return reference, seconds


def run_object(ctx: TaskContext, obj: PerSegObject, bar, item: str | None = None, suffix: str = "") -> dict:
    """Fit on the object's references, predict every target, write masks and overlays; the record of ``item``
    (default: the object; an episode's ``<object>@<stem>``), its rows' metrics ending in ``suffix``."""
    cfg, method, out_dir, base = ctx.cfg, ctx.method, ctx.out_dir, ctx.base
    item = item or obj.name
    reference, fit_seconds = fit_object(ctx, obj)
    score = ObjectScore()
    for stem, image_path, gt_path in obj.targets:
        with ctx.times("read"):
            image = read_image(image_path)
            gt = read_mask(gt_path, image.shape[:2])
        embedding = ctx.embed(image)
        start = time.perf_counter()
        prediction = method.predict(embedding, reference, gt if method.needs_ground_truth else None)
        ctx.clock.method_seconds += time.perf_counter() - start
        ctx.clock.method_images += 1
        score.add(prediction.mask, gt)
        if cfg.outputs.masks:
            ctx.write("write_masks", write_mask, out_dir / "masks" / item / f"{stem}.png", prediction.mask)
        if cfg.outputs.overlays:  # rendered on the writer's thread too
            ctx.write("write_overlays", write_overlay, out_dir / "overlays" / item / f"{stem}.jpg", image,
                      prediction, gt)
        bar.update(1)
    ctx.flush()  # the item's record says its outputs are on disk
    rows = [{**base, "item": item, "metric": "iou" + suffix, "value": 100 * score.iou},
            {**base, "item": item, "metric": "acc" + suffix, "value": 100 * score.acc}]
    if getattr(reference, "scale_weights", None) is not None:
        rows.append({**base, "item": item, "metric": "fit_sec" + suffix, "value": fit_seconds})
    return {"rows": rows, "counts": asdict(score)}


def episode_means(ctx: TaskContext, episodes: dict[str, list[str]], records: dict[str, dict]) -> list[dict]:
    """Each object's rows from its episodes' (``<metric>_episode`` -> ``<metric>``, the mean over episodes)."""
    rows = []
    for name, items in episodes.items():
        found = [row for item in items for row in records[item]["rows"]]
        for metric in dict.fromkeys(row["metric"] for row in found):
            values = [row["value"] for row in found if row["metric"] == metric]
            rows.append({**ctx.base, "item": name, "metric": metric.removesuffix(EPISODE),
                         "value": sum(values) / len(values)})
    return rows


def run_image_task(ctx: TaskContext) -> TaskOutput:
    cfg = ctx.cfg
    root = dataset_root(cfg)
    rotate = reference_protocol(cfg) == "rotate"
    if rotate:
        rotation = load_rotation(cfg)
        episodes = {f"{name}@{e.references[0][0]}": e for name, found in rotation.items() for e in found}
        if not cfg.dataset.subset:
            ctx.base = {**ctx.base, "subset": subset_label(cfg, root, len(rotation))}
        names = list(rotation)
    else:
        episodes = task_objects(ctx)
        names = list(episodes)
    suffix = EPISODE if rotate else ""
    start = time.perf_counter()
    loop = run_items(list(episodes), lambda item: len(episodes[item].targets),
                     lambda item, bar: run_object(ctx, episodes[item], bar, item, suffix), ctx.out_dir, ctx.key,
                     f"{ctx.spec.name} on {cfg.dataset.name}", "img", cfg.progress, clock=ctx.clock,
                     plan=ctx.predictor.expect_images)
    elapsed = time.perf_counter() - start
    rows = [row for record in loop.records.values() for row in record["rows"]]
    extra = {"protocol": "rotate" if rotate else "fixed"}
    if rotate:
        by_object = {name: [i for i in episodes if episodes[i].name == name] for name in names}
        objects = episode_means(ctx, by_object, loop.records)
        rows = objects + rows
        iou = [r["value"] for r in objects if r["metric"] == "iou"]
        acc = [r["value"] for r in objects if r["metric"] == "acc"]
        miou, macc = sum(iou) / len(iou) / 100, sum(acc) / len(acc) / 100
        extra["episodes"] = {name: [i.split("@", 1)[1] for i in items] for name, items in by_object.items()}
    else:
        miou, macc = mean_scores({n: ObjectScore(**r["counts"]) for n, r in loop.records.items()})
    rows += [{**ctx.base, "item": "ALL", "metric": "miou", "value": 100 * miou},
             {**ctx.base, "item": "ALL", "metric": "macc", "value": 100 * macc}, *ctx.timing_rows()]
    files = list(dict.fromkeys(p for o in episodes.values() for _, image, mask in (*o.references, *o.targets)
                               for p in (image, mask)))
    extra["images"] = len(files) // 2  # distinct images read, references and targets
    shard = {"index": cfg.dataset.get("shard", 0), "count": cfg.dataset.get("num_shards", 1)}
    return TaskOutput(rows, names, sum(len(o.targets) for o in episodes.values()), elapsed, extra={
        "root": portable_path(root), "subset": ctx.base["subset"], "resumed_items": loop.reused, "shard": shard,
        **extra}, data_files=files, data_root=root)
