"""A run's reference protocol (``dataset.references``): which images are each object's references.

* ``fixed`` (the default, the paper's protocol): the images ``dataset.ref_stems`` (default ``00``) are the
  references and every other image is a target (``dataset.not_targets`` apart).
* ``rotate``: every annotated image whose mask holds the object is in turn the one reference of an *episode*,
  the object's other images its targets (an image with an empty mask stays a target and is never a reference).
  An object's score is the mean over its episodes, so the object stays the unit of every interval and test;
  ``dataset.ref_stems`` is not used. Rotation takes one reference at a time, so several ``ref_stems`` or any
  ``not_targets`` (the few-shot protocol's settings) are a configuration error.
"""

from __future__ import annotations

from omegaconf import DictConfig

from persam.data.io import DataError

PROTOCOLS = ("fixed", "rotate")
# The tasks that run the rotation; the others refuse it (their targets are built around fixed references).
ROTATING_TASKS = ("images",)


def reference_protocol(cfg: DictConfig) -> str:
    """The run's protocol, after checking it fits the rest of the configuration."""
    protocol = str(cfg.dataset.get("references") or "fixed")
    if protocol not in PROTOCOLS:
        raise DataError(f"dataset.references must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if protocol == "rotate":
        task = cfg.dataset.get("task", "images")
        if task not in ROTATING_TASKS:
            raise DataError(f"dataset.references=rotate runs on the image task only; dataset {cfg.dataset.name} is "
                            f"task {task!r} (use dataset.references=fixed)")
        stems = list(cfg.dataset.get("ref_stems") or [])
        if len(stems) > 1:
            raise DataError(f"dataset.references=rotate takes one reference per episode, but dataset.ref_stems "
                            f"names {len(stems)} ({', '.join(map(str, stems))}); few-shot runs use "
                            "dataset.references=fixed")
        if cfg.dataset.get("not_targets"):
            raise DataError("dataset.references=rotate makes every image a target of the other episodes, so "
                            f"dataset.not_targets ({', '.join(map(str, cfg.dataset.not_targets))}) cannot apply; "
                            "few-shot runs use dataset.references=fixed")
    return protocol
