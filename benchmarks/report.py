"""``make bench``'s report: the rows the timings make (``summarise``) and results/bench/ (``write``): README.md
(``markdown``), bench.csv and bench.json (the rows with their provenance).

``markdown`` reads only the rows and a ``Provenance``, so results/bench/README.md can be rebuilt from bench.json
(with the few facts bench.json does not record: ``Provenance.from_json``); nothing here imports torch.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from common import cpu_facts, median, shared_cpu, versions
from targets import FP32_RATIOS, QUALITY_CHECKS, SUCCESSORS, TARGETS, changes_against_fp32

if TYPE_CHECKING:
    from session import Bench


@dataclass
class Provenance:
    """What the report says of the run besides its rows."""

    command: str
    git: dict
    cpu: dict
    versions: dict
    date: str
    load_start: str
    load_end: str
    wall_s: float
    checkpoint_sha256: str
    fast_id: str  # what encoder=auto took
    fast_decoder_id: str  # what decoder=auto took
    quick: bool = False
    malloc: bool = True  # persam's allocator setting in force (persam/allocator.py)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, bench: Bench) -> Provenance:
        """The provenance of the run ``bench`` has made, now."""
        return cls(command=" ".join(sys.argv), git=bench.git, cpu=cpu_facts(), versions=versions(),
                   date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), load_start=bench.load_start,
                   load_end=bench.load_end, wall_s=time.perf_counter() - bench.started,
                   checkpoint_sha256=bench.loaded.sha256, fast_id=bench.fast_id, fast_decoder_id=bench.fast_decoder_id,
                   quick=bench.quick, malloc=bench.malloc, notes=bench.notes)

    @classmethod
    def from_json(cls, provenance: dict, **rest) -> Provenance:
        """From bench.json's ``provenance`` and ``rest``: what it does not record (``wall_s``,
        ``checkpoint_sha256``, ``fast_id``, ``fast_decoder_id``, and ``quick``, ``malloc``, ``notes``)."""
        return cls(command=provenance["command"], git=provenance["git"], cpu=provenance["cpu"],
                   versions=provenance["versions"], date=provenance["date"],
                   load_start=provenance["load_average"]["start"], load_end=provenance["load_average"]["end"], **rest)

    def json(self) -> dict:
        """bench.json's ``provenance``."""
        return {"command": self.command, "git": self.git, "cpu": self.cpu, "versions": self.versions,
                "date": self.date, "load_average": {"start": self.load_start, "end": self.load_end}}


