"""How SAM's image encoder is run: 1 x 3 x 1024 x 1024 preprocessed input -> 1 x 256 x 64 x 64 features.

``encoder`` (``model.encoder`` in the configs, ``GuidedPredictor(..., encoder=...)``):

* ``fp32``: upstream's encoder in PyTorch eager float32, the reference every other path is checked against.
* ``onnx``: the same weights exported once to ONNX (float32, cached on disk) and run by ONNX Runtime on the
  CPU, whose graph optimiser folds the batch norms into the convolutions, fuses GELU, layer norm and the
  attention matmuls, and lays the convolutions out in blocked (NCHWc) form. Same precision as ``fp32``:
  embeddings agree to ~1e-6 (cosine similarity 1.0 to 6 digits). About half the eager time for MobileSAM on a
  2-core CPU (``make bench``).
* ``bf16``: PyTorch autocast to bfloat16. Fast only on CPUs with AMX / AVX512-BF16 (or on a GPU); on an
  AVX2-only CPU PyTorch emulates bfloat16 and the encoder runs about 100x slower than ``fp32``.
* ``auto`` (the configs' default): ``onnx`` for MobileSAM (``vit_t``) on the CPU where onnxruntime is
  installed, else ``fp32``. ``vit_b/l/h`` were not measured (``vit_h``'s 2.5 GB graph also exceeds ONNX's
  2 GB single-file limit), so they stay on ``fp32``.

Each backend has an ``id`` that goes into the embedding-cache key, so embeddings of different backends never
mix, and into the run's provenance. The ONNX file is written once per (model, checkpoint, torch version)
to ``$PERSAM_ONNX_DIR`` (default ``$PERSAM_HOME/onnx``, ``~/.cache/persam/onnx``), atomically, and checked
against the eager encoder on the first export; the ONNX Runtime session is created on the first image
that misses the embedding cache and shared by every predictor of the process.
"""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from persam.models.registry import IMAGE_SIZE, LoadedSam

ENCODERS = ("auto", "fp32", "onnx", "bf16")
ONNX_OPSET = 17
# Where ``auto`` picks ONNX Runtime: models whose ONNX path was measured faster on CPU (make bench).
ONNX_AUTO_MODELS = ("vit_t",)
# The ONNX graph must reproduce the eager encoder on a check input to at least this cosine similarity.
ONNX_MIN_COSINE = 0.99999


def onnx_dir() -> Path:
    env = os.environ.get("PERSAM_ONNX_DIR")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("PERSAM_HOME") or Path.home() / ".cache" / "persam").expanduser() / "onnx"


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_encoder(kind: str, loaded: LoadedSam) -> str:
    """The concrete backend (``fp32``, ``onnx`` or ``bf16``) that ``kind`` means for ``loaded``."""
    if kind not in ENCODERS:
        raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {kind!r}")
    if kind != "auto":
        return kind
    on_cpu = loaded.device.type == "cpu"
    return "onnx" if on_cpu and loaded.name in ONNX_AUTO_MODELS and onnxruntime_available() else "fp32"


class TorchEncoder:
    """Upstream's encoder in eager PyTorch, float32 (``bf16=False``) or under bfloat16 autocast."""

    def __init__(self, loaded: LoadedSam, bf16: bool = False) -> None:
        self.module = loaded.sam.image_encoder
        self.bf16 = bf16
        self.id = "torch-bf16-autocast" if bf16 else "torch-fp32"

    def __call__(self, x: Tensor) -> Tensor:
        if not self.bf16:
            return self.module(x)
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            return self.module(x).float()


_SESSIONS: dict[tuple[str, int], object] = {}
_SESSIONS_LOCK = threading.Lock()


def _export_onnx(loaded: LoadedSam, path: Path) -> None:
    """Export ``loaded``'s image encoder to ``path`` (atomically) and check it against the eager encoder."""
    import onnxruntime as ort

    path.parent.mkdir(parents=True, exist_ok=True)
    encoder = loaded.sam.image_encoder
    check = torch.randn(1, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(0))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".onnx")
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about TinyViT's shape asserts
            torch.onnx.export(encoder, (check,), tmp, dynamo=False, opset_version=ONNX_OPSET,
                              input_names=["image"], output_names=["features"])
            expected = encoder(check)
        session = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
        got = torch.from_numpy(session.run(None, {"image": check.numpy()})[0])
        cosine = F.cosine_similarity(got.flatten().double(), expected.flatten().double(), dim=0).item()
        if got.shape != expected.shape or not cosine >= ONNX_MIN_COSINE:
            raise RuntimeError(f"the ONNX export of {loaded.name} does not reproduce the eager encoder "
                               f"(cosine similarity {cosine:.6f})")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class OnnxEncoder:
    """The image encoder exported to ONNX (float32) and run by ONNX Runtime on the CPU."""

    def __init__(self, loaded: LoadedSam, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.loaded = loaded
        self.threads = threads or torch.get_num_threads()
        self.path = onnx_dir() / f"{loaded.name}-{loaded.sha256[:16]}-torch{torch.__version__}-opset{ONNX_OPSET}.onnx"
        self.id = f"onnxruntime{ort.__version__}-fp32"

    def session(self):
        """The ONNX Runtime session, exporting the model first if needed (once per process and machine)."""
        key = (str(self.path), self.threads)
        with _SESSIONS_LOCK:
            if key not in _SESSIONS:
                import onnxruntime as ort

                if not self.path.is_file():
                    _export_onnx(self.loaded, self.path)
                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                _SESSIONS[key] = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
            return _SESSIONS[key]

    def __call__(self, x: Tensor) -> Tensor:
        session = self.session()
        features = session.run(None, {"image": x.detach().cpu().float().numpy()})[0]
        return torch.from_numpy(features).to(x.device)


def build_encoder(loaded: LoadedSam, kind: str = "fp32") -> Callable[[Tensor], Tensor]:
    """The encoder backend ``kind`` (see the module doc) for ``loaded``; it has an ``id`` for cache keys."""
    concrete = resolve_encoder(kind, loaded)
    if concrete == "onnx":
        if loaded.device.type != "cpu":
            raise ValueError("encoder 'onnx' runs on the CPU; use 'fp32' or 'bf16' on a GPU")
        if not onnxruntime_available():
            raise ImportError("encoder 'onnx' needs onnxruntime and onnx: pip install onnxruntime onnx")
        return OnnxEncoder(loaded)
    return TorchEncoder(loaded, bf16=concrete == "bf16")
