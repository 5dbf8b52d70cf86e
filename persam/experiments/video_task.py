"""The video task: DAVIS-layout datasets, every object tracked from frame 0, scored by J and F per object
and J&F over all objects (the official DAVIS 2017 semi-supervised definitions, :mod:`persam.metrics.davis`,
whose functions compute every number here: the ones the test against ``vos-benchmark`` checks).

Settings: ``cfg.dataset`` gives ``root``, ``year`` (2017 palette / 2016 binary), ``split`` or ``sequences``,
``resolution``; the method's own config gives the video procedure (its ``video:`` block: the tracker's
prompts, :class:`persam.methods.video.VideoConfig`, and ``video.settings``, the method settings the video
procedure changes, e.g. 2 positive points for PerSAM and an 800-step fit for PerSAM-F as the original
``persam_video.py`` / ``persam_video_f.py``). Both are recorded in the provenance.

Outputs per sequence: ``masks/<seq>/<stem>.png`` for every frame (frame 0 is the given annotation), palette
PNGs with the ground truth's palette and object indices, so the official DAVIS scorer reads them unchanged;
``overlays/<seq>/<stem>.jpg``; and ``items/<seq>.json`` (rows and per-frame J and F, with the run's
fingerprint), written after the sequence's PNGs by the shared item loop, so a rerun reuses it.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from persam.data.davis import DavisSequence, load_davis, split_names
from persam.data.io import DataError, read_image, write_mask
from persam.drawing import overlay_labels, write_image
from persam.experiments.item_loop import run_items
from persam.experiments.provenance import portable_path
from persam.experiments.records import TaskOutput
from persam.experiments.task_context import TaskContext
from persam.methods.video import VideoConfig, start, step, video_config, video_method
from persam.metrics.davis import frame_scores, j_and_f, sequence_objects, statistics

OBJECT_METRICS = ("J", "F", "J_recall", "J_decay", "F_recall", "F_decay")


def object_item(seq: str, object_id: int, n_objects: int) -> str:
    """Result item of one object: the sequence name when it has one object, else ``<seq>/<id>``."""
    return seq if n_objects == 1 else f"{seq}/{object_id}"


def subset_label(cfg: DictConfig, root: Path, sequences: list[DavisSequence]) -> str:
    """What part of the dataset was evaluated, for tables: e.g. "13 of 30 val sequences (split val_available)"."""
    source = "listed" if cfg.dataset.get("sequences") else f"split {cfg.dataset.split}"
    names = {s.name for s in sequences}
    try:
        val = set(split_names(root, "val", int(cfg.dataset.year)))
    except DataError:
        val = set()
    n = len(sequences)
    if names < val:
        return f"{n} of {len(val)} val sequences ({source})"
    return f"{n} sequence{'s' if n != 1 else ''} ({source})"


def write_overlay(path: Path, image, labels, palette, points) -> None:
    """Render one frame's overlay of every object and write it."""
    write_image(path, overlay_labels(image, labels, palette, points))


def run_sequence(ctx: TaskContext, seq: DavisSequence, method, tracker: VideoConfig, bar) -> dict:
    """Track one sequence, write its PNGs (and overlays), score it. Returns its per-object scores and timings."""
    cfg, out_dir = ctx.cfg, ctx.out_dir
    palette = seq.palette()
    first = seq.annotation(0)
    objects = sequence_objects(first)
    present = [k for k in objects if (first == k).any()]
    if not present:
        raise DataError(f"{seq.frames[0][2]}: the first annotation holds no object")
    start_time = time.perf_counter()
    embed_seconds = 0.0

    def embed(index: int):
        nonlocal embed_seconds
        t = time.perf_counter()
        with ctx.times("read"):
            image = read_image(seq.frames[index][1])
        embedding = ctx.embed(image)
        embed_seconds += time.perf_counter() - t
        if tuple(embedding.original_size) != first.shape:
            raise DataError(f"{seq.frames[index][1]}: frame is {image.shape[1]}x{image.shape[0]} but the first "
                            f"annotation is {first.shape[1]}x{first.shape[0]}")
        return image, embedding

    image, embedding = embed(0)
    start_labels = np.where(np.isin(first, present), first, 0).astype(np.uint8)
    t = time.perf_counter()
    states = start(method, embedding, start_labels, present, tracker)
    ctx.clock.method_seconds += time.perf_counter() - t
    fit_seconds = {s.object_id: s.reference.fit_seconds for s in states
                   if getattr(s.reference, "scale_weights", None) is not None}
    mask_dir, overlay_dir = out_dir / "masks" / seq.name, out_dir / "overlays" / seq.name
    stems = seq.stems
    if cfg.outputs.masks:
        ctx.write("write_masks", write_mask, mask_dir / f"{stems[0]}.png", start_labels, palette)
    j_values, f_values = [], []
    for t in range(1, len(stems)):
        image, embedding = embed(t)
        clock = time.perf_counter()
        result, states = step(method, embedding, states, tracker)
        ctx.clock.method_seconds += time.perf_counter() - clock
        ctx.clock.method_images += 1
        if cfg.outputs.masks:
            ctx.write("write_masks", write_mask, mask_dir / f"{stems[t]}.png", result.labels, palette)
        if cfg.outputs.overlays:  # rendered on the writer's thread too
            points = [p.point_coords for p in result.predictions.values()]
            ctx.write("write_overlays", write_overlay, overlay_dir / f"{stems[t]}.jpg", image, result.labels,
                      palette, points)
        if t < len(stems) - 1:  # the last frame is not scored (DAVIS semi-supervised protocol)
            gt = seq.annotation(t)
            if gt.shape != result.labels.shape:
                raise DataError(f"{seq.frames[t][2]}: annotation is {gt.shape[1]}x{gt.shape[0]} but its frame is "
                                f"{result.labels.shape[1]}x{result.labels.shape[0]}")
            j, f = frame_scores(gt, result.labels, objects)
            j_values.append(j)
            f_values.append(f)
        bar.update(1)
    if not j_values:
        raise DataError(f"{seq.frames[0][1].parent}: sequence {seq.name!r} has {len(stems)} frames; "
                        "at least 3 are needed (the first and last are not scored)")
    j_all, f_all = np.stack(j_values, axis=1), np.stack(f_values, axis=1)
    ctx.flush()  # the sequence's record says its PNGs are on disk
    seconds = time.perf_counter() - start_time
    return {
        "objects": objects,
        "scores": {str(k): {"J": j_all[i].tolist(), "F": f_all[i].tolist()} for i, k in enumerate(objects)},
        "fit_seconds": {str(k): v for k, v in fit_seconds.items()},
        "frames": len(stems) - 1,
        "seconds": seconds,
        "track_seconds": seconds - embed_seconds,
    }


