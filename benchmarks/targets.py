"""What ``make bench`` judges: its targets (issues #5, #11 and #15) and its accuracy checks of the fast path.

Kept free of torch, as the report that reads them (``report.py``) is.
"""

from __future__ import annotations

TARGETS = {  # name: (limit, how the measured value compares); issue #5, tightened by issue #15
    "fast_encoder_ratio": (0.35, "<="),
    "run_ratio_to_fp32_encoder": (0.6, "<="),
    "run_ratio_to_stages": (1.15, "<="),
    "persam_e2e_ratio": (0.6, "<="),
    "persam_post_encoder_ratio": (0.1, "<="),
    "p2sam_to_persam_ratio": (2.0, "<="),  # issue #11: P2SAM's cost after the encoder within 2x PerSAM's
    "persam_f_fit_s": (0.3, "<="),
    "video_extra_object_ratio": (0.08, "<="),
    "sweep_ratio": (1.3, "<="),
    "memory_ratio": (1.1, "<="),
    "min_cosine": (0.999, ">="),
    "max_miou_change": (0.3, "<="),
}
# The targets that are ratios to the fp32 encoder (timed in this process, under persam's allocator setting).
FP32_RATIOS = ("fast_encoder_ratio", "run_ratio_to_fp32_encoder", "persam_e2e_ratio", "persam_post_encoder_ratio",
               "video_extra_object_ratio")
# PerSAM's successors, as their configs build them (issue #11): their cost after the encoder, against PerSAM's.
SUCCESSORS = ("p2sam", "persam_plus")
QUALITY_NAMES = {"fp32": "fp32", "fast": "fast", "bf16": "bf16_candidate"}  # predictor -> quality row suffix
# The accuracy checks, each a quality row "<data>_<method>_<kind>_<suffix>": (data, method, label, kind).
QUALITY_CHECKS = [(d, m, label, "miou") for d in ("perseg", "davis", "davis_perseg")
                  for m, label in (("persam", "PerSAM"), ("persam_f", "PerSAM-F"))]
QUALITY_CHECKS.append(("video", "persam", "PerSAM (J&F)", "jf"))


def changes_against_fp32(rows: list[dict], suffix: str) -> dict[str, float]:
    """Each measured accuracy check's change of the ``suffix`` path (a ``QUALITY_NAMES`` value) against fp32, from
    the bench's ``rows`` (the first row of each name, as ``Bench.value`` reads it)."""
    values: dict[str, float] = {}
    for row in rows:
        values.setdefault(row["name"], row["value"])
    return {f"{d}_{m}": values[f"{d}_{m}_{kind}_{suffix}"] - values[f"{d}_{m}_{kind}_fp32"]
            for d, m, _, kind in QUALITY_CHECKS if {f"{d}_{m}_{kind}_{suffix}", f"{d}_{m}_{kind}_fp32"} <= values.keys()}
