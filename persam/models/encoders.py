"""How SAM's image encoder is run: 1 x 3 x 1024 x 1024 preprocessed input -> 1 x 256 x 64 x 64 features.

``encoder`` (``model.encoder`` in the configs, ``GuidedPredictor(..., encoder=...)``):

* ``fp32``: upstream's encoder in PyTorch eager float32, the reference every other path is checked against.
* ``onnx``: the same weights exported once to ONNX (float32, cached on disk) and run by ONNX Runtime on the
  CPU, whose graph optimiser folds the batch norms into the convolutions, fuses GELU, layer norm and the
  attention matmuls, and lays the convolutions out in blocked (NCHWc) form. Same precision as ``fp32``:
  embeddings agree to ~1e-6 (cosine similarity 1.0 to 6 digits). About half the eager time for MobileSAM on a
  2-core CPU (``make bench``).
* ``bf16``: the encoder under bfloat16 autocast, its backbone's convolutions in float32: the matrix products of the
  attention and MLP layers in bf16 with fp32 accumulation; the backbone's convolutions (with their batch norms and
  the activations around them), the residual stream, norms and softmax in fp32. Why the backbone's convolutions:
  rounding their inputs, weights and outputs to bf16 was most of an all-autocast build's error (development
  measurement on five davis_perseg frames: 1 - cosine to fp32 1.5e-4 with every product in bf16, 1.0e-5 with every
  convolution in fp32), and that error was enough to move PerSAM's points to another near-tie on hard objects (they
  are argmaxes of a similarity map): the all-autocast build moved DAVIS-frame PerSAM-F by +2.7 mIoU points, past the
  0.3-point check. MobileSAM's backbone convolutions are mostly its high-resolution first stage, so keeping them
  fp32 costs time. The ``neck``'s two convolutions (1x1 and 3x3 to 256 channels at 64 x 64, 5.5 of the encoder's
  77.5 GFLOP, each followed by a layer norm) run in bf16: they are the encoder's last layers, so their rounding goes
  through no later layer (1 - cosine 2.6e-5 on the same frames), and in fp32 they cost about 0.035 s of 0.24 s per
  image on the 2-core AMX machine (development measurement, interleaved; ``make bench`` records the build's time and
  its accuracy checks). Exported with ``torch.export`` and compiled ahead of time by AOTInductor (with freezing:
  constant-folded weights, oneDNN's prepacked bf16 matmuls, which use AMX / AVX512-BF16 where the CPU has them) into
  a ``.pt2`` package, built once per (model, checkpoint, torch version, device) and cached on disk like the ONNX
  file, so a new process only loads a shared library. The first build takes about 30 s on a 2-core CPU (``make
  bench`` records it) and needs a C++ compiler. Cosine similarity to ``fp32`` about 0.99997, checked at >= 0.999 on
  the build's check input and on every bench image. On a CPU without native bfloat16 (AVX2 only) it is emulated and
  slow.
* ``exact``: ``onnx`` for MobileSAM on the CPU where onnxruntime is installed, else ``fp32``: the fastest path
  whose embeddings are fp32's to rounding. The tables use it (``persam/conf/experiment/``), so their numbers compare
  with fp32 runs and with the peer codes' measurements (../shared/peer, made in fp32).
* ``auto`` (the configs' default, or ``$PERSAM_ENCODER`` where set), on the CPU: ``bf16`` for the models in
  ``BF16_AUTO_MODELS`` (MobileSAM) where the CPU has native bfloat16 (``avx512_bf16`` or ``amx_bf16`` in
  /proc/cpuinfo) and a C++ compiler is found; else ``onnx`` for MobileSAM (``vit_t``) where onnxruntime is
  installed; else ``fp32``. On a GPU: ``fp32``. A model goes into ``BF16_AUTO_MODELS`` only when ``make bench``
  records its bf16 accuracy checks as met: cosine >= 0.999 to fp32 on every bench image, mIoU / J&F change
  <= 0.3 points on the image benchmarks and the video bench (``results/bench/``: the fast path's quality
  table is bf16's where auto takes it). The tables use ``exact``, never bf16. ``vit_b/l/h`` were not measured
  (``vit_h``'s 2.5 GB graph also exceeds ONNX's 2 GB single-file limit), so they stay on ``fp32``.

Each backend has an ``id`` that goes into the embedding-cache key, so embeddings of different backends never
mix, and into the run's provenance. The ONNX and AOTInductor files are written once to
``$PERSAM_ONNX_DIR`` / ``$PERSAM_AOTI_DIR`` (defaults ``$PERSAM_HOME/onnx`` and ``$PERSAM_HOME/aoti``,
``~/.cache/persam/...``), atomically, and checked against the eager encoder when built; the ONNX Runtime
session or the loaded package is created on the first image that misses the embedding cache and shared by
every predictor of the process.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from persam.atomic import atomic_path
from persam.models.registry import IMAGE_SIZE, LoadedSam

ENCODERS = ("auto", "exact", "fp32", "onnx", "bf16")
ONNX_OPSET = 17
# Where ``auto`` picks ONNX Runtime: models whose ONNX path was measured faster on CPU (make bench).
ONNX_AUTO_MODELS = ("vit_t",)
# Where ``auto`` picks bf16 on a CPU with native bfloat16: models whose bf16 accuracy checks hold in make bench
# (results/bench/, MobileSAM's since its convolutions run in fp32).
BF16_AUTO_MODELS: tuple[str, ...] = ("vit_t",)
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
# A converted encoder must reproduce the eager fp32 encoder on a check input to at least this cosine similarity.
ONNX_MIN_COSINE = 0.99999
BF16_MIN_COSINE = 0.999


def _cache_subdir(env: str, name: str) -> Path:
    if os.environ.get(env):
        return Path(os.environ[env]).expanduser()
    return Path(os.environ.get("PERSAM_HOME") or Path.home() / ".cache" / "persam").expanduser() / name


def onnx_dir() -> Path:
    return _cache_subdir("PERSAM_ONNX_DIR", "onnx")


def aoti_dir() -> Path:
    return _cache_subdir("PERSAM_AOTI_DIR", "aoti")


def cpu_flags(cpuinfo: str) -> set[str]:
    """The feature flags of the first processor listed in a /proc/cpuinfo text (``flags`` line, x86)."""
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def native_bf16(flags: set[str]) -> bool:
    """Whether a CPU with these flags computes bfloat16 in hardware (AMX or AVX512-BF16)."""
    return bool(NATIVE_BF16_FLAGS & flags)


def this_cpu_flags() -> set[str]:
    try:
        return cpu_flags(Path("/proc/cpuinfo").read_text())
    except OSError:  # not Linux: no flags known, so no bf16 by default
        return set()


def cxx_compiler_available() -> bool:
    """AOTInductor compiles C++: a compiler must be on PATH (``$CXX``, ``c++`` or ``g++``)."""
    return any(shutil.which(c) for c in (os.environ.get("CXX"), "c++", "g++") if c)


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def default_encoder() -> str:
    """The encoder a run takes when none is named: ``$PERSAM_ENCODER``, else ``auto`` (as the model configs)."""
    return os.environ.get("PERSAM_ENCODER") or "auto"


def resolve_encoder(kind: str, loaded: LoadedSam) -> str:
    """The concrete backend (``fp32``, ``onnx`` or ``bf16``) that ``kind`` means for ``loaded``."""
    if kind not in ENCODERS:
        raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {kind!r}")
    if kind == "exact":
        return exact_choice(loaded.name, loaded.device.type, onnxruntime_available())
    if kind != "auto":
        return kind
    return auto_choice(loaded.name, loaded.device.type, this_cpu_flags(), cxx_compiler_available(),
                       onnxruntime_available())


def exact_choice(model: str, device_type: str, has_onnxruntime: bool) -> str:
    """What ``exact`` means: the fastest backend whose embeddings equal fp32's to rounding (ONNX Runtime's fp32
    graph for the models where it was measured faster, on the CPU), so results compare with fp32 runs."""
    return "onnx" if device_type == "cpu" and model in ONNX_AUTO_MODELS and has_onnxruntime else "fp32"


def auto_choice(model: str, device_type: str, flags: set[str], has_compiler: bool, has_onnxruntime: bool,
                bf16_models: tuple[str, ...] = BF16_AUTO_MODELS) -> str:
    """What ``auto`` means for ``model`` on a device of this type, CPU flags and installed tools."""
    if device_type != "cpu":
        return "fp32"
    if model in bf16_models and native_bf16(flags) and has_compiler:
        return "bf16"
    if model in ONNX_AUTO_MODELS and has_onnxruntime:
        return "onnx"
    return "fp32"


class TorchEncoder:
    """Upstream's encoder in eager PyTorch float32."""

    def __init__(self, loaded: LoadedSam) -> None:
        self.module = loaded.sam.image_encoder
        self.id = "torch-fp32"

    def __call__(self, x: Tensor) -> Tensor:
        return self.module(x)


