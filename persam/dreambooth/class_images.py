"""Class (regularisation) images for prior preservation: the folder topped up by the pretrained pipeline."""

from __future__ import annotations

from pathlib import Path

import torch
from tqdm import tqdm

from persam.data.io import IMAGE_SUFFIXES


def class_image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def generate_class_images(pipeline, folder: Path, prompt: str, wanted: int, resolution: int, batch_size: int,
                          inference_steps: int, seed: int) -> list[Path]:
    """Top ``folder`` up to ``wanted`` images of ``prompt`` (``class-<i>.png``, seeded per image index) and
    return the first ``wanted`` of its images."""
    folder.mkdir(parents=True, exist_ok=True)
    have = class_image_files(folder)
    missing = wanted - len(have)
    start = len(have)
    for first in tqdm(range(start, start + max(0, missing), batch_size), desc="class images", unit="batch"):
        count = min(batch_size, start + missing - first)
        generators = [torch.Generator().manual_seed(seed * 100_003 + first + i) for i in range(count)]
        images = pipeline(prompt, num_images_per_prompt=count, height=resolution, width=resolution,
                          num_inference_steps=inference_steps, generator=generators).images
        for i, image in enumerate(images):
            image.save(folder / f"class-{first + i:05d}.png")
    return class_image_files(folder)[:wanted]
