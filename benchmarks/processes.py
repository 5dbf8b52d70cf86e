"""``make bench``'s sections in fresh processes: the sweep (4), peak memory (5) and the allocator (6)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from common import REPO, perseg_root, run_child, run_module_measured, synthesize_perseg
from session import Bench

from persam.config import config_file
from persam.data.perseg import load_perseg
from persam.models.encoders import resolve_encoder

SWEEP = ["ablation_pos", "ablation_neg", "ablation_refine", "ablation_attn", "persam", "persam_f"]


def sweep(bench: Bench, tmp: Path) -> None:
    """Section 4: Table 3's 6-variant ladder (``python -m persam.run -m``) against one variant's run, each a fresh
    process with an empty embedding cache."""
    print("sweep: 6 variants against 1", flush=True)
    available = [m for m in SWEEP if config_file("method", f"{m}.yaml").is_file()]
    common = [f"dataset.root={perseg_root()}", "progress=false"]
    single, single_rss = run_module_measured(
        "persam.run", ["method=persam", *common, f"cache.dir={tmp / 'cache-single'}",
                       f"hydra.run.dir={tmp / 'single'}"], tmp / "rss-single")
    sweep, sweep_rss = run_module_measured(
        "persam.run", ["-m", f"method={','.join(available)}", *common, f"cache.dir={tmp / 'cache-sweep'}",
                       f"hydra.sweep.dir={tmp / 'sweep'}"], tmp / "rss-sweep")
    note = f"{len(available)} variants: {', '.join(available)}; fresh processes, empty caches, PerSeg"
    bench.record("sweep", "single_variant_run_s", single, "s", 1, "python -m persam.run method=persam")
    bench.record("sweep", "sweep_run_s", sweep, "s", 1, note)
    bench.record("sweep", "sweep_ratio", sweep / single, "x", 1, note)
    bench.record("memory", "single_variant_run_peak_rss_mib", single_rss, "MiB", 1, "real pipeline, PerSeg")
    bench.record("memory", "sweep_run_peak_rss_mib", sweep_rss, "MiB", 1, "real pipeline, PerSeg")
    bench.sweep_variants = available


def memory(bench: Bench, tmp: Path) -> None:
    """Section 5: peak memory of a 1,000-image run against a 10-image run, in the reduced-cost mode of
    ``memory_run.py`` (SAM's encoder and mask decoder stubbed)."""
    print("memory: 10 and 1,000 images", flush=True)
    sizes = (10, 1000)
    results = {}
    for n in sizes:
        data = tmp / f"synthetic-{n}"
        synthesize_perseg(perseg_root(), data, n)
        _, output = run_child([sys.executable, str(REPO / "benchmarks" / "memory_run.py"), str(data),
                               str(tmp / f"memory-run-{n}"), str(tmp / f"memory-cache-{n}")])
        report = json.loads(output.strip().splitlines()[-1])
        results[n] = report
        bench.record("memory", f"reduced_cost_run_{n}_images_peak_rss_mib", report["peak_rss_mib"], "MiB", 1,
                     f"{report['target_images']} target images, {report['seconds']:.0f} s; stub encoder and "
                     "mask decoder, cache bounded at 0.25 GB")
    bench.record("memory", "memory_ratio", results[1000]["peak_rss_mib"] / results[10]["peak_rss_mib"], "x", 1,
                 "peak RSS, 1,000-image run / 10-image run")


def allocator(bench: Bench) -> None:
    """Section 6: what persam's allocator setting does, each encoder in a fresh process with and without it."""
    print("allocator: fp32 and fast encoders in fresh processes, C library default and persam's", flush=True)
    image = str(load_perseg(perseg_root())[0].ref_image)
    encoders = ["fp32", resolve_encoder("auto", bench.loaded)]
    for setting in ("default", "persam"):
        env = {"PERSAM_MALLOC": "default"} if setting == "default" else {"PERSAM_MALLOC": ""}
        _, out = run_child([sys.executable, str(REPO / "benchmarks" / "allocator_effect.py"), image, *encoders], env)
        result = json.loads(out.strip().splitlines()[-1])
        what = ("the C library's default malloc settings (PERSAM_MALLOC=default)" if setting == "default" else
                "persam's (large buffers kept in the heap)" if result["in_force"] else
                "persam's, not available on this C library (so the default)")
        for name, seconds in result["seconds"].items():
            bench.record("allocator", f"malloc_{setting}_encode_{name}_s", seconds, "s", 5,
                         f"{name} encoder in a fresh process, one real image, {what}")
