"""``make bench``: what PerSAM costs on this machine, written to ``results/bench/`` (README.md + bench.csv).

    python benchmarks/bench.py [--out results/bench] [--quick]

Everything runs on real MobileSAM (vit_t) weights and real images: the PerSeg objects (../shared/data/perseg
where present, else the bundled sample: the same 3 objects) and DAVIS 2017 frames (../shared/data/davis2017,
skipped where absent). Timings are medians of repeated runs, taken in one process and interleaved where they
are compared, and every target is reported as a ratio within this one run (the CPU may be shared: the load
average at the start and the end is recorded). Sections:

1. encoders and quality: every image goes through the fp32 path (upstream's eager encoder and decoder) and
   the fast path (``encoder=auto``, ``decoder=auto`` as a job of 100 images or more runs it), and, where the
   CPU has native bf16 and auto does not take it, the bf16 encoder candidate; the cosine similarity of their
   embeddings, and PerSAM / PerSAM-F mIoU with each, on PerSeg, on DAVIS (13 sequences, frame 0 as the
   reference, the middle frame as the target), on a real davis_perseg run and as video J&F;
2. stages on PerSeg targets (fast-path embeddings): location prior, decoding + refinement, PerSAM-F's fit,
   and end to end per target image (read, encode uncached, predict; the reference's embedding cached);
3. video: seconds per frame with 1, 2 and 4 objects (``persam.methods.video``; DAVIS has one object per
   sequence here, so the K objects are K vertical strips of the object's frame-0 mask: a decoding costs the
   same whatever the object is);
4. a 6-variant sweep (Table 3's ladder: ``python -m persam.run -m``) against one variant's run, each a fresh
   process with an empty embedding cache;
5. peak memory of a 1,000-image run against a 10-image run, in a reduced-cost mode (``memory_run.py``: SAM's
   encoder and mask decoder stubbed; the rest is the real pipeline and cache);
6. the allocator: the fp32 and fast encoders in fresh processes with the C library's default ``malloc``
   settings and with persam's (``persam/allocator.py``, which this bench, like persam's entry points, applies).

The sections are in ``candidates.py`` (encoder and decoder candidates, roofline), ``stages.py`` (PerSeg and DAVIS
quality, stages, real runs), ``video.py``, ``processes.py`` (sweep, memory, allocator) and ``bf16_checks.py``;
each takes the ``Bench`` of ``session.py`` (its predictors, rows and timer); ``report.py`` writes results/bench/.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import candidates  # noqa: E402
import processes  # noqa: E402
import report  # noqa: E402
import stages  # noqa: E402
import video  # noqa: E402
from bf16_checks import bf16_checks  # noqa: E402
from common import REPO, load_average  # noqa: E402
from session import Bench  # noqa: E402

from persam.allocator import keep_large_buffers  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(REPO / "results" / "bench"))
    parser.add_argument("--quick", action="store_true", help="fewer images and frames (a smoke test)")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["candidates", "roofline", "davis", "run", "video", "sweep", "memory", "allocator"])
    parser.add_argument("--davis-perseg", default=str(REPO / "data" / "davis_perseg"),
                        help="the davis_perseg benchmark for the real-run section (make davis_perseg)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    # As persam's entry points do (persam/allocator.py): every timing below is under this setting.
    bench = Bench(Path(args.out), args.quick, keep_large_buffers())
    with tempfile.TemporaryDirectory(prefix="persam-bench-") as tmp:
        bench.setup()
        if "candidates" not in args.skip:
            candidates.encoders(bench)
            candidates.decoder(bench, Path(tmp))
        if "roofline" not in args.skip:
            candidates.roofline(bench)
        stages.perseg(bench)
        if "davis" not in args.skip:
            stages.davis(bench)
        if "run" not in args.skip:
            if (Path(args.davis_perseg) / "Images").is_dir():
                stages.run_stages(bench, Path(tmp), Path(args.davis_perseg).resolve())
            else:
                bench.notes.append(f"real-run section skipped: {args.davis_perseg} not found (make davis_perseg).")
        if "video" not in args.skip:
            video.speed(bench)
            video.quality(bench)
        if "sweep" not in args.skip:
            processes.sweep(bench, Path(tmp))
        if "memory" not in args.skip:
            processes.memory(bench, Path(tmp))
        if "allocator" not in args.skip:
            processes.allocator(bench)
        report.summarise(bench)
        if bench.bf16:
            bf16_checks(bench)
        bench.load_end = load_average()
    report.write(bench)
    print(f"wrote {Path(args.out) / 'README.md'} and bench.csv in {time.perf_counter() - bench.started:.0f} s")
    if not math.isfinite(bench.value("encode_fp32_s")):
        sys.exit(1)


if __name__ == "__main__":
    main()