def object_rows(base: dict, seq: str, record: dict) -> list[dict]:
    rows = []
    objects = record["objects"]
    for k in objects:
        item = object_item(seq, k, len(objects))
        scores = record["scores"][str(k)]
        js, fs = statistics(np.array(scores["J"])), statistics(np.array(scores["F"]))
        values = dict(zip(OBJECT_METRICS, (js.mean, fs.mean, js.recall, js.decay, fs.recall, fs.decay), strict=True))
        rows += [{**base, "item": item, "metric": m, "value": 100 * v} for m, v in values.items()]
        if str(k) in record["fit_seconds"]:
            rows.append({**base, "item": item, "metric": "fit_sec", "value": record["fit_seconds"][str(k)]})
    return rows


def run_video_task(ctx: TaskContext) -> TaskOutput:
    cfg = ctx.cfg
    if not cfg.dataset.root:
        raise DataError("dataset.root is not set: give the DAVIS folder (dataset.root=DIR)")
    root = Path(cfg.dataset.root).expanduser()
    method = video_method(ctx.spec, ctx.predictor)
    tracker = video_config(ctx.spec)
    sequences = cfg.dataset.get("sequences")
    if sequences is not None and not isinstance(sequences, str):
        sequences = list(sequences)
    seqs = {s.name: s for s in load_davis(root, sequences, cfg.dataset.split, int(cfg.dataset.year),
                                          cfg.dataset.resolution)}
    if not cfg.dataset.subset:
        ctx.base = {**ctx.base, "subset": subset_label(cfg, root, list(seqs.values()))}

    def compute(name: str, bar) -> dict:
        record = run_sequence(ctx, seqs[name], method, tracker, bar)
        return {**record, "rows": object_rows(ctx.base, name, record)}

    start_time = time.perf_counter()
    loop = run_items(list(seqs), lambda name: len(seqs[name].frames) - 1, compute, ctx.out_dir, ctx.key,
                     f"{ctx.spec.name} on {cfg.dataset.name}", "frame", cfg.progress, clock=ctx.clock,
                     plan=ctx.predictor.expect_images)
    elapsed = time.perf_counter() - start_time
    rows = [row for record in loop.records.values() for row in record["rows"]]
    per_object = [(np.array(s["J"]), np.array(s["F"])) for r in loop.records.values() for s in r["scores"].values()]
    jf, j_mean, f_mean = j_and_f(per_object)
    j_stats = [statistics(j) for j, _ in per_object]
    f_stats = [statistics(f) for _, f in per_object]
    summary = {
        "J&F": jf, "J": j_mean, "F": f_mean,
        "J_recall": float(np.mean([s.recall for s in j_stats])), "J_decay": float(np.mean([s.decay for s in j_stats])),
        "F_recall": float(np.mean([s.recall for s in f_stats])), "F_decay": float(np.mean([s.decay for s in f_stats])),
    }
    rows += [{**ctx.base, "item": "ALL", "metric": m, "value": 100 * v} for m, v in summary.items()]
    rows += ctx.timing_rows()
    files = [p for s in seqs.values() for _, image, annotation in s.frames for p in (image, annotation) if p]
    extra = {
        "root": portable_path(root),
        "subset": ctx.base["subset"],
        "resumed_items": loop.reused,
        "method": {"video": {"tracker": asdict(tracker), "settings": asdict(method.config)
                             if hasattr(method, "config") else {}}},
        "video": {"objects": len(per_object), "split": None if sequences else cfg.dataset.split},
    }
    n_frames = sum(len(s.frames) - 1 for s in seqs.values())
    return TaskOutput(rows, list(seqs), n_frames, elapsed, unit_name="frames", extra=extra, data_files=files,
                      data_root=root)
