"""Atomic file writes: a reader (or a later run, or another process) sees the old file or the new one, never a
part of either. Every file persam publishes goes through :func:`atomic_path`: results and records, masks and
pictures, embedding-cache entries, downloaded checkpoints and converted encoders.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike, keep_suffix: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path`` for the block to write; renamed over ``path`` when the block ends, removed
    when it raises. The folder is created; the name is hidden and unique to the call (two writers never share
    one). It ends in ``.tmp``, so that no glob for ``path``'s kind of file finds a file half written, unless
    ``keep_suffix``: then it ends in ``path``'s suffix, for a writer that picks the format by it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    tmp = path.with_name(f".{path.stem}.{token}.tmp{path.suffix}" if keep_suffix else f".{path.name}.{token}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically, synced to disk before the rename."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
