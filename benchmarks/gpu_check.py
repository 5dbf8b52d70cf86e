"""The CUDA path on a lent GPU machine (`make gpu-check`, a few minutes): results/bench/gpu/.

1. Images: PerSAM, PerSAM-F and PerSAM+ on the bundled PerSeg sample (3 objects, 6 target images), run by
   ``python -m persam.run`` twice on the same machine: the model on the CPU and on CUDA, fp32 encoder both.
   Per image, the IoU of the CUDA mask with the CPU mask; per method, the mIoU of each against the ground truth.
   The check: |mIoU(CUDA) - mIoU(CPU)| <= 0.5 points for every method.
2. Video: PerSAM and PerSAM+ track one DAVIS 2017 sequence (default car-shadow, 40 frames: the shortest of Table 2's,
   so that it travels to a lent machine with the weights) on CUDA and on the CPU; J and F beside the committed
   Table 2 row (results/table2/table2_per_sequence.csv, another machine's CPU, ``exact`` encoder).
3. Timings on CUDA (model loaded once, synchronised, medians after warm-up): the image encoder in fp32 and under
   bfloat16 autocast (with its cosine to fp32), SAM's mask decoder for one prompt set, and the runs' own
   per-image times.

Writes gpu_check.json (every number, the provenance) and README.md generated from it. Without CUDA it stops
with a message: the check means nothing on a CPU.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SAMPLE_PERSEG, SHARED, median, run_child  # noqa: E402

METHODS = ("persam", "persam_f", "persam_plus")
VIDEO_METHODS = ("persam", "persam_plus")
GPU = "cuda"  # the device under check (the CPU is the reference)
MIOU_TOLERANCE = 0.5  # points: CUDA against CPU, per method (issue #25)
TABLE2_LABELS = {"persam": "PerSAM", "persam_plus": "PerSAM+ (part prompts, mask-level check; training-free)"}


def run_images(device: str, out: Path) -> dict[str, Path]:
    """One sweep of METHODS on the sample on ``device``; each method's job folder."""
    sweep = out / f"images-{device}"
    run_child([sys.executable, "-m", "persam.run", "-m", f"method={','.join(METHODS)}", f"device={device}",
               "model.encoder=fp32", f"dataset.root={SAMPLE_PERSEG}", f"hydra.sweep.dir={sweep}",
               "cache.enabled=false", "progress=false", "outputs.overlays=false"])
    return {m: job_of(sweep, m) for m in METHODS}


def job_of(sweep: Path, method: str) -> Path:
    """The sweep's job folder that ran ``method`` (by its results, not its folder name: persam is a prefix)."""
    for job in sorted(p for p in sweep.iterdir() if (p / "results.csv").is_file()):
        with open(job / "results.csv") as f:
            if next(csv.DictReader(f))["method"] == method:
                return job
    raise FileNotFoundError(f"{sweep}: no job ran method {method}")


def object_ious(job: Path) -> dict[str, float]:
    with open(job / "results.csv") as f:
        return {r["item"]: float(r["value"]) for r in csv.DictReader(f) if r["metric"] == "iou"}


def mask_agreement(cpu_job: Path, cuda_job: Path) -> list[float]:
    """Per target image, IoU (percent) of the CUDA mask with the CPU mask."""
    from persam.data.io import read_mask
    from persam.metrics.miou import ObjectScore

    values = []
    for cpu_mask in sorted((cpu_job / "masks").rglob("*.png")):
        score = ObjectScore()
        score.add(read_mask(cuda_job / cpu_mask.relative_to(cpu_job)), read_mask(cpu_mask))
        values.append(100.0 * score.iou)
    return values


def image_check(out: Path) -> dict:
    cpu, cuda = run_images("cpu", out), run_images(GPU, out)
    rows = {}
    for m in METHODS:
        c, g = object_ious(cpu[m]), object_ious(cuda[m])
        agreement = mask_agreement(cpu[m], cuda[m])
        c_miou, g_miou = float(np.mean(list(c.values()))), float(np.mean(list(g.values())))
        rows[m] = {"miou_cpu": c_miou, "miou_cuda": g_miou, "difference": g_miou - c_miou,
                   "mask_iou_cuda_vs_cpu_min": min(agreement), "mask_iou_cuda_vs_cpu_mean": float(np.mean(agreement)),
                   "images": len(agreement), "met": abs(g_miou - c_miou) <= MIOU_TOLERANCE}
    return rows


def committed_table2(sequence: str) -> dict[str, dict[str, float]]:
    path = REPO / "results" / "table2" / "table2_per_sequence.csv"
    with open(path) as f:
        row = next((r for r in csv.DictReader(f) if r["sequence"] == sequence), None)
    if row is None:
        return {}
    return {m: {k: float(row[f"{label} {k}"]) for k in ("J", "F", "J&F")} for m, label in TABLE2_LABELS.items()}


