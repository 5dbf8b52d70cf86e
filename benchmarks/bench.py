"""``make bench``: what PerSAM costs on this machine, written to ``results/bench/`` (README.md + bench.csv).

    python benchmarks/bench.py [--out results/bench] [--quick]

Everything runs on real MobileSAM (vit_t) weights and real images: the PerSeg objects (../shared/data/perseg
where present, else the bundled sample: the same 3 objects) and DAVIS 2017 frames (../shared/data/davis2017,
skipped where absent). Timings are medians of repeated runs, taken in one process and interleaved where they
are compared, and every target is reported as a ratio within this one run (the CPU may be shared: the load
average at the start and the end is recorded). Sections:

1. encoders and quality: every image goes through the fp32 path (upstream's eager encoder and decoder) and
   the fast path (``encoder=auto``, ``decoder=auto`` as a job of 100 images or more runs it), and, where the
   CPU has native bf16 and auto does not take it, the bf16 encoder candidate; the cosine similarity of their
   embeddings, and PerSAM / PerSAM-F mIoU with each, on PerSeg, on DAVIS (13 sequences, frame 0 as the
   reference, the middle frame as the target), on a real davis_perseg run and as video J&F;
2. stages on PerSeg targets (fast-path embeddings): location prior, decoding + refinement, PerSAM-F's fit,
   and end to end per target image (read, encode uncached, predict; the reference's embedding cached);
3. video: seconds per frame with 1, 2 and 4 objects (``persam.methods.video``; DAVIS has one object per
   sequence here, so the K objects are K vertical strips of the object's frame-0 mask: a decoding costs the
   same whatever the object is);
4. a 6-variant sweep (Table 3's ladder: ``python -m persam.run -m``) against one variant's run, each a fresh
   process with an empty embedding cache;
5. peak memory of a 1,000-image run against a 10-image run, in a reduced-cost mode (``memory_run.py``: SAM's
   encoder and mask decoder stubbed; the rest is the real pipeline and cache);
6. the allocator: the fp32 and fast encoders in fresh processes with the C library's default ``malloc``
   settings and with persam's (``persam/allocator.py``, which this bench, like persam's entry points, applies).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import (  # noqa: E402
    REPO,
    Timer,
    cpu_facts,
    davis_root,
    git_commit,
    load_average,
    median,
    perseg_root,
    run_child,
    run_module_measured,
    shared_cpu,
    synthesize_perseg,
    versions,
)
from roofline import cuda_encoder_seconds, encoder_flops, gemm_gflops, int8_candidate  # noqa: E402
from speed_checks import run_breakdown, video_jf  # noqa: E402

from persam.allocator import keep_large_buffers  # noqa: E402
from persam.config import config_file  # noqa: E402
from persam.data.io import read_image, read_mask  # noqa: E402
from persam.data.perseg import load_perseg  # noqa: E402
from persam.methods import PerSAM, PerSAMConfig  # noqa: E402
from persam.methods.builder import build_method, composed_method  # noqa: E402
from persam.methods.protocol import Shot  # noqa: E402
from persam.metrics import ObjectScore, mean_scores  # noqa: E402
from persam.models import GuidedPredictor, build_sam  # noqa: E402
from persam.models.decoders import AUTO_COMPILE_MIN_IMAGES  # noqa: E402
from persam.models.encoders import Bf16Encoder, OnnxEncoder, cxx_compiler_available, resolve_encoder  # noqa: E402

PERSAM_F = dict(negative_prior=False, guided_attention=False, semantic_prompting=False,
                embedding_pooling="mean_max", scale_fusion=True)
SUCCESSORS = ("p2sam", "persam_plus")
SWEEP = ["ablation_pos", "ablation_neg", "ablation_refine", "ablation_attn", "persam", "persam_f"]
TARGETS = {  # name: (limit, how the measured value compares); issue #5, tightened by issue #15
    "fast_encoder_ratio": (0.35, "<="),
    "run_ratio_to_fp32_encoder": (0.6, "<="),
    "run_ratio_to_stages": (1.15, "<="),
    "persam_e2e_ratio": (0.6, "<="),
    "persam_post_encoder_ratio": (0.1, "<="),
    "p2sam_to_persam_ratio": (2.0, "<="),  # issue #11: P2SAM's cost after the encoder within 2x PerSAM's
    "persam_f_fit_s": (0.3, "<="),
    "video_extra_object_ratio": (0.08, "<="),
    "sweep_ratio": (1.3, "<="),
    "memory_ratio": (1.1, "<="),
    "min_cosine": (0.999, ">="),
    "max_miou_change": (0.3, "<="),
}
# The targets that are ratios to the fp32 encoder (timed in this process, under persam's allocator setting).
FP32_RATIOS = ("fast_encoder_ratio", "run_ratio_to_fp32_encoder", "persam_e2e_ratio", "persam_post_encoder_ratio",
               "video_extra_object_ratio")
QUALITY_NAMES = {"fp32": "fp32", "fast": "fast", "bf16": "bf16_candidate"}  # predictor -> quality row suffix
# The accuracy checks, each a quality row "<data>_<method>_<kind>_<suffix>": (data, method, label, kind).
QUALITY_CHECKS = [(d, m, label, "miou") for d in ("perseg", "davis", "davis_perseg")
                  for m, label in (("persam", "PerSAM"), ("persam_f", "PerSAM-F"))]
QUALITY_CHECKS.append(("video", "persam", "PerSAM (J&F)", "jf"))
VIDEO_CHECK = (["blackswan", "dog"], 12)  # the short video bench of the accuracy check: sequences, frames each


class Timed:
    """An encoder backend whose calls are timed under ``name``."""

    def __init__(self, encoder, timer: Timer, name: str) -> None:
        self.encoder, self.timer, self.name, self.id = encoder, timer, name, encoder.id

    def __call__(self, x):
        with self.timer(self.name):
            return self.encoder(x)


class ChannelsLast:
    """The fp32 encoder on a channels-last input, on a channels-last copy of the encoder's weights."""

    def __init__(self, loaded) -> None:
        import copy

        self.module = copy.deepcopy(loaded.sam.image_encoder).to(memory_format=torch.channels_last)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.contiguous(memory_format=torch.channels_last))


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return F.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0).item()


