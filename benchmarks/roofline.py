"""The machine's limit and how close each encoder path gets to it (``make bench``'s roofline section).

* ``gemm_gflops(dtype)``: achieved GFLOP/s of an N^3 matrix product (2 N^3 flops), the best of a few runs;
  float32 and bfloat16, on the CPU or a CUDA device;
* ``encoder_flops(loaded)``: the image encoder's floating-point operations for one 1024 x 1024 input,
  counted by ``torch.utils.flop_counter.FlopCounterMode`` (matmuls and convolutions, 2 per multiply-add);
* ``cuda_encoder_seconds(dtype)``: the encoder's median seconds on a CUDA device, for the GPU figures;
* ``int8_candidate(...)``: the ONNX encoder quantized to int8 by ONNX Runtime (dynamic: weights int8,
  activations quantized per call), written next to the fp32 ONNX file, for ``make bench`` to time and check.

An encoder path's achieved GFLOP/s is ``encoder_flops / seconds``; as a fraction of the GEMM figure of its
precision it says how far the path is from what this machine's matrix units can do.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from persam.atomic import atomic_path
from persam.models.registry import IMAGE_SIZE, LoadedSam


def gemm_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 5, device: str = "cpu") -> float:
    """Best achieved GFLOP/s of an ``n`` x ``n`` by ``n`` x ``n`` product in ``dtype`` on ``device``."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    torch.mm(a, b)  # warm-up: kernel selection, packing buffers
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        sync()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def encoder_flops(loaded: LoadedSam) -> int:
    """Floating-point operations of ``loaded``'s image encoder on one 1 x 3 x 1024 x 1024 input."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE, device=loaded.device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        loaded.sam.image_encoder(x)
    return int(counter.get_total_flops())


def cuda_encoder_seconds(dtype: torch.dtype, repeats: int = 10) -> float:
    """Median seconds of MobileSAM's encoder in eager PyTorch with ``dtype`` weights on the CUDA device."""
    from persam.models import build_sam

    encoder = build_sam("vit_t", device="cuda").sam.image_encoder.to(dtype)
    x = torch.randn(1, 3, IMAGE_SIZE, IMAGE_SIZE, device="cuda", dtype=dtype)
    times = []
    with torch.no_grad():
        for _ in range(repeats + 2):  # two warm-up calls: cuDNN algorithm selection
            torch.cuda.synchronize()
            start = time.perf_counter()
            encoder(x)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    return sorted(times[2:])[repeats // 2]


def int8_candidate(fp32_onnx: Path, threads: int):
    """(callable x -> features, id) of the ONNX encoder dynamically quantized to int8 by ONNX Runtime."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = fp32_onnx.with_name(fp32_onnx.stem + "-int8-dynamic.onnx")
    if not path.is_file():
        with atomic_path(path, keep_suffix=True) as tmp:
            quantize_dynamic(str(fp32_onnx), str(tmp), weight_type=QuantType.QInt8)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def encode(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {"image": x.detach().cpu().float().numpy()})[0])

    return encode, f"onnxruntime{ort.__version__}-int8-dynamic"