def track(davis: Path, sequence: str, device: str, out: Path) -> tuple[dict[str, dict[str, float]], float]:
    """VIDEO_METHODS tracking ``sequence`` on ``device``: J and F per method, and the sweep's wall time."""
    sweep = out / f"video-{device}"
    wall, _ = run_child([sys.executable, "-m", "persam.run", "-m", "experiment=table2",
                         f"hydra.sweeper.params.method='{','.join(VIDEO_METHODS)}'", f"device={device}",
                         f"dataset.root={davis}", f"dataset.sequences=[{sequence}]", f"hydra.sweep.dir={sweep}",
                         "cache.enabled=false", "progress=false", "outputs.masks=false", "outputs.overlays=false"])
    scores = {}
    for m in VIDEO_METHODS:
        with open(job_of(sweep, m) / "results.csv") as f:
            got = {r["metric"]: float(r["value"]) for r in csv.DictReader(f) if r["item"] == sequence}
        scores[m] = {"J": got["J"], "F": got["F"], "J&F": (got["J"] + got["F"]) / 2}
    return scores, wall


def video_check(davis: Path, sequence: str, out: Path) -> dict:
    (cpu, cpu_wall), (gpu, gpu_wall) = track(davis, sequence, "cpu", out), track(davis, sequence, GPU, out)
    committed = committed_table2(sequence)
    rows = {}
    for m in VIDEO_METHODS:
        rows[m] = {**gpu[m], **{f"cpu_{k}": v for k, v in cpu[m].items()},
                   **{f"table2_{k}": v for k, v in committed.get(m, {}).items()}}
    frames = len(list((davis / "JPEGImages" / "480p" / sequence).glob("*.jpg")))
    return {"sequence": sequence, "frames": frames, "methods": rows, "sweep_wall_s": {"cpu": cpu_wall, "cuda": gpu_wall}}