def summarise(bench: Bench) -> None:
    """The rows the sections' timings make (medians, ratios to the fp32 encoder, end to end, roofline fractions),
    and the fast path's accuracy summary (the bf16 candidate's: ``bf16_checks.py``)."""
    t = bench.timer
    e32, efast = t.median("encode_fp32"), t.median("encode_fast")
    n32, nfast = t.count("encode_fp32"), t.count("encode_fast")
    bench.record("stage", "encode_fp32_s", e32, "s", n32, "image encoder, 1024x1024 input, torch eager fp32")
    bench.record("stage", "encode_fast_s", efast, "s", nfast, f"image encoder, fast path ({bench.fast_id})")
    candidates = {"onnx": "ONNX Runtime fp32",
                  "bf16": "AOTInductor bf16 autocast (bf16 matrix products and neck; fp32 backbone convolutions, "
                          "residuals, norms)",
                  "int8": "ONNX Runtime int8 dynamic quantization", "channels_last": "channels-last fp32"}
    for name, what in candidates.items():
        if t.count(f"encode_{name}"):
            bench.record("stage", f"encode_{name}_s", t.median(f"encode_{name}"), "s", t.count(f"encode_{name}"),
                         f"image encoder, {what}; one real image, after a first call of "
                         f"{bench.first_calls[name]:.2f} s" if t.count(f"encode_{name}") > 1 else
                         f"image encoder, {what}; a single call (over 20 s, not repeated)")
    if any(r["name"] == "encoder_gflop" for r in bench.rows):
        flops = bench.value("encoder_gflop")
        for name, peak in (("fp32", "fp32"), ("fast", "bf16" if "bf16" in bench.fast_id else "fp32"), ("onnx", "fp32"),
                           ("bf16", "bf16"), ("int8", "bf16"), ("channels_last", "fp32")):
            if t.count(f"encode_{name}"):
                achieved = flops / t.median(f"encode_{name}")
                bench.record("roofline", f"encode_{name}_gflops", achieved, "GFLOP/s", t.count(f"encode_{name}"),
                             "encoder GFLOP / median seconds")
                bench.record("roofline", f"encode_{name}_roofline_fraction", achieved / bench.value(f"gemm_{peak}_gflops"),
                             "x", 1, f"of the {peak} 2048^3 GEMM throughput")
    bench.record("stage", "persam_prior_s", t.median("persam_prior"), "s", t.count("persam_prior"),
                 "similarity, full-size map, points")
    predict = t.median("persam_predict")
    bench.record("stage", "persam_post_encoder_s", predict, "s", t.count("persam_predict"),
                 "PerSAM predict: prior + guided decoding + 2 refinement steps + mask")
    bench.record("stage", "decoder_pass_s", t.median("decoder_pass"), "s", t.count("decoder_pass"),
                 "one pass of SAM's mask decoder (prompt encoding, two-way transformer, upscaling, mask at full "
                 "size); PerSAM makes three per image")
    if t.count("decoder_onnx"):
        for name, what in (("decoder_torch", "PyTorch eager"), ("decoder_onnx", "ONNX Runtime (a candidate, not used)")):
            bench.record("stage", f"{name}_s", t.median(name), "s", t.count(name),
                         f"SAM's mask decoder alone, unguided, 2 points, 4 masks at 256 x 256: {what}")
    bench.record("stage", "persam_decode_and_refine_s", predict - t.median("persam_prior"), "s",
                 t.count("persam_predict"), "post-encoder minus prior (medians)")
    bench.record("stage", "persam_f_post_encoder_s", t.median("persam_f_predict"), "s",
                 t.count("persam_f_predict"), "PerSAM-F predict")
    fits = t.samples["persam_f_fit"]
    bench.record("stage", "persam_f_fit_s", median(fits), "s", len(fits), f"per object (max {max(fits):.3f} s)")
    bench.record("e2e", "persam_e2e_s", t.median("e2e_persam"), "s", t.count("e2e_persam"),
                 "per target image: read + encode (fast, uncached) + PerSAM; reference cached")
    persam_f_e2e = t.median("read_and_embed_fast") + t.median("persam_f_predict_first")
    bench.record("e2e", "persam_f_e2e_s", persam_f_e2e, "s", t.count("read_and_embed_fast"),
                 "per target image: read + encode (fast, uncached) + PerSAM-F (sum of medians)")
    bench.record("ratio", "fast_encoder_ratio", efast / e32, "x", 1, "fast encoder / fp32 encoder")
    bench.record("ratio", "persam_e2e_ratio", t.median("e2e_persam") / e32, "x", 1, "PerSAM end to end / fp32 encoder")
    bench.record("ratio", "persam_f_e2e_ratio", persam_f_e2e / e32, "x", 1, "PerSAM-F end to end / fp32 encoder")
    bench.record("ratio", "persam_post_encoder_ratio", predict / e32, "x", 1, "PerSAM after the encoder / fp32 encoder")
    bench.record("ratio", "persam_f_post_encoder_ratio", t.median("persam_f_predict") / e32, "x", 1,
                 "PerSAM-F after the encoder / fp32 encoder")
    for name in SUCCESSORS:
        seconds = t.median(f"{name}_predict")
        bench.record("stage", f"{name}_post_encoder_s", seconds, "s", t.count(f"{name}_predict"),
                     f"{name} predict on the same embeddings as PerSAM's")
        bench.record("ratio", f"{name}_to_persam_ratio", seconds / predict, "x", 1,
                     f"{name} after the encoder / PerSAM after the encoder")
        bench.record("ratio", f"{name}_post_encoder_ratio", seconds / e32, "x", 1,
                     f"{name} after the encoder / fp32 encoder")
    if t.count("video_step_1"):
        embed = t.median("video_read_and_embed")
        steps = {k: t.median(f"video_step_{k}") for k in (1, 2, 4)}
        for k in (1, 2, 4):
            bench.record("video", f"video_{k}_objects_s_per_frame", embed + steps[k], "s", t.count(f"video_step_{k}"),
                         bench.video_note + " (read + encode + track, sum of medians)")
        extra = max((steps[2] - steps[1]), (steps[4] - steps[1]) / 3)
        bench.record("video", "video_extra_object_s", extra, "s", 1, "max of (2 obj - 1 obj) and (4 obj - 1 obj) / 3")
        bench.record("ratio", "video_extra_object_ratio", extra / e32, "x", 1, "extra object per frame / fp32 encoder")
    if any(r["name"] == "run_s_per_image" for r in bench.rows):
        bench.record("ratio", "run_ratio_to_fp32_encoder", bench.value("run_s_per_image") / e32, "x", 1,
                     "real run seconds per target image / fp32 encoder")
    all_cos = bench.cosines["perseg"] + bench.cosines["davis"]
    bench.record("quality", "min_cosine", min(all_cos), "cosine", len(all_cos), "fast vs fp32 embeddings, real images")
    changes = [abs(c) for c in changes_against_fp32(bench.rows, "fast").values()]
    bench.record("quality", "max_miou_change", max(changes), "points", len(changes),
                 "|fast - fp32| over the mIoUs and the video J&F")