class Bench:
    def __init__(self, out: Path, quick: bool, malloc: bool) -> None:
        self.out, self.quick, self.malloc = out, quick, malloc
        self.rows: list[dict] = []
        self.timer = Timer()
        self.notes: list[str] = []

    def record(self, section: str, name: str, value: float, unit: str, n: int = 1, note: str = "") -> None:
        self.rows.append({"section": section, "name": name, "value": value, "unit": unit, "n": n, "note": note})
        print(f"  {section:10s} {name:38s} {value:10.4f} {unit} (n={n}) {note}", flush=True)

    def value(self, name: str) -> float:
        return next(r["value"] for r in self.rows if r["name"] == name)

    # ------------------------------------------------------------------------------------------------------
    def setup(self) -> None:
        self.started = time.perf_counter()
        self.git = git_commit()  # before this run writes results/bench/, which is tracked
        self.load_start = load_average()
        self.facts = cpu_facts()
        self.loaded = build_sam("vit_t", device="cpu")
        self.fp32 = GuidedPredictor(self.loaded, None, encoder="fp32", decoder="eager")
        self.fast = GuidedPredictor(self.loaded, None, encoder="auto", decoder="auto")
        # The stage times are a large job's: there decoder=auto compiles the decoder (persam/models/decoders.py).
        self.fast.expect_images(AUTO_COMPILE_MIN_IMAGES)
        self.fast_id, self.fast_decoder_id = self.fast.encoder_id, self.fast.decoder_id
        if isinstance(self.fast.encoder, OnnxEncoder):
            exported = not self.fast.encoder.path.is_file()
            start = time.perf_counter()
            self.fast.encoder.session()
            self.record("setup", "onnx_export_and_session_s", time.perf_counter() - start, "s", 1,
                        "one-off per machine: ONNX export + check" if exported else "session only (export cached)")
        if isinstance(self.fast.encoder, Bf16Encoder):
            self.bf16_setup(self.fast.encoder)
        self.fp32.encoder = Timed(self.fp32.encoder, self.timer, "encode_fp32")
        self.fast.encoder = Timed(self.fast.encoder, self.timer, "encode_fast")
        # The bf16 encoder's accuracy checks, every one of them, where the CPU has native bf16 but auto did not
        # take it: why auto takes bf16 or not is then in the results, not only in a docstring.
        self.bf16 = None
        if (not self.quick and self.facts["amx_or_avx512_bf16"] and "bf16" not in self.fast_id
                and cxx_compiler_available()):
            self.bf16 = GuidedPredictor(self.loaded, None, encoder="bf16", decoder="auto")
            self.bf16.expect_images(AUTO_COMPILE_MIN_IMAGES)
        self.checked = {"fp32": self.fp32, "fast": self.fast, **({"bf16": self.bf16} if self.bf16 else {})}
        self.persam = {e: PerSAM(p, PerSAMConfig()) for e, p in self.checked.items()}
        self.persam_f = {e: PerSAM(p, PerSAMConfig(**PERSAM_F)) for e, p in self.checked.items()}
        self.cosines: dict[str, list[float]] = {"perseg": [], "davis": [], "bf16": []}
        # PerSAM's successors, as their configs build them (issue #11): their cost after the encoder.
        self.successors = {name: build_method(self.fast, composed_method(name)) for name in SUCCESSORS}
        self.warm_decoder()

    def warm_decoder(self) -> None:
        """Compile the fast path's decoder for the calls the timed sections make (PerSAM, PerSAM-F, a plain
        pass), so no timing below includes compiling; the time this takes is recorded."""
        if self.fast_decoder_id == "torch-eager":
            return
        obj = load_perseg(perseg_root())[0]
        image = read_image(obj.ref_image)
        emb, mask = self.fast.embed(image), read_mask(obj.ref_mask, image.shape[:2])
        start = time.perf_counter()
        prediction = self.persam["fast"].predict(emb, self.persam["fast"].fit(Shot(emb, mask)))
        self.persam_f["fast"].predict(emb, self.persam_f["fast"].fit(Shot(emb, mask)))
        self.fast.decode(prediction.point_coords, prediction.point_labels, multimask=False)
        self.record("setup", "decoder_compile_s", time.perf_counter() - start, "s", 1,
                    f"first PerSAM, PerSAM-F and plain decoding with decoder=auto ({self.fast_decoder_id}) in a "
                    "new process: compiling each call signature (from Inductor's on-disk cache where it is warm)")

    # -- what the decoder could gain: SAM's mask decoder (unguided) in ONNX Runtime against PyTorch eager ------
    def decoder_candidate(self, tmp: Path) -> None:
        import onnxruntime as ort

        print("decoder candidate: ONNX Runtime", flush=True)
        sam = self.loaded.sam

        class Decoder(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.decoder = sam.mask_decoder

            def forward(self, embedding, pe, sparse, dense):
                return self.decoder(image_embeddings=embedding, image_pe=pe, sparse_prompt_embeddings=sparse,
                                    dense_prompt_embeddings=dense, multimask_output=True)

        image = read_image(load_perseg(perseg_root())[0].ref_image)
        embedding = self.fp32.embed(image).features
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
                    with self.timer(name):
                        call()
            got = torch.from_numpy(session.run(None, feeds)[0])
        self.record("candidate", "decoder_onnx_max_logit_diff", float((got - expected).abs().max()), "logit", 1,
                    "ONNX Runtime vs PyTorch mask decoder, unguided, one real embedding")
        self.transformer_candidates(embedding, sam.prompt_encoder.get_dense_pe(), sparse)

    def transformer_candidates(self, embedding: torch.Tensor, pe: torch.Tensor, sparse: torch.Tensor,
                               batch: int = 4) -> None:
        """The decoder's two-way transformer (its bulk: every image token, per prompt set) for a batch of
        ``batch`` prompt sets, as a video frame with that many objects: eager fp32 (what runs), and compiled
        (torch.compile) fp32 and bf16 copies, candidates for the extra video object's cost."""
        import copy

        print("decoder candidates: the two-way transformer eager, compiled fp32, compiled bf16", flush=True)
        transformer = self.loaded.sam.mask_decoder.transformer
        tokens = torch.cat([self.loaded.sam.mask_decoder.iou_token.weight,
                            self.loaded.sam.mask_decoder.mask_tokens.weight])[None].expand(batch, -1, -1)
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
                for _ in range(3 if self.quick else 5):
                    start = time.perf_counter()
                    module(*inputs)
                    seconds.append(time.perf_counter() - start)
                cos = float(torch.nn.functional.cosine_similarity(got.flatten(), expected.flatten(), dim=0))
                self.record("stage", f"decoder_transformer_{name}_s_per_set", statistics.median(seconds) / batch,
                            "s", len(seconds), f"two-way transformer, {batch} prompt sets per call, per set; first "
                            f"call {first:.1f} s{' (compiling)' if 'compiled' in name else ''}; token cosine to "
                            f"eager fp32 {cos:.6f}")

    # -- 1 + 2: PerSeg: encoders, quality, stages, end to end ---------------------------------------------
    def perseg(self) -> None:
        print("PerSeg: encoders, quality, stages", flush=True)
        objects = load_perseg(perseg_root())
        scores = {(m, e): {} for m in ("persam", "persam_f") for e in self.checked}
        repeats = 2 if self.quick else 3
        for obj in objects:
            ref_image = read_image(obj.ref_image)
            ref_mask = read_mask(obj.ref_mask, ref_image.shape[:2])
            ref_emb = {e: p.embed(ref_image) for e, p in self.checked.items()}
            self.cosines["perseg"].append(cosine(ref_emb["fp32"].features, ref_emb["fast"].features))
            if self.bf16:
                self.cosines["bf16"].append(cosine(ref_emb["fp32"].features, ref_emb["bf16"].features))
            refs = {}
            for e in self.checked:
                refs[("persam", e)] = self.persam[e].fit(Shot(ref_emb[e], ref_mask))
                refs[("persam_f", e)] = self.persam_f[e].fit(Shot(ref_emb[e], ref_mask))
                for _ in range(repeats - 1 if e == "fast" else 0):  # more samples of the fit
                    self.timer.samples.setdefault("persam_f_fit", []).append(
                        self.persam_f[e].fit(Shot(ref_emb[e], ref_mask)).fit_seconds)
                if e == "fast":
                    self.timer.samples.setdefault("persam_f_fit", []).append(refs[("persam_f", e)].fit_seconds)
            successor_refs = {n: m.fit([Shot(ref_emb["fast"], ref_mask)]) for n, m in self.successors.items()}
            for key in scores:
                scores[key][obj.name] = ObjectScore()
            for _stem, image_path, gt_path in obj.targets:
                # fast path end to end: read, encode (uncached), predict
                with self.timer("e2e_persam"):
                    with self.timer("read_and_embed_fast"):
                        image = read_image(image_path)
                        emb = self.fast.embed(image)
                    prediction = self.persam["fast"].predict(emb, refs[("persam", "fast")])
                with self.timer("persam_f_predict_first"):
                    prediction_f = self.persam_f["fast"].predict(emb, refs[("persam_f", "fast")])
                gt = read_mask(gt_path, image.shape[:2])
                scores[("persam", "fast")][obj.name].add(prediction.mask, gt)
                scores[("persam_f", "fast")][obj.name].add(prediction_f.mask, gt)
                for _ in range(repeats):  # stage medians, on the same embedding
                    method, ref = self.persam["fast"], refs[("persam", "fast")]
                    with self.timer("persam_prior"):
                        method._prompts(emb, ref.protos)
                    with self.timer("persam_predict"):
                        method.predict(emb, ref)
                    with self.timer("persam_f_predict"):
                        self.persam_f["fast"].predict(emb, refs[("persam_f", "fast")])
                    for name, successor in self.successors.items():
                        with self.timer(f"{name}_predict"):
                            successor.predict(emb, successor_refs[name])
                    with self.timer("decoder_pass"):  # one plain pass of SAM's mask decoder: PerSAM makes three
                        _ = self.fast.decode(prediction.point_coords, prediction.point_labels, multimask=False).logits
                emb32 = self.fp32.embed(image)
                self.cosines["perseg"].append(cosine(emb32.features, emb.features))
                scores[("persam", "fp32")][obj.name].add(
                    self.persam["fp32"].predict(emb32, refs[("persam", "fp32")]).mask, gt)
                scores[("persam_f", "fp32")][obj.name].add(
                    self.persam_f["fp32"].predict(emb32, refs[("persam_f", "fp32")]).mask, gt)
                if self.bf16:
                    emb16 = self.bf16.embed(image)
                    self.cosines["bf16"].append(cosine(emb32.features, emb16.features))
                    for m, methods in (("persam", self.persam), ("persam_f", self.persam_f)):
                        scores[(m, "bf16")][obj.name].add(methods["bf16"].predict(emb16, refs[(m, "bf16")]).mask, gt)
        for (m, e), per_object in scores.items():
            self.record("quality", f"perseg_{m}_miou_{QUALITY_NAMES[e]}", 100 * mean_scores(per_object)[0], "mIoU %",
                        len(per_object), f"{len(objects)} objects of {perseg_root().relative_to(REPO.parent)}")

    # -- 1: every encoder path, timed on one real image, so auto's choice is visible ----------------------------
    def bf16_setup(self, encoder: Bf16Encoder) -> None:
        """The bf16 package's one-off build (from its sidecar record when cached) and this process's load."""
        built_now = not encoder.path.is_file()
        start = time.perf_counter()
        encoder.package()
        seconds = time.perf_counter() - start
        info = encoder.path.with_suffix(".json")
        build = json.loads(info.read_text())["build_seconds"] if info.is_file() else float("nan")
        self.record("setup", "bf16_first_build_s", build, "s", 1,
                    "one-off per machine: torch.export + AOTInductor compile (freezing) + check"
                    + (" (built in this run)" if built_now else " (recorded when the package was built)"))
        if not built_now:
            self.record("setup", "bf16_cached_load_s", seconds, "s", 1, "a new process loading the cached package")

    def candidates(self) -> None:
        print("encoder candidates: ONNX fp32, AOTInductor bf16, ONNX Runtime int8, channels-last fp32", flush=True)
        image = read_image(load_perseg(perseg_root())[0].ref_image)
        self.first_calls: dict[str, float] = {}
        paths = {"channels_last": ChannelsLast(self.loaded)}
        onnx = OnnxEncoder(self.loaded)
        paths["onnx"] = onnx
        bf16 = Bf16Encoder(self.loaded)
        if self.facts["amx_or_avx512_bf16"] or torch.cuda.is_available():
            if not isinstance(self.fast.encoder.encoder, Bf16Encoder):
                self.bf16_setup(bf16)
            paths["bf16"] = bf16
        else:
            self.notes.append("bf16 candidate skipped: this CPU has no native bfloat16 (emulated: ~100x slower).")
        onnx.session()  # exports the fp32 graph the int8 model is quantized from
        paths["int8"], self.int8_id = int8_candidate(onnx.path, torch.get_num_threads())
        with torch.no_grad():
            x, _ = self.fp32.encoder_input(image)
            reference = self.fp32.encoder.encoder(x)
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
                self.timer.samples[f"encode_{name}"] = times[1:] or times
                self.first_calls[name] = first
                self.record("candidate", f"encode_{name}_cosine", cosine(reference, features), "cosine", 1,
                            f"{name} vs fp32 embedding, one real image")

    # -- the roofline: GEMM throughput and the encoder's FLOPs --------------------------------------------------
    def roofline(self) -> None:
        print("roofline: 2048^3 GEMM in fp32 and bf16, encoder FLOPs", flush=True)
        self.record("roofline", "encoder_gflop", encoder_flops(self.loaded) / 1e9, "GFLOP", 1,
                    "MobileSAM image encoder, one 1024x1024 input (torch.utils.flop_counter, 2 per MAC)")
        for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
            self.record("roofline", f"gemm_{name}_gflops", gemm_gflops(dtype), "GFLOP/s", 5,
                        f"2048^3 torch.mm in {name} on the CPU, best of 5")
        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name()
            flops = self.value("encoder_gflop")
            for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
                peak = gemm_gflops(dtype, 8192, device="cuda")
                seconds = cuda_encoder_seconds(dtype)
                self.record("gpu", f"gpu_gemm_{name}_gflops", peak, "GFLOP/s", 5, f"8192^3 torch.mm in {name} on {gpu}")
                self.record("gpu", f"gpu_encode_{name}_s", seconds, "s", 10, f"encoder, eager {name} weights, {gpu}")
                self.record("gpu", f"gpu_encode_{name}_roofline_fraction", flops / seconds / peak, "x", 1,
                            f"achieved GFLOP/s of the {name} GEMM's")

    # -- a real run: its stages and its time against its parts --------------------------------------------------
    def run_stages(self, tmp: Path, data: Path) -> None:
        # --quick: 3 objects and no fp32 run (no davis_perseg mIoU comparison)
        encoders, extra = (("auto",), ["dataset.objects=[blackswan,camel,dog]"]) if self.quick else (("auto", "fp32"), [])
        if self.bf16:
            encoders += ("bf16",)  # the bf16 candidate's accuracy check on the same run (why auto takes it or not)
        print(f"real runs on {data}: encoder={' and '.join(encoders)}, empty caches", flush=True)
        # The fp32 run is the reference: upstream's eager encoder and decoder. The others take decoder=auto.
        self.runs = {e: run_breakdown(data, tmp, e, "eager" if e == "fp32" else "auto", extra) for e in encoders}
        run = self.runs["auto"]
        n = run["targets"]
        for stage, v in run["stages"].items():
            self.record("run_stage", f"run_{stage}_s_per_image", v["seconds"] / n, "s", v["calls"],
                        f"stage total / {n} target images (references included), encoder=auto")
        parts = sum(run["stages"][k]["seconds"] for k in ("encoder", "method") if k in run["stages"]) / n
        self.record("e2e", "run_s_per_image", run["sec_per_image"], "s", n,
                    f"python -m persam.run method=persam on {data.name}, empty cache, encoder=auto")
        self.record("e2e", "run_encoder_plus_method_s_per_image", parts, "s", n, "encoder + method stages / targets")
        self.record("ratio", "run_ratio_to_stages", run["sec_per_image"] / parts, "x", 1,
                    "run seconds per image / (encoder + method seconds per image)")
        self.record("e2e", "run_process_overhead_s", run["wall_s"] - run["task_s"], "s", 1,
                    "process start, imports, model and encoder loading, logging: the run's wall time outside the task")
        for e, r in self.runs.items():
            name = QUALITY_NAMES[{"auto": "fast"}.get(e, e)]
            self.record("quality", f"davis_perseg_persam_miou_{name}", r["miou"], "mIoU %",
                        n // 5, f"{data.name} ({n // 5} objects, 5 targets each), real run, {r['encoder_id']}, "
                        f"decoder {r['decoder_id']}")

    def video_quality(self) -> None:
        root = davis_root()
        if root is None:
            return
        from persam.methods.video import VideoConfig

        sequences, n_frames = VIDEO_CHECK
        n_frames = 6 if self.quick else n_frames
        print(f"video accuracy check: {', '.join(sequences)}, {n_frames} frames", flush=True)
        for e, predictor in self.checked.items():
            method = PerSAM(predictor, PerSAMConfig(**video_overrides()))
            self.record("quality", f"video_persam_jf_{QUALITY_NAMES[e]}",
                        video_jf(method, predictor, root, sequences, n_frames, VideoConfig()), "J&F %",
                        len(sequences), f"DAVIS {', '.join(sequences)}, frames 0-{n_frames - 1}, PerSAM tracker")

    # -- 1: DAVIS frames: quality of the fast path ------------------------------------------------------------
    def davis(self) -> None:
        root = davis_root()
        if root is None:
            self.notes.append("DAVIS quality and video sections skipped: ../shared/data/davis2017 not found.")
            return
        print("DAVIS: encoders, quality", flush=True)
        sequences = sorted(p.name for p in (root / "JPEGImages" / "480p").iterdir() if p.is_dir())
        if self.quick:
            sequences = sequences[:3]
        scores = {(m, e): {} for m in ("persam", "persam_f") for e in self.checked}
        for seq in sequences:
            frames = sorted((root / "JPEGImages" / "480p" / seq).glob("*.jpg"))
            pairs = []
            for frame in (frames[0], frames[len(frames) // 2]):
                image = read_image(frame)
                pairs.append((image, read_mask(root / "Annotations" / "480p" / seq / f"{frame.stem}.png", image.shape[:2])))
            (ref_image, ref_mask), (image, gt) = pairs
            for e, predictor in self.checked.items():
                ref_emb, emb = predictor.embed(ref_image), predictor.embed(image)
                for m, methods in (("persam", self.persam), ("persam_f", self.persam_f)):
                    score = scores[(m, e)][seq] = ObjectScore()
                    score.add(methods[e].predict(emb, methods[e].fit(Shot(ref_emb, ref_mask))).mask, gt)
                if e == "fp32":
                    fp32_feats = (ref_emb.features, emb.features)
                else:
                    self.cosines["davis" if e == "fast" else "bf16"] += [
                        cosine(fp32_feats[0], ref_emb.features), cosine(fp32_feats[1], emb.features)]
        for (m, e), per_object in scores.items():
            self.record("quality", f"davis_{m}_miou_{QUALITY_NAMES[e]}", 100 * mean_scores(per_object)[0], "mIoU %",
                        len(per_object), f"{len(sequences)} DAVIS-2017 val sequences: frame 0 -> middle frame")

    # -- 3: video ------------------------------------------------------------------------------------------
    def video(self) -> None:
        root = davis_root()
        if root is None:
            return
        try:
            from persam.methods.video import start, step
        except ImportError:
            self.notes.append("video section skipped: persam.methods.video is not available.")
            return
        print("video: 1, 2 and 4 objects per frame", flush=True)
        seq = "dog" if (root / "JPEGImages" / "480p" / "dog").is_dir() else sorted(
            p.name for p in (root / "JPEGImages" / "480p").iterdir())[0]
        frames = sorted((root / "JPEGImages" / "480p" / seq).glob("*.jpg"))
        first = read_image(frames[0])
        mask = read_mask(root / "Annotations" / "480p" / seq / f"{frames[0].stem}.png", first.shape[:2])
        config = PerSAMConfig(**video_overrides())
        method = PerSAM(self.fast, config)
        emb0 = self.fast.embed(first)
        states = {k: start(method, emb0, strips(mask, k)) for k in (1, 2, 4)}
        for k in (1, 2, 4):  # untimed: a compiled decoder compiles for each new object count here
            step(method, emb0, states[k])
        n_frames = 3 if self.quick else 6
        for frame in frames[1 : 1 + n_frames]:
            with self.timer("video_read_and_embed"):
                emb = self.fast.embed(read_image(frame))
            for k in (1, 2, 4):
                with self.timer(f"video_step_{k}"):
                    _, states[k] = step(method, emb, states[k])
        self.video_note = (f"DAVIS '{seq}' frames 1-{n_frames} (854x480), PerSAM with the DAVIS config's video "
                           f"settings; objects = vertical strips of the frame-0 mask")

    # -- 4: sweep ------------------------------------------------------------------------------------------
    def sweep(self, tmp: Path) -> None:
        print("sweep: 6 variants against 1", flush=True)
        available = [m for m in SWEEP if config_file("method", f"{m}.yaml").is_file()]
        common = [f"dataset.root={perseg_root()}", "progress=false"]
        single, single_rss = run_module_measured(
            "persam.run", ["method=persam", *common, f"cache.dir={tmp / 'cache-single'}",
                           f"hydra.run.dir={tmp / 'single'}"], tmp / "rss-single")
        sweep, sweep_rss = run_module_measured(
            "persam.run", ["-m", f"method={','.join(available)}", *common, f"cache.dir={tmp / 'cache-sweep'}",
                           f"hydra.sweep.dir={tmp / 'sweep'}"], tmp / "rss-sweep")
        note = f"{len(available)} variants: {', '.join(available)}; fresh processes, empty caches, PerSeg"
        self.record("sweep", "single_variant_run_s", single, "s", 1, "python -m persam.run method=persam")
        self.record("sweep", "sweep_run_s", sweep, "s", 1, note)
        self.record("sweep", "sweep_ratio", sweep / single, "x", 1, note)
        self.record("memory", "single_variant_run_peak_rss_mib", single_rss, "MiB", 1, "real pipeline, PerSeg")
        self.record("memory", "sweep_run_peak_rss_mib", sweep_rss, "MiB", 1, "real pipeline, PerSeg")
        self.sweep_variants = available

    # -- 5: memory -----------------------------------------------------------------------------------------
    def memory(self, tmp: Path) -> None:
        print("memory: 10 and 1,000 images", flush=True)
        sizes = (10, 1000)
        results = {}
        for n in sizes:
            data = tmp / f"synthetic-{n}"
            synthesize_perseg(perseg_root(), data, n)
            _, output = run_child([sys.executable, str(REPO / "benchmarks" / "memory_run.py"), str(data),
                                   str(tmp / f"memory-run-{n}"), str(tmp / f"memory-cache-{n}")])
            report = json.loads(output.strip().splitlines()[-1])
            results[n] = report
            self.record("memory", f"reduced_cost_run_{n}_images_peak_rss_mib", report["peak_rss_mib"], "MiB", 1,
                        f"{report['target_images']} target images, {report['seconds']:.0f} s; stub encoder and "
                        "mask decoder, cache bounded at 0.25 GB")
        self.record("memory", "memory_ratio", results[1000]["peak_rss_mib"] / results[10]["peak_rss_mib"], "x", 1,
                    "peak RSS, 1,000-image run / 10-image run")

    # ------------------------------------------------------------------------------------------------------
    # -- 6: what persam's allocator setting does, each encoder in a fresh process with and without it ----------
    def allocator_effect(self) -> None:
        print("allocator: fp32 and fast encoders in fresh processes, C library default and persam's", flush=True)
        image = str(load_perseg(perseg_root())[0].ref_image)
        encoders = ["fp32", resolve_encoder("auto", self.loaded)]
        for setting in ("default", "persam"):
            env = {"PERSAM_MALLOC": "default"} if setting == "default" else {"PERSAM_MALLOC": ""}
            _, out = run_child([sys.executable, str(REPO / "benchmarks" / "allocator_effect.py"), image, *encoders], env)
            result = json.loads(out.strip().splitlines()[-1])
            what = ("the C library's default malloc settings (PERSAM_MALLOC=default)" if setting == "default" else
                    "persam's (large buffers kept in the heap)" if result["in_force"] else
                    "persam's, not available on this C library (so the default)")
            for name, seconds in result["seconds"].items():
                self.record("allocator", f"malloc_{setting}_encode_{name}_s", seconds, "s", 5,
                            f"{name} encoder in a fresh process, one real image, {what}")

    def summarise(self) -> None:
        t = self.timer
        e32, efast = t.median("encode_fp32"), t.median("encode_fast")
        n32, nfast = t.count("encode_fp32"), t.count("encode_fast")
        self.record("stage", "encode_fp32_s", e32, "s", n32, "image encoder, 1024x1024 input, torch eager fp32")
        self.record("stage", "encode_fast_s", efast, "s", nfast, f"image encoder, fast path ({self.fast_id})")
        candidates = {"onnx": "ONNX Runtime fp32",
                      "bf16": "AOTInductor bf16 autocast (bf16 matrix products and neck; fp32 backbone convolutions, "
                              "residuals, norms)",
                      "int8": "ONNX Runtime int8 dynamic quantization", "channels_last": "channels-last fp32"}
        for name, what in candidates.items():
            if t.count(f"encode_{name}"):
                self.record("stage", f"encode_{name}_s", t.median(f"encode_{name}"), "s", t.count(f"encode_{name}"),
                            f"image encoder, {what}; one real image, after a first call of "
                            f"{self.first_calls[name]:.2f} s" if t.count(f"encode_{name}") > 1 else
                            f"image encoder, {what}; a single call (over 20 s, not repeated)")
        if any(r["name"] == "encoder_gflop" for r in self.rows):
            flops = self.value("encoder_gflop")
            for name, peak in (("fp32", "fp32"), ("fast", "bf16" if "bf16" in self.fast_id else "fp32"), ("onnx", "fp32"),
                               ("bf16", "bf16"), ("int8", "bf16"), ("channels_last", "fp32")):
                if t.count(f"encode_{name}"):
                    achieved = flops / t.median(f"encode_{name}")
                    self.record("roofline", f"encode_{name}_gflops", achieved, "GFLOP/s", t.count(f"encode_{name}"),
                                "encoder GFLOP / median seconds")
                    self.record("roofline", f"encode_{name}_roofline_fraction", achieved / self.value(f"gemm_{peak}_gflops"),
                                "x", 1, f"of the {peak} 2048^3 GEMM throughput")
        self.record("stage", "persam_prior_s", t.median("persam_prior"), "s", t.count("persam_prior"),
                    "similarity, full-size map, points")
        predict = t.median("persam_predict")
        self.record("stage", "persam_post_encoder_s", predict, "s", t.count("persam_predict"),
                    "PerSAM predict: prior + guided decoding + 2 refinement steps + mask")
        self.record("stage", "decoder_pass_s", t.median("decoder_pass"), "s", t.count("decoder_pass"),
                    "one pass of SAM's mask decoder (prompt encoding, two-way transformer, upscaling, mask at full "
                    "size); PerSAM makes three per image")
        if t.count("decoder_onnx"):
            for name, what in (("decoder_torch", "PyTorch eager"), ("decoder_onnx", "ONNX Runtime (a candidate, not used)")):
                self.record("stage", f"{name}_s", t.median(name), "s", t.count(name),
                            f"SAM's mask decoder alone, unguided, 2 points, 4 masks at 256 x 256: {what}")
        self.record("stage", "persam_decode_and_refine_s", predict - t.median("persam_prior"), "s",
                    t.count("persam_predict"), "post-encoder minus prior (medians)")
        self.record("stage", "persam_f_post_encoder_s", t.median("persam_f_predict"), "s",
                    t.count("persam_f_predict"), "PerSAM-F predict")
        fits = t.samples["persam_f_fit"]
        self.record("stage", "persam_f_fit_s", median(fits), "s", len(fits), f"per object (max {max(fits):.3f} s)")
        self.record("e2e", "persam_e2e_s", t.median("e2e_persam"), "s", t.count("e2e_persam"),
                    "per target image: read + encode (fast, uncached) + PerSAM; reference cached")
        persam_f_e2e = t.median("read_and_embed_fast") + t.median("persam_f_predict_first")
        self.record("e2e", "persam_f_e2e_s", persam_f_e2e, "s", t.count("read_and_embed_fast"),
                    "per target image: read + encode (fast, uncached) + PerSAM-F (sum of medians)")
        self.record("ratio", "fast_encoder_ratio", efast / e32, "x", 1, "fast encoder / fp32 encoder")
        self.record("ratio", "persam_e2e_ratio", t.median("e2e_persam") / e32, "x", 1, "PerSAM end to end / fp32 encoder")
        self.record("ratio", "persam_f_e2e_ratio", persam_f_e2e / e32, "x", 1, "PerSAM-F end to end / fp32 encoder")
        self.record("ratio", "persam_post_encoder_ratio", predict / e32, "x", 1, "PerSAM after the encoder / fp32 encoder")
        self.record("ratio", "persam_f_post_encoder_ratio", t.median("persam_f_predict") / e32, "x", 1,
                    "PerSAM-F after the encoder / fp32 encoder")
        for name in SUCCESSORS:
            seconds = t.median(f"{name}_predict")
            self.record("stage", f"{name}_post_encoder_s", seconds, "s", t.count(f"{name}_predict"),
                        f"{name} predict on the same embeddings as PerSAM's")
            self.record("ratio", f"{name}_to_persam_ratio", seconds / predict, "x", 1,
                        f"{name} after the encoder / PerSAM after the encoder")
            self.record("ratio", f"{name}_post_encoder_ratio", seconds / e32, "x", 1,
                        f"{name} after the encoder / fp32 encoder")
        if t.count("video_step_1"):
            embed = t.median("video_read_and_embed")
            steps = {k: t.median(f"video_step_{k}") for k in (1, 2, 4)}
            for k in (1, 2, 4):
                self.record("video", f"video_{k}_objects_s_per_frame", embed + steps[k], "s", t.count(f"video_step_{k}"),
                            self.video_note + " (read + encode + track, sum of medians)")
            extra = max((steps[2] - steps[1]), (steps[4] - steps[1]) / 3)
            self.record("video", "video_extra_object_s", extra, "s", 1, "max of (2 obj - 1 obj) and (4 obj - 1 obj) / 3")
            self.record("ratio", "video_extra_object_ratio", extra / e32, "x", 1, "extra object per frame / fp32 encoder")
        if any(r["name"] == "run_s_per_image" for r in self.rows):
            self.record("ratio", "run_ratio_to_fp32_encoder", self.value("run_s_per_image") / e32, "x", 1,
                        "real run seconds per target image / fp32 encoder")
        all_cos = self.cosines["perseg"] + self.cosines["davis"]
        self.record("quality", "min_cosine", min(all_cos), "cosine", len(all_cos), "fast vs fp32 embeddings, real images")
        changes = [abs(c) for c in self.changes_against_fp32("fast").values()]
        self.record("quality", "max_miou_change", max(changes), "points", len(changes),
                    "|fast - fp32| over the mIoUs and the video J&F")
        if self.bf16:
            self.bf16_checks()
        self.load_end = load_average()

    def changes_against_fp32(self, suffix: str) -> dict[str, float]:
        """Each measured accuracy check's change of the ``suffix`` path (a ``QUALITY_NAMES`` value) against fp32."""
        names = {r["name"] for r in self.rows}
        return {f"{d}_{m}": self.value(f"{d}_{m}_{kind}_{suffix}") - self.value(f"{d}_{m}_{kind}_fp32")
                for d, m, _, kind in QUALITY_CHECKS if {f"{d}_{m}_{kind}_{suffix}", f"{d}_{m}_{kind}_fp32"} <= names}

    def bf16_checks(self) -> None:
        """The bf16 candidate's accuracy checks (encoders.py: auto takes bf16 only where they hold)."""
        changes = self.changes_against_fp32("bf16_candidate")
        worst = max(changes, key=lambda k: abs(changes[k]))
        self.record("quality", "bf16_min_cosine", min(self.cosines["bf16"]), "cosine", len(self.cosines["bf16"]),
                    "bf16 candidate vs fp32 embeddings, real images")
        self.record("quality", "bf16_max_miou_change", abs(changes[worst]), "points", len(changes),
                    "|bf16 candidate - fp32| over the mIoUs and the video J&F")
        lowest = min(self.cosines["bf16"])
        met = lowest >= TARGETS["min_cosine"][0] and abs(changes[worst]) <= TARGETS["max_miou_change"][0]
        self.notes.append(
            f"The bf16 encoder (candidate, `model.encoder=bf16`): minimum cosine {lowest:.5f} to fp32 over "
            f"{len(self.cosines['bf16'])} real images; mIoU / J&F changes against fp32 "
            + ", ".join(f"{k} {v:+.2f}" for k, v in changes.items())
            + (f". All {len(changes)} of the {len(QUALITY_CHECKS)} checks measured here hold"
               + (", so MobileSAM can go into `BF16_AUTO_MODELS` (persam/models/encoders.py)."
                  if len(changes) == len(QUALITY_CHECKS) else "; the rest were skipped.")
               if met else f". The largest ({worst}, {changes[worst]:+.2f}) is outside the 0.3-point check, so `auto` "
               "does not take bf16 (persam/models/encoders.py)."))

    def write(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / "bench.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, ["section", "name", "value", "unit", "n", "note"])
            writer.writeheader()
            for row in self.rows:
                writer.writerow({**row, "value": f"{row['value']:.6g}"})
        (self.out / "README.md").write_text(self.markdown())
        facts, git = cpu_facts(), self.git
        (self.out / "bench.json").write_text(json.dumps({
            "provenance": {"command": " ".join(sys.argv), "git": git, "cpu": facts, "versions": versions(),
                           "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                           "load_average": {"start": self.load_start, "end": self.load_end}},
            "rows": self.rows}, indent=1, default=str))

    @staticmethod
    def decoder_onnx_note(v: dict) -> str:
        """The unguided decoder in ONNX Runtime against PyTorch eager, beside the compiled pass that runs."""
        return (f"; SAM's decoder alone (unguided, at 256 x 256) takes {v['decoder_onnx_s']['value']:.3f} s in ONNX "
                f"Runtime against {v['decoder_torch_s']['value']:.3f} s in PyTorch eager, while a whole pass of the "
                f"fast path's decoder (prompt encoding and full-size mask included) takes "
                f"{v['decoder_pass_s']['value']:.3f} s")

    def markdown(self) -> str:
        v = {r["name"]: r for r in self.rows}
        facts, vers, git = cpu_facts(), versions(), self.git
        e32 = v["encode_fp32_s"]["value"]
        lines = ["# Benchmarks (`make bench`)", "",
                 "Generated by `benchmarks/bench.py`" + (" --quick" if self.quick else "") + "; never edited by hand. "
                 "Medians of repeated runs; every target is a ratio within this one run.", "",
                 f"- date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}; wall time "
                 f"{time.perf_counter() - self.started:.0f} s",
                 f"- command: `{' '.join(sys.argv)}`",
                 f"- git commit: {git['commit']} (dirty: {git['dirty']})",
                 f"- machine: {facts['cpu']}, {facts['cores']} cores; SIMD: {facts['simd']}; "
                 f"torch threads: {vers['torch_threads']}",
                 f"- load average (1/5/15 min) at start: {self.load_start}; at end: {self.load_end} "
                 + ("(at the start above the core count: other processes shared the CPU)" if shared_cpu(
                     self.load_start, facts["cores"]) else "(the bench's own threads count in the load at the end)"),
                 f"- versions: python {vers['python']}, torch {vers['torch']}, onnxruntime {vers['onnxruntime']}, "
                 f"numpy {vers['numpy']}",
                 f"- model: vit_t (MobileSAM), checkpoint SHA-256 {self.loaded.sha256[:16]}...; fast path: "
                 f"`encoder=auto` = {self.fast_id}, `decoder=auto` = {self.fast_decoder_id}", "",
                 "## Targets (issues #5, #11 and #15)", ""]
        # The same ratios against the fp32 encoder under the C library's default malloc (as a plain script runs
        # SAM), converted by the two fresh-process fp32 timings of the allocator section; "met" is judged on the
        # measured ratio, against the fp32 encoder as persam runs it.
        plain = (v["malloc_persam_encode_fp32_s"]["value"] / v["malloc_default_encode_fp32_s"]["value"]
                 if {"malloc_persam_encode_fp32_s", "malloc_default_encode_fp32_s"} <= v.keys() else None)
        if plain is not None:
            lines += [f"Ratios to the fp32 encoder are to it as persam runs it (this process, persam's allocator "
                      f"setting). The last column gives the same ratio against the fp32 encoder under the C library's "
                      f"default malloc settings, as a plain script running SAM has it: x {plain:.3f}, the ratio of "
                      f"the two fresh-process fp32 timings (`malloc_*` rows). Targets are judged on the measured "
                      f"column.", ""]
        lines += ["| target | measured | limit | met |" + (" x fp32 with default malloc |" if plain else ""),
                  "|---|---|---|---|" + ("---|" if plain else "")]
        labels = {
            "fast_encoder_ratio": "fast encoder (auto) / fp32 encoder",
            "run_ratio_to_fp32_encoder": "real davis_perseg run (empty cache) per target image / fp32 encoder",
            "run_ratio_to_stages": "real run per target image / its encoder + method stages",
            "persam_e2e_ratio": "PerSAM end to end per target image / fp32 encoder",
            "persam_post_encoder_ratio": "PerSAM work after the encoder / fp32 encoder",
            "p2sam_to_persam_ratio": "P2SAM work after the encoder / PerSAM's (batched part candidates)",
            "persam_f_fit_s": "PerSAM-F fit per object (s, median)",
            "video_extra_object_ratio": "video: each extra object per frame / fp32 encoder",
            "sweep_ratio": "6-variant sweep / one variant",
            "memory_ratio": "peak memory, 1,000-image run / 10-image run",
            "min_cosine": "cosine similarity fast vs fp32 embeddings (min over real images)",
            "max_miou_change": "mIoU / J&F change fast path vs fp32 eager (max over PerSeg, DAVIS frames, davis_perseg, "
                               "video)",
        }
        for name, (limit, op) in TARGETS.items():
            if name not in v:
                lines.append(f"| {labels[name]} | not measured | {op} {limit} | - |" + (" - |" if plain else ""))
                continue
            value = v[name]["value"]
            met = value <= limit if op == "<=" else value >= limit
            extra = (f" {value * plain:.4g} |" if name in FP32_RATIOS else " - |") if plain else ""
            lines.append(f"| {labels[name]} | {value:.4g} | {op} {limit} | {'yes' if met else '**no**'} |{extra}")
        lines += ["", "## Stages (seconds, medians)", "", "| stage | seconds | x fp32 encoder | n | what |",
                  "|---|---|---|---|---|"]
        for r in self.rows:
            if r["section"] in ("stage", "e2e", "video") and r["unit"] == "s":
                lines.append(f"| {r['name']} | {r['value']:.3f} | {r['value'] / e32:.3f} | {r['n']} | {r['note']} |")
        lines += ["", "## Roofline", "", "| measure | value | unit | what |", "|---|---|---|---|"]
        for r in self.rows:
            if r["section"] in ("roofline", "gpu"):
                lines.append(f"| {r['name']} | {r['value']:.4g} | {r['unit']} | {r['note']} |")
        if any(r["section"] == "run_stage" for r in self.rows):
            lines += ["", "## Stages of a real run (seconds per target image)", "",
                      "| stage | s / image | calls | what |", "|---|---|---|---|"]
            for r in self.rows:
                if r["section"] == "run_stage":
                    lines.append(f"| {r['name']} | {r['value']:.4f} | {r['n']} | {r['note']} |")
        bf16 = "video_persam_jf_bf16_candidate" in v or "perseg_persam_miou_bf16_candidate" in v
        lines += ["", "## Quality of the fast path (encoder and decoder `auto`) against fp32 eager", "",
                  "| data | method | mIoU fp32 | mIoU fast | change |" + (" bf16 candidate | change |" if bf16 else ""),
                  "|---|---|---|---|---|" + ("---|---|" if bf16 else "")]
        for d, m, label, kind in QUALITY_CHECKS:
            name = f"{d}_{m}_{kind}"
            if f"{name}_fp32" in v:
                a, b = v[f"{name}_fp32"]["value"], v[f"{name}_fast"]["value"]
                row = f"| {v[f'{name}_fp32']['note']} | {label} | {a:.2f} | {b:.2f} | {b - a:+.2f} |"
                if bf16:
                    c = v.get(f"{name}_bf16_candidate", {}).get("value")
                    row += f" {c:.2f} | {c - a:+.2f} |" if c is not None else " - | - |"
                lines.append(row)
        lines.append(f"\nMinimum cosine similarity of fast vs fp32 embeddings: {v['min_cosine']['value']:.7f} over "
                     f"{v['min_cosine']['n']} real images.")
        lines += ["", "## Sweep, memory and the allocator", "", "| measure | value | unit | what |", "|---|---|---|---|"]
        for r in self.rows:
            if r["section"] in ("sweep", "memory", "setup", "allocator"):
                lines.append(f"| {r['name']} | {r['value']:.4g} | {r['unit']} | {r['note']} |")
        lines += ["", "## Notes", "",
                  "- The fp32 path is upstream's encoder and mask decoder in eager PyTorch; the fast path is chosen by "
                  f"`model.encoder` (`auto`, here {self.fast_id}; see `persam/models/encoders.py`) and `model.decoder` "
                  f"(`auto`, here {self.fast_decoder_id}; see `persam/models/decoders.py`). Every stage and end-to-end "
                  "time below is the fast path's.",
                  "- Every encoder path is also timed on one real image (`encode_<path>_s`, with its cosine similarity "
                  "to fp32 in bench.csv): ONNX Runtime fp32, AOTInductor bf16, ONNX Runtime int8 (dynamic "
                  "quantization; a candidate only, not selectable: chosen only if it met the checks) and "
                  "channels-last fp32.",
                  f"- What bounds the work after the encoder: PerSAM decodes three times per image (the first "
                  f"decoding and two refinement steps, as the paper), and one pass of SAM's mask decoder takes "
                  f"{v['decoder_pass_s']['value']:.3f} s here ({v['decoder_pass_s']['value'] / e32:.3f} x the fp32 "
                  f"encoder, decoder {self.fast_decoder_id}); the prior, guidance and fusion around it are small. "
                  "Targets on the post-encoder time, the end-to-end time, the extra video object and the sweep ratio "
                  "(each variant adds its decoding per image, while the encoding is shared) follow from that pass "
                  "time on this CPU. The decoder's two-way transformer, its bulk, is also timed alone per prompt set: "
                  "eager, compiled fp32 (as `decoder=compiled` runs it, inside the whole compiled decoder) and "
                  "compiled bf16 (a candidate, not selectable)"
                  + (self.decoder_onnx_note(v) if "decoder_onnx_s" in v else "") + ".",
                  "- The memory comparison runs in a reduced-cost mode (`benchmarks/memory_run.py`: SAM's image encoder "
                  "and mask decoder are stubs; reading, hashing, the disk cache, prior, prompts, refinement, "
                  "upsampling and writing are the real code) so that 1,000 images fit in the benchmark's time; the "
                  "peak memory of real runs is in the table above.",
                  "- Allocator: " + ("persam's entry points, and this bench, keep large tensor buffers in the heap "
                                     "instead of mapping fresh pages for each (`persam/allocator.py`), so every timing "
                                     "here, fp32's included, is under that setting" if self.malloc else
                                     "persam's setting (`persam/allocator.py`) is not in force in this bench "
                                     "(PERSAM_MALLOC=default, or a C library without mallopt)")
                  + "; the `malloc_*` rows time the fp32 and fast encoders in fresh processes with the C library's "
                  "default and with persam's setting."]
        lines += [f"- {note}" for note in self.notes]
        lines += ["", "Raw numbers: [`bench.csv`](bench.csv), [`bench.json`](bench.json) (with provenance).", ""]
        return "\n".join(lines)


def video_overrides() -> dict:
    """PerSAM's video settings (the ``video.settings`` block of persam/conf/method/persam.yaml), where that file has
    them."""
    from omegaconf import OmegaConf

    path = config_file("method", "persam.yaml")
    if not path.is_file():
        return {}
    video = OmegaConf.to_container(OmegaConf.load(path)).get("video") or {}
    overrides = video.get("settings") or {}
    known = set(PerSAMConfig.__dataclass_fields__)
    return {k: val for k, val in overrides.items() if k in known}


def strips(mask: np.ndarray, k: int) -> np.ndarray:
    """H x W uint8 labels 1..k: the object's mask cut into k vertical strips of equal width."""
    cols = np.flatnonzero(mask.any(axis=0))
    edges = np.linspace(cols[0], cols[-1] + 1, k + 1).round().astype(int)
    labels = np.zeros(mask.shape, dtype=np.uint8)
    for i in range(k):
        part = np.zeros_like(mask)
        part[:, edges[i] : edges[i + 1]] = mask[:, edges[i] : edges[i + 1]]
        labels[part] = i + 1
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(REPO / "results" / "bench"))
    parser.add_argument("--quick", action="store_true", help="fewer images and frames (a smoke test)")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["candidates", "roofline", "davis", "run", "video", "sweep", "memory", "allocator"])
    parser.add_argument("--davis-perseg", default=str(REPO / "data" / "davis_perseg"),
                        help="the davis_perseg benchmark for the real-run section (make davis_perseg)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    # As persam's entry points do (persam/allocator.py): every timing below is under this setting.
    bench = Bench(Path(args.out), args.quick, keep_large_buffers())
    with tempfile.TemporaryDirectory(prefix="persam-bench-") as tmp:
        bench.setup()
        if "candidates" not in args.skip:
            bench.candidates()
            bench.decoder_candidate(Path(tmp))
        if "roofline" not in args.skip:
            bench.roofline()
        bench.perseg()
        if "davis" not in args.skip:
            bench.davis()
        if "run" not in args.skip:
            if (Path(args.davis_perseg) / "Images").is_dir():
                bench.run_stages(Path(tmp), Path(args.davis_perseg).resolve())
            else:
                bench.notes.append(f"real-run section skipped: {args.davis_perseg} not found (make davis_perseg).")
        if "video" not in args.skip:
            bench.video()
            bench.video_quality()
        if "sweep" not in args.skip:
            bench.sweep(Path(tmp))
        if "memory" not in args.skip:
            bench.memory(Path(tmp))
        if "allocator" not in args.skip:
            bench.allocator_effect()
        bench.summarise()
    bench.write()
    print(f"wrote {Path(args.out) / 'README.md'} and bench.csv in {time.perf_counter() - bench.started:.0f} s")
    if not math.isfinite(bench.value("encode_fp32_s")):
        sys.exit(1)


if __name__ == "__main__":
    main()
