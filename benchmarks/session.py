"""``make bench``'s state: the models and predictors every section measures, the rows they record, the timer.

``Bench.setup`` loads MobileSAM (vit_t) once and builds the fp32 path (upstream's eager encoder and decoder), the
fast path (``encoder=auto``, ``decoder=auto`` as a large job runs it) and, where the CPU has native bf16 and auto
does not take it, the bf16 candidate; the sections (``candidates``, ``stages``, ``video``, ``processes``) take a
``Bench`` and record their rows into it; ``report`` turns the rows into results/bench/.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from common import Timer, cpu_facts, git_commit, load_average, perseg_root
from targets import SUCCESSORS

from persam.data.io import read_image, read_mask
from persam.data.perseg import load_perseg
from persam.methods import PerSAM, PerSAMConfig
from persam.methods.builder import build_method, composed_method
from persam.methods.protocol import Shot
from persam.models import GuidedPredictor, build_sam
from persam.models.decoders import AUTO_COMPILE_MIN_IMAGES
from persam.models.encoders import Bf16Encoder, OnnxEncoder, cxx_compiler_available

PERSAM_F = dict(negative_prior=False, guided_attention=False, semantic_prompting=False,
                embedding_pooling="mean_max", scale_fusion=True)


class Timed:
    """An encoder backend whose calls are timed under ``name``."""

    def __init__(self, encoder, timer: Timer, name: str) -> None:
        self.encoder, self.timer, self.name, self.id = encoder, timer, name, encoder.id

    def __call__(self, x):
        with self.timer(self.name):
            return self.encoder(x)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return F.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0).item()


class Bench:
    """The state of one bench run: its predictors, the rows recorded and the timer the sections share."""

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
