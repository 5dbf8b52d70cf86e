"""On-disk cache of SAM image embeddings, shared by every run and sweep on a machine.

Key: (model name, checkpoint SHA-256, preprocessing id, SHA-256 of the decoded RGB pixels and their shape);
the predictor's preprocessing id names the encoder backend too (fp32, ONNX Runtime, bf16), so their
embeddings never mix. Entries are written to a temporary file in the cache folder and renamed into place, so
a reader sees a whole entry or none; a torn or unreadable entry is treated as a miss, deleted and recomputed.

The cache is bounded: when it exceeds ``max_bytes``, the least recently used entries are removed until it
holds 90 % of that. The folder is scanned for this on a process's first write, then whenever the bytes it
wrote since could take the cache past the bound, and at least every ``scan_every`` writes (other processes
write too), so a long run does not stat the whole cache after every image. Entries are read one at a time
from disk: a run holds one embedding in memory, however large the dataset.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from persam.atomic import atomic_path

LOW_WATER = 0.9


def default_cache_dir() -> Path:
    env = os.environ.get("PERSAM_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("PERSAM_HOME") or Path.home() / ".cache" / "persam") / "embeddings"


def image_digest(image: np.ndarray) -> str:
    digest = hashlib.sha256(repr((image.shape, str(image.dtype))).encode())
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


@dataclass
class EmbeddingCache:
    root: Path = field(default_factory=default_cache_dir)
    max_bytes: int = 20 * 2**30
    scan_every: int = 64
    hits: int = 0
    misses: int = 0
    _scanned_bytes: int | None = field(default=None, repr=False)  # cache size at the last scan
    _written: int = field(default=0, repr=False)  # bytes written since then
    _writes: int = field(default=0, repr=False)  # entries written since then

    def __post_init__(self) -> None:
        self.root = Path(self.root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)

    def key(self, model: str, checkpoint_sha256: str, preprocessing: str, image: np.ndarray) -> str:
        parts = f"{model}|{checkpoint_sha256}|{preprocessing}|{image_digest(image)}"
        return hashlib.sha256(parts.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.pt"

    def get(self, key: str) -> dict | None:
        path = self._path(key)
        if not path.is_file():
            self.misses += 1
            return None
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(entry, dict) or entry.get("key") != key:
                raise ValueError("entry does not carry its key")
        except Exception:  # noqa: BLE001 - a torn or foreign file is a miss, whatever torch raises
            path.unlink(missing_ok=True)
            self.misses += 1
            return None
        os.utime(path)  # mark as recently used for eviction
        self.hits += 1
        return entry

    def put(self, key: str, entry: dict) -> None:
        with atomic_path(self._path(key)) as tmp:
            with open(tmp, "wb") as f:
                torch.save({**entry, "key": key}, f)
                f.flush()
                os.fsync(f.fileno())
            size = os.path.getsize(tmp)
        self._written += size
        self._writes += 1
        if (self._scanned_bytes is None or self._scanned_bytes + self._written > self.max_bytes
                or self._writes >= self.scan_every):
            self._evict()

    def _evict(self) -> None:
        entries = []
        for path in self.root.glob("*/*.pt"):
            try:
                stat = path.stat()
            except FileNotFoundError:  # removed by another process meanwhile
                continue
            entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        if total > self.max_bytes:  # down to 90 %, so that the next writes do not each trigger a scan
            for _, size, path in sorted(entries, key=lambda e: e[0]):
                if total <= LOW_WATER * self.max_bytes:
                    break
                path.unlink(missing_ok=True)
                total -= size
        self._scanned_bytes, self._written, self._writes = total, 0, 0

    def stats(self) -> dict:
        return {"dir": str(self.root), "hits": self.hits, "misses": self.misses}