def cuda_time(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        samples.append(time.perf_counter() - start)
    return median(samples)


def timings(repeats: int) -> dict:
    from persam.data.io import read_image
    from persam.models.predictor import GuidedPredictor
    from persam.models.registry import build_sam

    loaded = build_sam("vit_t", device=GPU, download=False)
    predictor = GuidedPredictor(loaded, cache=None, encoder="fp32")
    image = read_image(next(iter(sorted((SAMPLE_PERSEG / "Images" / "cat").glob("*.jpg")))))
    x, _ = predictor.encoder_input(image)
    encoder = loaded.sam.image_encoder
    with torch.no_grad():
        fp32 = cuda_time(lambda: encoder(x), repeats)
        reference = encoder(x)
        with torch.autocast(GPU, dtype=torch.bfloat16):
            bf16 = cuda_time(lambda: encoder(x), repeats)
            low = encoder(x).float()
    cosine = torch.nn.functional.cosine_similarity(reference.flatten(), low.flatten(), dim=0).item()
    predictor.set_embedding(predictor.embed(image))
    h, w = image.shape[:2]
    points, labels = np.array([[w / 2, h / 2]]), np.array([1])
    decoder = cuda_time(lambda: predictor.decode(points, labels), repeats * 5)
    batch = cuda_time(lambda: predictor.encoder(torch.cat([x] * 8)), max(3, repeats // 4))
    return {"encoder_fp32_s": fp32, "encoder_bf16_autocast_s": bf16, "encoder_bf16_cosine_to_fp32": cosine,
            "encoder_fp32_batch8_s_per_image": batch / 8, "decoder_one_prompt_set_s": decoder,
            "repeats": repeats, "image": "persam/sample_data/perseg/Images/cat/00.jpg"}


def provenance(davis: Path, sequence: str, commit: str | None) -> dict:
    from persam.experiments.provenance import collect, portable_path
    from persam.models.checkpoints import resolve_checkpoint

    _, digest = resolve_checkpoint("vit_t", None, download=False)
    command = f"benchmarks/gpu_check.py --davis {portable_path(davis)} --sequence {sequence}"
    info = collect({"command": command, "checkpoint_sha256": digest})
    if info["git"]["commit"] is None and commit:
        info["git"] = {"commit": commit, "dirty": None, "note": "given by --commit: the tree came without .git"}
    props = torch.cuda.get_device_properties(0)
    info["gpu"] = {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                   "multiprocessors": props.multi_processor_count, "cuda": torch.version.cuda}
    return info


def markdown(report: dict) -> str:
    p, t = report["provenance"], report["timings"]
    lines = [
        "# The CUDA path (`make gpu-check`)", "",
        "Generated by `benchmarks/gpu_check.py` from gpu_check.json; never edited by hand. MobileSAM (`vit_t`), fp32 "
        "encoder on both devices unless a row says otherwise.", "",
        f"- date: {p.get('date')}; wall time {report['wall_s']:.0f} s",
        f"- command: `{p.get('command')}`",
        f"- git commit: {p.get('git', {}).get('commit')} (dirty: {p.get('git', {}).get('dirty')})",
        f"- GPU: {p['gpu']['name']}, {p['gpu']['memory_gib']} GiB, CUDA {p['gpu']['cuda']}; "
        f"CPU: {p['machine']['host_cpu']}, {p['machine']['cpu_count']} cores; torch {p['torch']}",
        f"- model checkpoint SHA-256: {p['checkpoint_sha256']}", "",
        "## Masks on CUDA against the CPU (bundled PerSeg sample, 3 objects, 6 target images)", "",
        f"Check: |mIoU on CUDA - mIoU on the CPU| <= {MIOU_TOLERANCE} points per method.", "",
        "| method | mIoU CPU | mIoU CUDA | difference | mask IoU CUDA vs CPU (min / mean) | met |",
        "|---|---|---|---|---|---|",
    ]
    for m, r in report["images"].items():
        lines.append(f"| {m} | {r['miou_cpu']:.2f} | {r['miou_cuda']:.2f} | {r['difference']:+.2f} | "
                     f"{r['mask_iou_cuda_vs_cpu_min']:.2f} / {r['mask_iou_cuda_vs_cpu_mean']:.2f} | "
                     f"{'yes' if r['met'] else '**no**'} |")
    v = report["video"]
    lines += ["", f"## One DAVIS 2017 sequence tracked ({v['sequence']}, {v['frames']} frames)", "",
              "J&F on CUDA and on this machine's CPU (fp32), and the committed Table 2 row "
              "(results/table2/table2_per_sequence.csv: another machine's CPU, `exact` encoder).", "",
              "| method | J CUDA | F CUDA | J&F CUDA | J&F CPU | J&F Table 2 |", "|---|---|---|---|---|---|"]
    for m, r in v["methods"].items():
        committed = f"{r['table2_J&F']:.2f}" if "table2_J&F" in r else "-"
        lines.append(f"| {m} | {r['J']:.2f} | {r['F']:.2f} | {r['J&F']:.2f} | {r['cpu_J&F']:.2f} | {committed} |")
    lines += ["", "## Timings on CUDA (seconds, medians)", "", "| what | seconds |", "|---|---|",
              f"| image encoder, fp32, one image | {t['encoder_fp32_s']:.4f} |",
              f"| image encoder, fp32, batch of 8, per image | {t['encoder_fp32_batch8_s_per_image']:.4f} |",
              f"| image encoder, bfloat16 autocast, one image (cosine to fp32 {t['encoder_bf16_cosine_to_fp32']:.5f}) | "
              f"{t['encoder_bf16_autocast_s']:.4f} |",
              f"| mask decoder, one prompt set | {t['decoder_one_prompt_set_s']:.5f} |",
              f"| video sweep on CUDA ({len(v['methods'])} methods, {v['frames']} frames each, process start and model "
              f"load included; the CPU's: {v['sweep_wall_s']['cpu']:.1f}) | {v['sweep_wall_s']['cuda']:.1f} |"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "results" / "bench" / "gpu")
    parser.add_argument("--davis", type=Path, default=SHARED / "davis2017", help="a DAVIS 2017 root")
    parser.add_argument("--sequence", default="car-shadow")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--commit", help="the commit of this tree, where it travels without .git (a lent machine)")
    args = parser.parse_args()
    args.davis = args.davis.absolute()  # the runs start in the repository root
    if not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device here; run it on a GPU machine (`make gpu-check`)")
    if not (args.davis / "JPEGImages" / "480p" / args.sequence).is_dir():
        sys.exit(f"gpu_check: {args.davis}: no JPEGImages/480p/{args.sequence} (pass --davis DIR)")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        report = {"images": image_check(Path(tmp)), "video": video_check(args.davis, args.sequence, Path(tmp)),
                  "timings": timings(args.repeats)}
    report["provenance"] = provenance(args.davis, args.sequence, args.commit)
    report["wall_s"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (args.out / "README.md").write_text(markdown(report))
    print(markdown(report))
    failed = [m for m, r in report["images"].items() if not r["met"]]
    if failed:
        sys.exit(f"gpu_check: CUDA masks differ from the CPU's by more than {MIOU_TOLERANCE} mIoU points: {failed}")


if __name__ == "__main__":
    main()