def _check_input() -> Tensor:
    return torch.randn(1, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(0))


def _cosine(a: Tensor, b: Tensor) -> float:
    return F.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0).item()


_SESSIONS: dict[tuple[str, int], object] = {}
_SESSIONS_LOCK = threading.Lock()


def _write_checked(path: Path, build: Callable[[str], tuple[Tensor, Tensor]], min_cosine: float, what: str) -> None:
    """Publish a converted encoder at ``path`` atomically, only when it reproduces the eager fp32 encoder.

    ``build(tmp)`` writes the converted encoder to the temporary file ``tmp`` (beside ``path``) and returns its
    output and the eager fp32 encoder's on the check input; they must agree to ``min_cosine``."""
    with atomic_path(path, keep_suffix=True) as tmp:
        got, expected = build(str(tmp))
        cosine = _cosine(got.float(), expected)
        if got.shape != expected.shape or not cosine >= min_cosine:
            raise RuntimeError(f"{what} does not reproduce the eager fp32 encoder "
                               f"(cosine similarity {cosine:.6f} < {min_cosine})")
        os.chmod(tmp, 0o644)


def _export_onnx(loaded: LoadedSam, path: Path) -> None:
    """Export ``loaded``'s image encoder to ``path`` (atomically) and check it against the eager encoder."""
    import onnxruntime as ort

    encoder = loaded.sam.image_encoder
    check = _check_input()

    def build(tmp: str) -> tuple[Tensor, Tensor]:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about TinyViT's shape asserts
            torch.onnx.export(encoder, (check,), tmp, dynamo=False, opset_version=ONNX_OPSET,
                              input_names=["image"], output_names=["features"])
            expected = encoder(check)
        session = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
        return torch.from_numpy(session.run(None, {"image": check.numpy()})[0]), expected

    _write_checked(path, build, ONNX_MIN_COSINE, f"the ONNX export of {loaded.name}")


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
                # ORT's idle workers spin after each run by default; on a small CPU they then take the cores
                # from the method (PyTorch) that runs next on the embedding.
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                _SESSIONS[key] = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
            return _SESSIONS[key]

    def __call__(self, x: Tensor) -> Tensor:
        session = self.session()
        features = session.run(None, {"image": x.detach().cpu().float().numpy()})[0]
        return torch.from_numpy(features).to(x.device)