def write(bench: Bench) -> None:
    """results/bench/ (``bench.out``): bench.csv, README.md and bench.json."""
    about = Provenance.of(bench)
    bench.out.mkdir(parents=True, exist_ok=True)
    with open(bench.out / "bench.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["section", "name", "value", "unit", "n", "note"])
        writer.writeheader()
        for row in bench.rows:
            writer.writerow({**row, "value": f"{row['value']:.6g}"})
    (bench.out / "README.md").write_text(markdown(bench.rows, about))
    (bench.out / "bench.json").write_text(json.dumps({"provenance": about.json(), "rows": bench.rows}, indent=1,
                                                     default=str))


def decoder_onnx_note(v: dict) -> str:
    """The unguided decoder in ONNX Runtime against PyTorch eager, beside the compiled pass that runs."""
    return (f"; SAM's decoder alone (unguided, at 256 x 256) takes {v['decoder_onnx_s']['value']:.3f} s in ONNX "
            f"Runtime against {v['decoder_torch_s']['value']:.3f} s in PyTorch eager, while a whole pass of the "
            f"fast path's decoder (prompt encoding and full-size mask included) takes "
            f"{v['decoder_pass_s']['value']:.3f} s")


def markdown(rows: list[dict], about: Provenance) -> str:
    """results/bench/README.md from the bench's rows and its provenance."""
    v = {r["name"]: r for r in rows}
    facts, vers, git = about.cpu, about.versions, about.git
    e32 = v["encode_fp32_s"]["value"]
    lines = ["# Benchmarks (`make bench`)", "",
             "Generated by `benchmarks/bench.py`" + (" --quick" if about.quick else "") + "; never edited by hand. "
             "Medians of repeated runs; every target is a ratio within this one run.", "",
             f"- date: {about.date}; wall time {about.wall_s:.0f} s",
             f"- command: `{about.command}`",
             f"- git commit: {git['commit']} (dirty: {git['dirty']})",
             f"- machine: {facts['cpu']}, {facts['cores']} cores; SIMD: {facts['simd']}; "
             f"torch threads: {vers['torch_threads']}",
             f"- load average (1/5/15 min) at start: {about.load_start}; at end: {about.load_end} "
             + ("(at the start above the core count: other processes shared the CPU)" if shared_cpu(
                 about.load_start, facts["cores"]) else "(the bench's own threads count in the load at the end)"),
             f"- versions: python {vers['python']}, torch {vers['torch']}, onnxruntime {vers['onnxruntime']}, "
             f"numpy {vers['numpy']}",
             f"- model: vit_t (MobileSAM), checkpoint SHA-256 {about.checkpoint_sha256[:16]}...; fast path: "
             f"`encoder=auto` = {about.fast_id}, `decoder=auto` = {about.fast_decoder_id}", "",
             "## Targets (issues #5, #11 and #15)", ""]
    # The same ratios against the fp32 encoder under the C library's default malloc (as a plain script runs
    # SAM), converted by the two fresh-process fp32 timings of the allocator section; "met" is judged on the
    # measured ratio, against the fp32 encoder as persam runs it.
    plain = (v["malloc_persam_encode_fp32_s"]["value"] / v["malloc_default_encode_fp32_s"]["value"]
             if {"malloc_persam_encode_fp32_s", "malloc_default_encode_fp32_s"} <= v.keys() else None)
    if plain is not None:
        lines += [f"Ratios to the fp32 encoder are to it as persam runs it (this process, persam's allocator "
                  f"setting). The last column gives the same ratio against the fp32 encoder under the C library's "
                  f"default malloc settings, as a plain script running SAM has it: x {plain:.3f}, the ratio of "
                  f"the two fresh-process fp32 timings (`malloc_*` rows). Targets are judged on the measured "
                  f"column.", ""]
    lines += ["| target | measured | limit | met |" + (" x fp32 with default malloc |" if plain else ""),
              "|---|---|---|---|" + ("---|" if plain else "")]
    labels = {
        "fast_encoder_ratio": "fast encoder (auto) / fp32 encoder",
        "run_ratio_to_fp32_encoder": "real davis_perseg run (empty cache) per target image / fp32 encoder",
        "run_ratio_to_stages": "real run per target image / its encoder + method stages",
        "persam_e2e_ratio": "PerSAM end to end per target image / fp32 encoder",
        "persam_post_encoder_ratio": "PerSAM work after the encoder / fp32 encoder",
        "p2sam_to_persam_ratio": "P2SAM work after the encoder / PerSAM's (batched part candidates)",
        "persam_f_fit_s": "PerSAM-F fit per object (s, median)",
        "video_extra_object_ratio": "video: each extra object per frame / fp32 encoder",
        "sweep_ratio": "6-variant sweep / one variant",
        "memory_ratio": "peak memory, 1,000-image run / 10-image run",
        "min_cosine": "cosine similarity fast vs fp32 embeddings (min over real images)",
        "max_miou_change": "mIoU / J&F change fast path vs fp32 eager (max over PerSeg, DAVIS frames, davis_perseg, "
                           "video)",
    }
    for name, (limit, op) in TARGETS.items():
        if name not in v:
            lines.append(f"| {labels[name]} | not measured | {op} {limit} | - |" + (" - |" if plain else ""))
            continue
        value = v[name]["value"]
        met = value <= limit if op == "<=" else value >= limit
        extra = (f" {value * plain:.4g} |" if name in FP32_RATIOS else " - |") if plain else ""
        lines.append(f"| {labels[name]} | {value:.4g} | {op} {limit} | {'yes' if met else '**no**'} |{extra}")
    lines += ["", "## Stages (seconds, medians)", "", "| stage | seconds | x fp32 encoder | n | what |",
              "|---|---|---|---|---|"]
    for r in rows:
        if r["section"] in ("stage", "e2e", "video") and r["unit"] == "s":
            lines.append(f"| {r['name']} | {r['value']:.3f} | {r['value'] / e32:.3f} | {r['n']} | {r['note']} |")
    lines += ["", "## Roofline", "", "| measure | value | unit | what |", "|---|---|---|---|"]
    for r in rows:
        if r["section"] in ("roofline", "gpu"):
            lines.append(f"| {r['name']} | {r['value']:.4g} | {r['unit']} | {r['note']} |")
    if any(r["section"] == "run_stage" for r in rows):
        lines += ["", "## Stages of a real run (seconds per target image)", "",
                  "| stage | s / image | calls | what |", "|---|---|---|---|"]
        for r in rows:
            if r["section"] == "run_stage":
                lines.append(f"| {r['name']} | {r['value']:.4f} | {r['n']} | {r['note']} |")
    bf16 = "video_persam_jf_bf16_candidate" in v or "perseg_persam_miou_bf16_candidate" in v
    lines += ["", "## Quality of the fast path (encoder and decoder `auto`) against fp32 eager", "",
              "| data | method | mIoU fp32 | mIoU fast | change |" + (" bf16 candidate | change |" if bf16 else ""),
              "|---|---|---|---|---|" + ("---|---|" if bf16 else "")]
    for d, m, label, kind in QUALITY_CHECKS:
        name = f"{d}_{m}_{kind}"
        if f"{name}_fp32" in v:
            a, b = v[f"{name}_fp32"]["value"], v[f"{name}_fast"]["value"]
            row = f"| {v[f'{name}_fp32']['note']} | {label} | {a:.2f} | {b:.2f} | {b - a:+.2f} |"
            if bf16:
                c = v.get(f"{name}_bf16_candidate", {}).get("value")
                row += f" {c:.2f} | {c - a:+.2f} |" if c is not None else " - | - |"
            lines.append(row)
    lines.append(f"\nMinimum cosine similarity of fast vs fp32 embeddings: {v['min_cosine']['value']:.7f} over "
                 f"{v['min_cosine']['n']} real images.")
    lines += ["", "## Sweep, memory and the allocator", "", "| measure | value | unit | what |", "|---|---|---|---|"]
    for r in rows:
        if r["section"] in ("sweep", "memory", "setup", "allocator"):
            lines.append(f"| {r['name']} | {r['value']:.4g} | {r['unit']} | {r['note']} |")
    lines += ["", "## Notes", "",
              "- The fp32 path is upstream's encoder and mask decoder in eager PyTorch; the fast path is chosen by "
              f"`model.encoder` (`auto`, here {about.fast_id}; see `persam/models/encoders.py`) and `model.decoder` "
              f"(`auto`, here {about.fast_decoder_id}; see `persam/models/decoders.py`). Every stage and end-to-end "
              "time below is the fast path's.",
              "- Every encoder path is also timed on one real image (`encode_<path>_s`, with its cosine similarity "
              "to fp32 in bench.csv): ONNX Runtime fp32, AOTInductor bf16, ONNX Runtime int8 (dynamic "
              "quantization; a candidate only, not selectable: chosen only if it met the checks) and "
              "channels-last fp32.",
              f"- What bounds the work after the encoder: PerSAM decodes three times per image (the first "
              f"decoding and two refinement steps, as the paper), and one pass of SAM's mask decoder takes "
              f"{v['decoder_pass_s']['value']:.3f} s here ({v['decoder_pass_s']['value'] / e32:.3f} x the fp32 "
              f"encoder, decoder {about.fast_decoder_id}); the prior, guidance and fusion around it are small. "
              "Targets on the post-encoder time, the end-to-end time, the extra video object and the sweep ratio "
              "(each variant adds its decoding per image, while the encoding is shared) follow from that pass "
              "time on this CPU. The decoder's two-way transformer, its bulk, is also timed alone per prompt set: "
              "eager, compiled fp32 (as `decoder=compiled` runs it, inside the whole compiled decoder) and "
              "compiled bf16 (a candidate, not selectable)"
              + (decoder_onnx_note(v) if "decoder_onnx_s" in v else "") + ".",
              "- The memory comparison runs in a reduced-cost mode (`benchmarks/memory_run.py`: SAM's image encoder "
              "and mask decoder are stubs; reading, hashing, the disk cache, prior, prompts, refinement, "
              "upsampling and writing are the real code) so that 1,000 images fit in the benchmark's time; the "
              "peak memory of real runs is in the table above.",
              "- Allocator: " + ("persam's entry points, and this bench, keep large tensor buffers in the heap "
                                 "instead of mapping fresh pages for each (`persam/allocator.py`), so every timing "
                                 "here, fp32's included, is under that setting" if about.malloc else
                                 "persam's setting (`persam/allocator.py`) is not in force in this bench "
                                 "(PERSAM_MALLOC=default, or a C library without mallopt)")
              + "; the `malloc_*` rows time the fp32 and fast encoders in fresh processes with the C library's "
              "default and with persam's setting."]
    lines += [f"- {note}" for note in about.notes]
    lines += ["", "Raw numbers: [`bench.csv`](bench.csv), [`bench.json`](bench.json) (with provenance).", ""]
    return "\n".join(lines)
