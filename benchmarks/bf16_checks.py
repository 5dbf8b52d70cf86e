"""``make bench``'s verdict on the bf16 encoder candidate, where the CPU has native bf16 and ``encoder=auto`` did not
take it: its accuracy checks against fp32 (the same as the fast path's), recorded as rows and said in a note."""

from __future__ import annotations

from session import Bench
from targets import QUALITY_CHECKS, TARGETS, changes_against_fp32


def bf16_checks(bench: Bench) -> None:
    """The bf16 candidate's accuracy checks (encoders.py: auto takes bf16 only where they hold)."""
    changes = changes_against_fp32(bench.rows, "bf16_candidate")
    worst = max(changes, key=lambda k: abs(changes[k]))
    bench.record("quality", "bf16_min_cosine", min(bench.cosines["bf16"]), "cosine", len(bench.cosines["bf16"]),
                 "bf16 candidate vs fp32 embeddings, real images")
    bench.record("quality", "bf16_max_miou_change", abs(changes[worst]), "points", len(changes),
                 "|bf16 candidate - fp32| over the mIoUs and the video J&F")
    lowest = min(bench.cosines["bf16"])
    met = lowest >= TARGETS["min_cosine"][0] and abs(changes[worst]) <= TARGETS["max_miou_change"][0]
    bench.notes.append(
        f"The bf16 encoder (candidate, `model.encoder=bf16`): minimum cosine {lowest:.5f} to fp32 over "
        f"{len(bench.cosines['bf16'])} real images; mIoU / J&F changes against fp32 "
        + ", ".join(f"{k} {v:+.2f}" for k, v in changes.items())
        + (f". All {len(changes)} of the {len(QUALITY_CHECKS)} checks measured here hold"
           + (", so MobileSAM can go into `BF16_AUTO_MODELS` (persam/models/encoders.py)."
              if len(changes) == len(QUALITY_CHECKS) else "; the rest were skipped.")
           if met else f". The largest ({worst}, {changes[worst]:+.2f}) is outside the 0.3-point check, so `auto` "
           "does not take bf16 (persam/models/encoders.py)."))