_PACKAGES: dict[str, Callable] = {}


class _Fp32Convolution(torch.nn.Module):
    """A convolution run in float32 inside a bfloat16 autocast region (its input cast up, autocast off)."""

    def __init__(self, conv: torch.nn.Conv2d, device_type: str) -> None:
        super().__init__()
        self.conv, self.device_type = conv, device_type

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(self.device_type, enabled=False):
            return self.conv(x.float())


def _convolutions_in_fp32(module: torch.nn.Module, device_type: str, skip: tuple[str, ...] = ()) -> None:
    """Wrap every ``Conv2d`` under ``module`` (in place) in :class:`_Fp32Convolution`, except under the children
    named in ``skip``."""
    for name, child in module.named_children():
        if name in skip:
            continue
        if isinstance(child, torch.nn.Conv2d):
            setattr(module, name, _Fp32Convolution(child, device_type))
        else:
            _convolutions_in_fp32(child, device_type)


class _Bf16Autocast(torch.nn.Module):
    """``encoder`` under bfloat16 autocast, its backbone's convolutions in float32 and its ``neck``'s in bf16
    (see the module doc): fp32 in, fp32 out. ``encoder`` is changed in place: pass a copy."""

    def __init__(self, encoder: torch.nn.Module, device_type: str) -> None:
        super().__init__()
        _convolutions_in_fp32(encoder, device_type, skip=("neck",))
        self.encoder, self.device_type = encoder, device_type

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            return self.encoder(x).float()


