"""Helpers shared by the benchmark scripts: timing, machine facts, data discovery, synthetic datasets."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SAMPLE_PERSEG = REPO / "persam" / "sample_data" / "perseg"


def perseg_root() -> Path:
    """../shared/data/perseg where it exists (same 3 objects as the bundled sample), else the bundled sample."""
    shared = SHARED / "perseg"
    return shared if (shared / "Images").is_dir() else SAMPLE_PERSEG


def davis_root() -> Path | None:
    root = SHARED / "davis2017"
    return root if (root / "JPEGImages" / "480p").is_dir() else None


def median(values) -> float:
    return float(statistics.median(values))


class Timer:
    """Collects durations per name; ``with timer("encode"): ...``."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    @contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.samples.setdefault(name, []).append(time.perf_counter() - start)

    def median(self, name: str) -> float:
        return median(self.samples[name])

    def count(self, name: str) -> int:
        return len(self.samples.get(name, []))


def cpu_facts() -> dict:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("", platform.machine(), platform.processor()):
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx_vnni"]
    return {"cpu": model, "cores": os.cpu_count(), "simd": " ".join(f for f in wanted if f in flags) or "none listed",
            "amx_or_avx512_bf16": bool({"amx_bf16", "avx512_bf16"} & flags)}


def shared_cpu(load: str, cores: int) -> bool:
    """Whether a ``load_average()`` text says other work held the CPU: its 1-minute load above the cores."""
    try:
        return float(load.split()[0]) > cores
    except (ValueError, IndexError):
        return False


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def git_commit() -> dict:
    from persam.experiments.provenance import git_state

    return git_state(REPO)


def versions() -> dict:
    import onnxruntime
    import torch

    return {"python": sys.version.split()[0], "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__, "torch_threads": torch.get_num_threads()}


def run_child(command: list[str], env: dict | None = None) -> tuple[float, str]:
    """Run ``command`` from the repository root; returns (wall seconds, its output). Raises on failure."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-4000:]}")
    return time.perf_counter() - start, done.stdout


def run_module_measured(module: str, args: list[str], rss_file: Path) -> tuple[float, float]:
    """``python -m module args`` through ``peak_rss.py``: (wall seconds, the process's peak RSS in MiB)."""
    wall, _ = run_child([sys.executable, str(REPO / "benchmarks" / "peak_rss.py"), str(rss_file), module, *args])
    return wall, float(rss_file.read_text())


def synthesize_perseg(source: Path, out: Path, n_targets: int, size: int = 384, seed: int = 0) -> None:
    """A PerSeg-layout dataset of ``n_targets`` distinct target images made from the real ones in ``source``.

    Objects cycle over the source's objects, 50 targets each at most; every target is a random crop (50-100 %
    of the side), maybe mirrored, of one of the object's real images, resized to ``size`` pixels, with its mask
    transformed alike. The reference is the object's real reference image and mask, resized alike.
    """
    import cv2
    from PIL import Image

    from persam.data.io import read_image, read_mask

    rng = np.random.default_rng(seed)
    objects = sorted(p.name for p in (source / "Images").iterdir() if p.is_dir())
    per_object = min(50, n_targets)
    made, index = 0, 0
    while made < n_targets:
        name = objects[index % len(objects)]
        folder = f"{name}_{index:03d}"
        images = sorted((source / "Images" / name).glob("*.jpg"))
        pairs = [(read_image(p), read_mask(source / "Annotations" / name / f"{p.stem}.png")) for p in images]
        (out / "Images" / folder).mkdir(parents=True, exist_ok=True)
        (out / "Annotations" / folder).mkdir(parents=True, exist_ok=True)

        def save(stem: str, image: np.ndarray, mask: np.ndarray, folder: str = folder) -> None:
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
            Image.fromarray(image).save(out / "Images" / folder / f"{stem}.jpg", quality=90)
            palette = Image.fromarray(mask, mode="P")
            palette.putpalette([0, 0, 0, 128, 0, 0] + [0] * 762)
            palette.save(out / "Annotations" / folder / f"{stem}.png")

        save("000", *pairs[0])
        for k in range(1, min(per_object, n_targets - made) + 1):
            image, mask = pairs[1 + (k % (len(pairs) - 1))]
            h, w = mask.shape
            side = int(min(h, w) * rng.uniform(0.5, 1.0))
            y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
            image, mask = image[y : y + side, x : x + side], mask[y : y + side, x : x + side]
            if rng.random() < 0.5:
                image, mask = image[:, ::-1], mask[:, ::-1]
            if not mask.any():  # keep the object in view
                image, mask = pairs[1][0], pairs[1][1]
            save(f"{k:03d}", np.ascontiguousarray(image), np.ascontiguousarray(mask))
            made += 1
        index += 1
