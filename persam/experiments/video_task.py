"""The video task: DAVIS-layout datasets, every object tracked from frame 0, scored by J and F per object
and J&F over all objects (the official DAVIS 2017 semi-supervised definitions, :mod:`persam.metrics.davis`).

Settings (``cfg.dataset``): ``root``, ``year`` (2017 palette / 2016 binary), ``split`` or ``sequences``,
``resolution``; ``video`` holds the tracker's prompts (:class:`persam.methods.video.VideoConfig`) and
``video.method_overrides.<method name>``, the method settings that the video procedure changes (the original
``persam_video.py`` / ``persam_video_f.py`` use e.g. 2 positive points for PerSAM and an 800-step fit for
PerSAM-F); they are applied over ``cfg.method`` and recorded in the provenance.

Outputs per sequence: ``masks/<seq>/<stem>.png`` for every frame (frame 0 is the given annotation), palette
PNGs with the ground truth's palette and object indices, so the official DAVIS scorer reads them unchanged;
``overlays/<seq>/<stem>.jpg``; and ``items/<seq>.json`` (rows and per-frame J and F, with the run's
fingerprint), written after the sequence's PNGs, so a rerun with the same settings reuses it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from persam.data.davis import DavisSequence, load_davis, split_names
from persam.data.io import DataError, read_image, write_mask
from persam.experiments.evaluate import TaskOutput, fingerprint, write_atomic
from persam.experiments.overlays import overlay_labels, write_image
from persam.methods.persam import PerSAM, PerSAMConfig
from persam.methods.video import VideoConfig, start, step
from persam.metrics.davis import frame_scores, sequence_objects, statistics
from persam.models import GuidedPredictor

OBJECT_METRICS = ("J", "F", "J_recall", "J_decay", "F_recall", "F_decay")


def video_config(cfg: DictConfig) -> VideoConfig:
    video = OmegaConf.to_container(cfg.dataset.get("video") or {}, resolve=True)
    known = {f.name for f in fields(VideoConfig)}
    return VideoConfig(**{k: v for k, v in video.items() if k in known})


def method_overrides(cfg: DictConfig) -> dict:
    """The video procedure's settings for ``cfg.method`` (by its name; none when it has no entry)."""
    video = cfg.dataset.get("video") or {}
    overrides = OmegaConf.to_container(video.get("method_overrides") or {}, resolve=True)
    chosen = overrides.get(cfg.method.name) or {}
    unknown = set(chosen) - {f.name for f in fields(PerSAMConfig)}
    if unknown:
        raise ValueError(f"dataset.video.method_overrides.{cfg.method.name}: unknown PerSAM settings {sorted(unknown)}")
    return chosen


def video_method(cfg: DictConfig, method) -> PerSAM:
    """``method`` with the video settings applied (see :func:`method_overrides`)."""
    if not isinstance(method, PerSAM):
        raise ValueError(f"the video task runs PerSAM methods; method {cfg.method.name!r} is a "
                         f"{type(method).__name__}")
    return PerSAM(method.predictor, replace(method.config, **method_overrides(cfg)))


def object_item(seq: str, object_id: int, n_objects: int) -> str:
    """Result item of one object: the sequence name when it has one object, else ``<seq>/<id>``."""
    return seq if n_objects == 1 else f"{seq}/{object_id}"


def _finished(path: Path, key: str) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # absent or torn: redo the sequence
    return record if record.get("fingerprint") == key else None


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


def run_sequence(seq: DavisSequence, predictor: GuidedPredictor, method: PerSAM, tracker: VideoConfig,
                 out_dir: Path, cfg: DictConfig, bar: tqdm) -> dict:
    """Track one sequence, write its PNGs (and overlays), score it. Returns its per-object scores and timings."""
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
        image = read_image(seq.frames[index][1])
        embedding = predictor.embed(image)
        embed_seconds += time.perf_counter() - t
        if tuple(embedding.original_size) != first.shape:
            raise DataError(f"{seq.frames[index][1]}: frame is {image.shape[1]}x{image.shape[0]} but the first "
                            f"annotation is {first.shape[1]}x{first.shape[0]}")
        return image, embedding

    image, embedding = embed(0)
    start_labels = np.where(np.isin(first, present), first, 0).astype(np.uint8)
    states = start(method, embedding, start_labels, present, tracker)
    fit_seconds = {s.object_id: s.reference.fit_seconds for s in states}
    mask_dir, overlay_dir = out_dir / "masks" / seq.name, out_dir / "overlays" / seq.name
    stems = seq.stems
    if cfg.outputs.masks:
        write_mask(mask_dir / f"{stems[0]}.png", start_labels, palette)
    j_values, f_values = [], []
    for t in range(1, len(stems)):
        image, embedding = embed(t)
        result, states = step(method, embedding, states, tracker)
        if cfg.outputs.masks:
            write_mask(mask_dir / f"{stems[t]}.png", result.labels, palette)
        if cfg.outputs.overlays:
            points = [p.point_coords for p in result.predictions.values()]
            write_image(overlay_dir / f"{stems[t]}.jpg", overlay_labels(image, result.labels, palette, points))
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
    seconds = time.perf_counter() - start_time
    return {
        "objects": objects,
        "scores": {str(k): {"J": j_all[i].tolist(), "F": f_all[i].tolist()} for i, k in enumerate(objects)},
        "fit_seconds": {str(k): v for k, v in fit_seconds.items()},
        "frames": len(stems) - 1,
        "seconds": seconds,
        "track_seconds": seconds - embed_seconds,
    }


