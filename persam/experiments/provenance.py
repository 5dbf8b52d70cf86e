"""Where a result came from: code version, configuration, model weights, data, software and machine.

Paths are written so that they mean the same on any machine and name none: relative to the repository when
inside it, ``~/...`` under the home folder, ``site-packages/...`` for installed files, otherwise as given (a
relative path) or by its name only. A path is placed as it was given, never resolved first: a dataset root or
an object folder that is a symbolic link is recorded under its own name, and nothing here needs a link's target
to lie inside anything (resolving did, and a run on linked data crashed at its very end).
Run from an installed wheel (not a checkout), there is no repository: no git state, and persam's own files
(its configs) are ``site-packages/persam/...``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import site
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from persam.allocator import in_force

_CHECKOUT = Path(__file__).resolve().parents[2]
# The repository persam runs from (a checkout, editable install or not); None for an installed wheel, whose
# parents[2] is site-packages (or a folder holding it, whose git state is not persam's).
REPO_ROOT: Path | None = _CHECKOUT if (_CHECKOUT / "pyproject.toml").is_file() else None
# Tracked files whose changes do not make a run's code differ: the results the tables write.
NOT_CODE = ("results",)


def portable_path(path: str | Path | None) -> str | None:
    """``path`` as a machine-independent string (see the module docstring)."""
    if path is None:
        return None
    p = Path(path).expanduser()
    if not p.is_absolute():
        return str(path)
    p = Path(os.path.normpath(p))  # ".." folded, links kept
    places = [*([(REPO_ROOT, "")] if REPO_ROOT else []),
              *((Path(d), "site-packages/") for d in site.getsitepackages()), (Path.home(), "~/")]
    # Each place as written and as resolved (a checkout or home reached through a link), the path never resolved.
    anchors = [(form, prefix) for place, prefix in places for form in (Path(os.path.normpath(place)), place.resolve())]
    for anchor, prefix in anchors:
        if p.is_relative_to(anchor):
            rel = p.relative_to(anchor).as_posix()
            return prefix + rel if prefix else (rel or ".")
    return p.name  # outside every known place: keep the name only, never the machine's folders


def git_state(root: Path | None = REPO_ROOT) -> dict:
    """Commit hash; ``dirty`` when tracked source (anything outside ``results/``) differs from it, then the
    changed files and a hash of the diff; nulls outside a checkout (``root`` None: an installed wheel)."""
    if root is None:
        return {"commit": None, "dirty": None}
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout

    pathspec = ["--", ".", *(f":(exclude){p}" for p in NOT_CODE)]
    try:
        commit = git("rev-parse", "HEAD").strip()
        changed = git("status", "--porcelain", "--untracked-files=no", *pathspec).splitlines()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    state = {"commit": commit, "dirty": bool(changed)}
    if changed:
        diff = git("diff", "HEAD", *pathspec)
        state["changed_files"] = [line[3:] for line in changed]
        state["diff_sha256"] = hashlib.sha256(diff.encode()).hexdigest()
    return state


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def data_manifest(files: Iterable[Path], root: Path) -> dict:
    """How many data files a run read and one hash over their paths (relative to ``root``) and contents. The
    paths are taken as the run named them (``root/Images/cat/00.jpg``), never resolved: an object folder that is
    a link to elsewhere is still inside its root, and the hash is the same as for a copy of the data."""
    base = os.path.abspath(root)
    entries = sorted((Path(os.path.relpath(os.path.abspath(f), base)).as_posix(), file_sha256(Path(f)))
                     for f in set(files))
    listing = "\n".join(f"{sha}  {rel}" for rel, sha in entries)
    return {"files": len(entries), "sha256": hashlib.sha256(listing.encode()).hexdigest()}


def machine() -> dict:
    import torch  # provenance is written by runs, which have torch; the tables only read it

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"host_cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "torch_threads": torch.get_num_threads(),
            "malloc": "large buffers kept in the heap (persam.allocator)" if in_force() else "C library default"}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def collect(extra: dict) -> dict:
    import torch

    return {
        "date": utc_now(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "git": git_state(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "machine": machine(),
        **extra,
    }
