"""``make bench``'s candidates (section 1): every encoder path on one real image, what the decoder could gain
(SAM's mask decoder in ONNX Runtime; its two-way transformer compiled in fp32 and bf16), and the roofline (the
machine's GEMM throughput against the encoder's FLOPs)."""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path

import torch
from common import perseg_root
from roofline import cuda_encoder_seconds, encoder_flops, gemm_gflops, int8_candidate
from session import Bench, cosine

from persam.data.io import read_image
from persam.data.perseg import load_perseg
from persam.models.encoders import Bf16Encoder, OnnxEncoder


class ChannelsLast:
    """The fp32 encoder on a channels-last input, on a channels-last copy of the encoder's weights."""

    def __init__(self, loaded) -> None:
        self.module = copy.deepcopy(loaded.sam.image_encoder).to(memory_format=torch.channels_last)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.contiguous(memory_format=torch.channels_last))


def encoders(bench: Bench) -> None:
    """Every encoder path timed on one real image, with its cosine similarity to fp32: auto's choice made visible."""
    print("encoder candidates: ONNX fp32, AOTInductor bf16, ONNX Runtime int8, channels-last fp32", flush=True)
    image = read_image(load_perseg(perseg_root())[0].ref_image)
    bench.first_calls = {}
    paths = {"channels_last": ChannelsLast(bench.loaded)}
    onnx = OnnxEncoder(bench.loaded)
    paths["onnx"] = onnx
    bf16 = Bf16Encoder(bench.loaded)
    if bench.facts["amx_or_avx512_bf16"] or torch.cuda.is_available():
        if not isinstance(bench.fast.encoder.encoder, Bf16Encoder):
            bench.bf16_setup(bf16)
        paths["bf16"] = bf16
    else:
        bench.notes.append("bf16 candidate skipped: this CPU has no native bfloat16 (emulated: ~100x slower).")
    onnx.session()  # exports the fp32 graph the int8 model is quantized from
    paths["int8"], bench.int8_id = int8_candidate(onnx.path, torch.get_num_threads())
    with torch.no_grad():
        x, _ = bench.fp32.encoder_input(image)
        reference = bench.fp32.encoder.encoder(x)
        for name, encoder in paths.items():
            start = time.perf_counter()
            features = encoder(x)  # the first call also builds the kernels
            first = time.perf_counter() - start
            times = [first]
            if first < 20:  # a path that takes this long once is out of the running: do not repeat it
                for _ in range(4):
                    start = time.perf_counter()
                    features = encoder(x)
                    times.append(time.perf_counter() - start)
            bench.timer.samples[f"encode_{name}"] = times[1:] or times
            bench.first_calls[name] = first
            bench.record("candidate", f"encode_{name}_cosine", cosine(reference, features), "cosine", 1,
                         f"{name} vs fp32 embedding, one real image")


def decoder(bench: Bench, tmp: Path) -> None:
    """SAM's mask decoder (unguided) in ONNX Runtime against PyTorch eager, then its two-way transformer's
    candidates."""
    import onnxruntime as ort

    print("decoder candidate: ONNX Runtime", flush=True)
    sam = bench.loaded.sam

    class Decoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.decoder = sam.mask_decoder

        def forward(self, embedding, pe, sparse, dense):
            return self.decoder(image_embeddings=embedding, image_pe=pe, sparse_prompt_embeddings=sparse,
                                dense_prompt_embeddings=dense, multimask_output=True)

    image = read_image(load_perseg(perseg_root())[0].ref_image)
    embedding = bench.fp32.embed(image).features
    points = (torch.tensor([[[200.0, 300.0], [400.0, 500.0]]]), torch.tensor([[1, 0]]))
    with torch.no_grad():
        sparse, dense = sam.prompt_encoder(points=points, boxes=None, masks=None)
        inputs = (embedding, sam.prompt_encoder.get_dense_pe(), sparse, dense)
        path = tmp / "decoder.onnx"
        torch.onnx.export(Decoder(), inputs, str(path), dynamo=False, opset_version=17,
                          input_names=["embedding", "pe", "sparse", "dense"], output_names=["masks", "iou"])
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = torch.get_num_threads(), 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feeds = dict(zip(["embedding", "pe", "sparse", "dense"], (t.numpy() for t in inputs), strict=True))
        expected = Decoder()(*inputs)[0]
        calls = {"decoder_torch": lambda: Decoder()(*inputs), "decoder_onnx": lambda: session.run(None, feeds)}
        for name, call in calls.items():
            call()
            for _ in range(10):
                with bench.timer(name):
                    call()
        got = torch.from_numpy(session.run(None, feeds)[0])
    bench.record("candidate", "decoder_onnx_max_logit_diff", float((got - expected).abs().max()), "logit", 1,
                 "ONNX Runtime vs PyTorch mask decoder, unguided, one real embedding")
    transformer(bench, embedding, sam.prompt_encoder.get_dense_pe(), sparse)


