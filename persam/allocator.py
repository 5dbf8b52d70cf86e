"""Keep a process's large tensor buffers in its heap instead of mapping fresh pages for each one.

PyTorch's CPU allocator does not cache: every tensor is a ``malloc`` and every release a ``free``. glibc's
``malloc`` serves each request above its mmap threshold (128 KB at first, rising to at most 32 MB) with a new
``mmap`` and returns it with ``munmap``, so each large activation of the image encoder (MobileSAM's first stage
makes 64 MB ones) is fresh pages that the kernel faults in and zeroes on first touch, on every image. With mmap
off and the heap never trimmed, the freed buffers are reused instead (what jemalloc or tcmalloc, which
PyTorch's CPU tuning guide suggests preloading, also achieve).

Measured on the 2-core AMX machine (a VM, where page faults are dear), one real frame, median of 7 calls: the
fp32 eager encoder 0.96 s -> 0.51 s, the bf16 build 0.31 s -> 0.21 s, ONNX Runtime (its own arena) unchanged;
``make bench`` records what it gives on the machine that runs it. The cost: the heap keeps its peak size until
the process ends (it is reused, not grown, by later images).

``keep_large_buffers()`` is called by persam's entry points (``persam``, ``python -m persam.run``, the app,
DreamBooth's trainer, ``make bench``); a library user calls it once at start. ``PERSAM_MALLOC=default`` leaves
the C library's settings alone. Elsewhere than glibc (musl, macOS, Windows) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# mallopt(3) parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
_NEVER_TRIM = 2**31 - 1  # bytes: the largest value mallopt's int takes

_applied: bool | None = None


def keep_large_buffers() -> bool:
    """Turn glibc's per-allocation mmap and heap trimming off for this process (once; see the module doc).
    Returns whether the settings are in force."""
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


def in_force() -> bool:
    """Whether :func:`keep_large_buffers` has set this process's allocator (for provenance)."""
    return bool(_applied)


def _apply() -> bool:
    if os.environ.get("PERSAM_MALLOC", "").lower() == "default":
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # no C library found, or one without mallopt (musl, macOS)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success.
    return mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, _NEVER_TRIM) == 1
