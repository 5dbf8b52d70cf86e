"""Run a Python module as ``python -m`` would, then write this process's peak resident memory to a file.

    python benchmarks/peak_rss.py OUT_FILE MODULE [ARGS...]

The peak is the kernel's high-water mark of this process's own memory (``VmHWM`` in /proc/self/status).
``ru_maxrss`` of a child process cannot be used: Linux starts it from the parent's peak at spawn.
"""

from __future__ import annotations

import atexit
import runpy
import sys
from pathlib import Path


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    out, module, *args = sys.argv[1:]
    atexit.register(lambda: Path(out).write_text(f"{peak_rss_mib():.1f}\n"))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