def _build_aoti_bf16(loaded: LoadedSam, path: Path) -> None:
    """Compile ``loaded``'s encoder under bf16 autocast into the AOTInductor package ``path`` (atomically) and
    check it against the eager fp32 encoder."""
    encoder = loaded.sam.image_encoder
    check = _check_input().to(loaded.device)
    module = _Bf16Autocast(copy.deepcopy(encoder), loaded.device.type).eval()

    def build(tmp: str) -> tuple[Tensor, Tensor]:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.export(module, (check,))
            torch._inductor.aoti_compile_and_package(program, package_path=tmp, inductor_configs={"freezing": True})
            expected = encoder(check)
            return torch._inductor.aoti_load_package(tmp)(check), expected

    _write_checked(path, build, BF16_MIN_COSINE, f"the bf16 build of {loaded.name}")


class Bf16Encoder:
    """The encoder under bfloat16 autocast with its backbone's convolutions in float32, compiled ahead of time by
    AOTInductor (see the module doc)."""

    def __init__(self, loaded: LoadedSam) -> None:
        self.loaded = loaded
        self.path = aoti_dir() / (f"{loaded.name}-{loaded.sha256[:16]}-torch{torch.__version__}-"
                                  f"{loaded.device.type}-bf16-autocast-fp32backbone.pt2")
        self.id = f"torch{torch.__version__}-aoti-bf16-autocast-fp32backbone"

    def package(self) -> Callable:
        """The loaded package, built first if needed (once per machine; loaded once per process)."""
        with _SESSIONS_LOCK:
            key = str(self.path)
            if key not in _PACKAGES:
                if not self.path.is_file():
                    if not cxx_compiler_available():
                        raise RuntimeError("encoder 'bf16' compiles C++ with AOTInductor: no C++ compiler found "
                                           "(install g++ or set CXX), or use encoder=onnx / fp32")
                    start = time.perf_counter()
                    print(f"persam: building the bf16 encoder of {self.loaded.name} once for this machine (about 30 s; "
                          f"cached in {self.path.parent}; model.encoder=onnx skips it)", file=sys.stderr, flush=True)
                    _build_aoti_bf16(self.loaded, self.path)
                    # What the one-off build cost, for make bench to report after the package is cached.
                    self.path.with_suffix(".json").write_text(json.dumps(
                        {"build_seconds": round(time.perf_counter() - start, 1),
                         "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    _PACKAGES[key] = torch._inductor.aoti_load_package(str(self.path))
            return _PACKAGES[key]

    def __call__(self, x: Tensor) -> Tensor:
        return self.package()(x)


def build_encoder(loaded: LoadedSam, kind: str = "fp32") -> Callable[[Tensor], Tensor]:
    """The encoder backend ``kind`` (see the module doc) for ``loaded``; it has an ``id`` for cache keys."""
    concrete = resolve_encoder(kind, loaded)
    if concrete == "onnx":
        if loaded.device.type != "cpu":
            raise ValueError("encoder 'onnx' runs on the CPU; use 'fp32' or 'bf16' on a GPU")
        if not onnxruntime_available():
            raise ImportError("encoder 'onnx' needs onnxruntime and onnx: pip install onnxruntime onnx")
        return OnnxEncoder(loaded)
    if concrete == "bf16":
        return Bf16Encoder(loaded)
    return TorchEncoder(loaded)