def object_rows(base: dict, seq: str, record: dict, fit: bool) -> list[dict]:
    rows = []
    objects = record["objects"]
    for k in objects:
        item = object_item(seq, k, len(objects))
        scores = record["scores"][str(k)]
        js, fs = statistics(np.array(scores["J"])), statistics(np.array(scores["F"]))
        values = dict(zip(OBJECT_METRICS, (js.mean, fs.mean, js.recall, js.decay, fs.recall, fs.decay), strict=True))
        rows += [{**base, "item": item, "metric": m, "value": 100 * v} for m, v in values.items()]
        if fit and str(k) in record["fit_seconds"]:
            rows.append({**base, "item": item, "metric": "fit_sec", "value": record["fit_seconds"][str(k)]})
    return rows


def run_video_task(cfg: DictConfig, predictor: GuidedPredictor, method, out_dir: Path, base: dict) -> TaskOutput:
    if not cfg.dataset.root:
        raise DataError("dataset.root is not set: give the DAVIS folder (dataset.root=DIR)")
    root = Path(cfg.dataset.root).expanduser()
    method = video_method(cfg, method)
    tracker = video_config(cfg)
    sequences = cfg.dataset.get("sequences")
    if sequences is not None and not isinstance(sequences, str):
        sequences = list(sequences)
    seqs = load_davis(root, sequences, cfg.dataset.split, int(cfg.dataset.year), cfg.dataset.resolution)
    if not cfg.dataset.subset:
        base = {**base, "subset": subset_label(cfg, root, seqs)}
    key = fingerprint(cfg, predictor.loaded.sha256)
    rows: list[dict] = []
    per_object: list[tuple[np.ndarray, np.ndarray]] = []
    reused: list[str] = []
    computed_frames, computed_seconds, computed_track = 0, 0.0, 0.0
    n_frames = sum(len(s.frames) - 1 for s in seqs)
    start_time = time.perf_counter()
    with tqdm(total=n_frames, desc=f"{cfg.method.name} on {cfg.dataset.name}", unit="frame",
              disable=not cfg.progress, dynamic_ncols=True) as bar:
        for seq in seqs:
            item_file = out_dir / "items" / f"{seq.name}.json"
            record = _finished(item_file, key)
            if record is not None:
                reused.append(seq.name)
                bar.update(len(seq.frames) - 1)
            else:
                bar.set_postfix_str(seq.name)
                record = run_sequence(seq, predictor, method, tracker, out_dir, cfg, bar)
                computed_frames += record["frames"]
                computed_seconds += record["seconds"]
                computed_track += record["track_seconds"]
                record["rows"] = object_rows(base, seq.name, record, method.config.scale_fusion)
                write_atomic(item_file, json.dumps({"fingerprint": key, **record}))
            rows += record["rows"]
            per_object += [(np.array(s["J"]), np.array(s["F"])) for s in record["scores"].values()]
    elapsed = time.perf_counter() - start_time
    j_stats = [statistics(j) for j, _ in per_object]
    f_stats = [statistics(f) for _, f in per_object]
    j_mean = float(np.mean([s.mean for s in j_stats]))
    f_mean = float(np.mean([s.mean for s in f_stats]))
    summary = {
        "J&F": (j_mean + f_mean) / 2, "J": j_mean, "F": f_mean,
        "J_recall": float(np.mean([s.recall for s in j_stats])), "J_decay": float(np.mean([s.decay for s in j_stats])),
        "F_recall": float(np.mean([s.recall for s in f_stats])), "F_decay": float(np.mean([s.decay for s in f_stats])),
    }
    rows += [{**base, "item": "ALL", "metric": m, "value": 100 * v} for m, v in summary.items()]
    # Wall seconds per tracked frame computed in this run (reused sequences are not counted): everything from
    # reading the frame to writing its PNG, frame 0's fitting included; track_sec_per_frame leaves out reading
    # and encoding the frames (or fetching their embeddings from the cache).
    rows += [
        {**base, "item": "ALL", "metric": "sec_per_frame", "value": computed_seconds / max(computed_frames, 1)},
        {**base, "item": "ALL", "metric": "track_sec_per_frame", "value": computed_track / max(computed_frames, 1)},
    ]
    extra = {
        "root": str(root.resolve()),
        "subset": base["subset"],
        "resumed_items": reused,
        "video": {"tracker": asdict(tracker), "method": asdict(method.config),
                  "method_overrides": method_overrides(cfg), "objects": len(per_object),
                  "split": None if sequences else cfg.dataset.split},
    }
    return TaskOutput(rows, [s.name for s in seqs], n_frames, elapsed, unit_name="frames", extra=extra)
