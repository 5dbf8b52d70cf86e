"""``make bench``'s checks of a whole run and of the video tracker, per encoder path.

* ``run_breakdown``: one real ``python -m persam.run`` (a fresh process, an empty embedding cache), with the
  stage seconds the runner records in ``provenance.json`` (``stage_times``: reading, hashing for the cache
  key, cache I/O, encoder, method, mask and overlay writing, ...) and its mIoU and seconds per target image
  from ``results.csv``;
* ``video_jf``: J&F of the PerSAM tracker over the first frames of a few DAVIS sequences, with one encoder
  path's embeddings, for the accuracy check of reduced-precision encoders on video.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from common import run_child

from persam.data.io import read_image, read_label_map
from persam.metrics.davis import evaluate_sequence, j_and_f


def run_breakdown(data_root: Path, work: Path, encoder: str, decoder: str, extra: list[str] | None = None) -> dict:
    """A PerSAM run over the PerSeg-layout ``data_root`` with ``model.encoder=encoder``,
    ``model.decoder=decoder`` and an empty cache.

    Returns {"wall_s": process seconds, "task_s": the task's own seconds, "targets": target images,
    "sec_per_image" (the task's seconds / targets), "miou" (percent), "stages": {stage: {"seconds", "calls"}},
    "encoder_id", "decoder_id"}."""
    out, cache = work / f"run-{encoder}", work / f"cache-{encoder}"
    wall, _ = run_child([sys.executable, "-m", "persam.run", "method=persam", "dataset=davis_perseg",
                         f"dataset.root={data_root}", f"model.encoder={encoder}", f"model.decoder={decoder}",
                         f"cache.dir={cache}",
                         f"hydra.run.dir={out}", "progress=false", *(extra or [])])
    provenance = json.loads((out / "provenance.json").read_text())
    with open(out / "results.csv") as f:
        rows = {(r["item"], r["metric"]): float(r["value"]) for r in csv.DictReader(f)}
    targets = provenance["data"]["target_images"]
    return {"wall_s": wall, "task_s": provenance["wall_seconds"], "targets": targets,
            "sec_per_image": provenance["wall_seconds"] / targets, "miou": rows[("ALL", "miou")],
            "stages": provenance.get("stage_times", {}), "encoder_id": provenance["model"]["encoder"],
            "decoder_id": provenance["model"]["decoder"]}


def video_jf(method, predictor, root: Path, sequences: list[str], n_frames: int, config) -> float:
    """J&F (percent) of ``method`` tracking frame 0's objects over frames 0..n_frames-1 of each sequence."""
    from persam.methods.video import start, step

    per_object = []
    for seq in sequences:
        frames = sorted((root / "JPEGImages" / "480p" / seq).glob("*.jpg"))[:n_frames]
        gts = [read_label_map(root / "Annotations" / "480p" / seq / f"{f.stem}.png") for f in frames]
        states = start(method, predictor.embed(read_image(frames[0])), gts[0], config=config)
        preds = [gts[0]]
        for frame in frames[1:]:
            result, states = step(method, predictor.embed(read_image(frame)), states, config)
            preds.append(result.labels)
        per_object += list(evaluate_sequence(gts, preds).values())
    return 100 * j_and_f(per_object)[0]
