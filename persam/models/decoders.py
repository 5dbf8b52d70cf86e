"""How SAM's mask decoder is run (``model.decoder`` in the configs, ``GuidedPredictor(..., decoder=...)``).

* ``eager``: upstream's ``MaskDecoder`` in eager PyTorch, with PerSAM's guidance hooks
  (:mod:`persam.models.guided_decoder`): the reference.
* ``compiled``: the same module, hooks included, under ``torch.compile`` (TorchInductor, float32). Inductor
  fuses the two-way transformer's layer norms, softmaxes and residual adds into its matrix products, which on a
  2-core CPU halves a decoding pass (``make bench``); masks agree with ``eager`` to float rounding (``make
  bench`` checks the mIoU and J&F change). Each call signature (multimask or not, mask input or not, which
  guidance, one prompt set or several) compiles once per process: about 4 s for PerSAM's from Inductor's
  on-disk cache, about 25 s on a cold cache. Shapes are symbolic, so new object or point counts do not
  recompile. Needs a C++ compiler on the CPU (Triton on a GPU).
* ``auto`` (the configs' default, or ``$PERSAM_DECODER`` where set): ``compiled`` for a job that will decode at
  least ``AUTO_COMPILE_MIN_IMAGES`` images (the caller says so with :meth:`MaskDecoderRunner.expect`; the
  experiment tasks do, with the images left to compute), where Inductor can run; else ``eager``. At about 0.05 s
  saved per PerSAM image on the 2-core CPU (dev measurement: 150 ms eager, 98 ms compiled), compiling pays back
  after about 80 images from a warm cache and 500 from a cold one; the threshold, 100, lies between them. ``persam
  segment`` and ``persam track`` say how many images or frames they have; the web app and the DreamBooth masks
  decode a few images per request, so ``auto`` stays ``eager`` there.

On the CPU, both paths lay the decoder's upscaling (transposed) convolutions out channels-last first, in place
(the same weights): their input, SAM's image tokens reshaped, already is channels-last, and with weights in the
default layout oneDNN takes a slow path for a single prompt set (one eager PerSAM prediction, three decodings:
185 ms -> 150 ms on the 2-core machine, the same masks; dev measurement).

The choice is fixed at the first decoding, so every image of a run is decoded the same way. Its ``id`` goes
into the run's provenance. Not into the resume fingerprint: the paths agree to rounding, and ``auto``'s
choice depends on how much of a run is left.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

import torch
from segment_anything.modeling import MaskDecoder

from persam.models.encoders import cxx_compiler_available

DECODERS = ("auto", "eager", "compiled")
AUTO_COMPILE_MIN_IMAGES = 100
# One graph per call signature: PerSAM, its variants and the video tracker together need more than dynamo's
# default of 8, past which it would silently run the rest eagerly.
RECOMPILE_LIMIT = 64

_COMPILED: dict[int, Callable] = {}  # one compiled wrapper per decoder module: predictors sharing a model share it
_COMPILED_LOCK = threading.Lock()


def default_decoder() -> str:
    """The decoder a run takes when none is named: ``$PERSAM_DECODER``, else ``auto`` (as the model configs)."""
    return os.environ.get("PERSAM_DECODER") or "auto"


def inductor_available(device_type: str) -> bool:
    """Whether TorchInductor can compile for ``device_type`` here: C++ on the CPU, Triton on a GPU."""
    if device_type == "cuda":
        from torch.utils._triton import has_triton

        return has_triton()
    return device_type == "cpu" and cxx_compiler_available()


def resolve_decoder(kind: str, device_type: str, images: int = 0) -> str:
    """The concrete path (``eager`` or ``compiled``) that ``kind`` means on ``device_type`` for a job of
    ``images`` images."""
    if kind not in DECODERS:
        raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {kind!r}")
    if kind == "auto":
        return "compiled" if images >= AUTO_COMPILE_MIN_IMAGES and inductor_available(device_type) else "eager"
    if kind == "compiled" and not inductor_available(device_type):
        raise RuntimeError(f"decoder 'compiled' needs TorchInductor on {device_type} (a C++ compiler on the CPU: "
                           "install g++ or set CXX; Triton on a GPU), or use decoder=eager")
    return kind


def channels_last_upscaling(decoder: MaskDecoder) -> None:
    """Lay ``decoder``'s upscaling convolutions out channels-last, in place (see the module doc)."""
    upscaling = getattr(decoder, "output_upscaling", None)  # a stub decoder (benchmarks' memory run) has none
    if upscaling is not None:
        upscaling.to(memory_format=torch.channels_last)


class MaskDecoderRunner:
    """Calls ``decoder`` (a ``MaskDecoder`` with PerSAM's guidance installed) eagerly or compiled."""

    def __init__(self, decoder: MaskDecoder, device_type: str, kind: str = "eager") -> None:
        self.decoder, self.device_type, self.requested = decoder, device_type, kind
        self.started = False
        if device_type == "cpu":
            channels_last_upscaling(decoder)
        self._use(resolve_decoder(kind, device_type))

    def _use(self, kind: str) -> None:
        self.kind = kind
        self.id = "torch-eager" if kind == "eager" else f"torch{torch.__version__}-inductor"
        self._call: Callable = self.decoder
        if kind == "compiled":
            with _COMPILED_LOCK:
                # Symbolic shapes from the first call: prompt sets and points vary from call to call.
                self._call = _COMPILED.setdefault(id(self.decoder), torch.compile(self.decoder, dynamic=True))

    def expect(self, images: int) -> None:
        """The job will decode ``images`` images: ``auto`` chooses by it (until the first decoding)."""
        if self.requested == "auto" and not self.started:
            first = id(self.decoder) not in _COMPILED
            self._use(resolve_decoder("auto", self.device_type, images))
            if self.kind == "compiled" and first:  # the first decodings stall while it compiles: say why
                print(f"persam: compiling SAM's mask decoder for {images} images (seconds from Inductor's cache, "
                      "about 25 s on a cold one; model.decoder=eager or PERSAM_DECODER=eager skips it)",
                      file=sys.stderr, flush=True)

    def __call__(self, **kwargs):
        self.started = True
        if self.kind == "eager":
            return self._call(**kwargs)
        with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT):
            return self._call(**kwargs)