def transformer(bench: Bench, embedding: torch.Tensor, pe: torch.Tensor, sparse: torch.Tensor,
                           batch: int = 4) -> None:
    """The decoder's two-way transformer (its bulk: every image token, per prompt set) for a batch of
    ``batch`` prompt sets, as a video frame with that many objects: eager fp32 (what runs), and compiled
    (torch.compile) fp32 and bf16 copies, candidates for the extra video object's cost."""
    print("decoder candidates: the two-way transformer eager, compiled fp32, compiled bf16", flush=True)
    transformer = bench.loaded.sam.mask_decoder.transformer
    tokens = torch.cat([bench.loaded.sam.mask_decoder.iou_token.weight,
                        bench.loaded.sam.mask_decoder.mask_tokens.weight])[None].expand(batch, -1, -1)
    args = (embedding.expand(batch, -1, -1, -1), pe.expand(batch, -1, -1, -1),
            torch.cat([tokens, sparse.expand(batch, -1, -1)], dim=1))
    bf16 = copy.deepcopy(transformer).to(torch.bfloat16)
    paths = {"eager_fp32": (transformer, args), "compiled_fp32": (torch.compile(transformer), args),
             "compiled_bf16": (torch.compile(bf16), tuple(a.to(torch.bfloat16) for a in args))}
    with torch.no_grad():
        expected = transformer(*args)[0]
        for name, (module, inputs) in paths.items():
            start = time.perf_counter()
            got = module(*inputs)[0].float()
            first = time.perf_counter() - start
            seconds = []
            for _ in range(3 if bench.quick else 5):
                start = time.perf_counter()
                module(*inputs)
                seconds.append(time.perf_counter() - start)
            cos = float(torch.nn.functional.cosine_similarity(got.flatten(), expected.flatten(), dim=0))
            bench.record("stage", f"decoder_transformer_{name}_s_per_set", statistics.median(seconds) / batch,
                         "s", len(seconds), f"two-way transformer, {batch} prompt sets per call, per set; first "
                         f"call {first:.1f} s{' (compiling)' if 'compiled' in name else ''}; token cosine to "
                         f"eager fp32 {cos:.6f}")


def roofline(bench: Bench) -> None:
    """GEMM throughput (fp32, bf16) and the encoder's FLOPs; on a GPU, its GEMMs and encoder too."""
    print("roofline: 2048^3 GEMM in fp32 and bf16, encoder FLOPs", flush=True)
    bench.record("roofline", "encoder_gflop", encoder_flops(bench.loaded) / 1e9, "GFLOP", 1,
                 "MobileSAM image encoder, one 1024x1024 input (torch.utils.flop_counter, 2 per MAC)")
    for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        bench.record("roofline", f"gemm_{name}_gflops", gemm_gflops(dtype), "GFLOP/s", 5,
                     f"2048^3 torch.mm in {name} on the CPU, best of 5")
    if torch.cuda.is_available():
        gpu = torch.cuda.get_device_name()
        flops = bench.value("encoder_gflop")
        for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
            peak = gemm_gflops(dtype, 8192, device="cuda")
            seconds = cuda_encoder_seconds(dtype)
            bench.record("gpu", f"gpu_gemm_{name}_gflops", peak, "GFLOP/s", 5, f"8192^3 torch.mm in {name} on {gpu}")
            bench.record("gpu", f"gpu_encode_{name}_s", seconds, "s", 10, f"encoder, eager {name} weights, {gpu}")
            bench.record("gpu", f"gpu_encode_{name}_roofline_fraction", flops / seconds / peak, "x", 1,
                         f"achieved GFLOP/s of the {name} GEMM's")
