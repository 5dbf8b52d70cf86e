"""DreamBooth checkpoints: ``<output_dir>/checkpoints/checkpoint-<step>/``, each a complete diffusers pipeline
folder (``StableDiffusionPipeline.from_pretrained(folder)`` loads it, with the trained UNet) plus accelerate's
training state beside it (optimizer, learning-rate schedule, random states) for resuming."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

PREFIX = "checkpoint-"


def checkpoint_dir(output_dir: Path, step: int) -> Path:
    return output_dir / "checkpoints" / f"{PREFIX}{step}"


def checkpoint_step(path: Path) -> int:
    match = re.fullmatch(rf"{PREFIX}(\d+)", path.name)
    if not match:
        raise ValueError(f"{path}: not a checkpoint folder (expected {PREFIX}<step>)")
    return int(match.group(1))


def checkpoints(output_dir: Path) -> list[Path]:
    """The complete checkpoints under ``output_dir``, oldest first (a folder without model_index.json is an
    interrupted save and is skipped)."""
    folder = output_dir / "checkpoints"
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if re.fullmatch(rf"{PREFIX}\d+", p.name) and (p / "model_index.json").is_file()]
    return sorted(found, key=checkpoint_step)


def resume_from(output_dir: Path, resume: str | None) -> Path | None:
    """The checkpoint to resume from: ``latest`` -> the newest in ``output_dir`` (None when there is none),
    a folder -> that folder, None -> none."""
    if not resume:
        return None
    if resume == "latest":
        found = checkpoints(output_dir)
        return found[-1] if found else None
    path = Path(resume)
    if not (path / "model_index.json").is_file():
        raise FileNotFoundError(f"{path}: not a checkpoint folder (no model_index.json)")
    return path


def prune(output_dir: Path, keep: int | None) -> None:
    """Delete all but the newest ``keep`` checkpoints (None: keep all)."""
    if keep is None:
        return
    for old in checkpoints(output_dir)[:-keep] if keep > 0 else checkpoints(output_dir):
        shutil.rmtree(old)
