"""The bf16 encoder (AOTInductor-compiled bfloat16 copy) and ``auto``'s choice of encoder."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import SAMPLE

from persam.data.io import read_image
from persam.models import EmbeddingCache, GuidedPredictor
from persam.models.encoders import (
    _Bf16Autocast,
    _Fp32Convolution,
    auto_choice,
    cpu_flags,
    cxx_compiler_available,
    exact_choice,
    native_bf16,
    this_cpu_flags,
)

AMX_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu vme avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
processor\t: 1
flags\t\t: fpu vme
"""
AVX2_CPUINFO = "model name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 fma\n"


def test_cpu_flags_are_read_from_the_first_processor():
    assert {"amx_bf16", "avx512_bf16", "avx2"} <= cpu_flags(AMX_CPUINFO)
    assert cpu_flags("model name\t: no flags line\n") == set()
    assert native_bf16(cpu_flags(AMX_CPUINFO))
    assert native_bf16({"avx512_bf16"}) and native_bf16({"amx_bf16"})
    assert not native_bf16(cpu_flags(AVX2_CPUINFO))


def test_auto_takes_bf16_for_mobilesam_only_its_accuracy_checks_were_recorded_for():
    assert auto_choice("vit_t", "cpu", {"amx_bf16"}, True, True) == "bf16"
    assert auto_choice("vit_b", "cpu", {"amx_bf16"}, True, True) == "fp32"


class _EncoderLayout(torch.nn.Module):
    """SAM's encoder layout in miniature: a convolution and a linear layer in the backbone, then a ``neck``."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3)
        self.mlp = torch.nn.Linear(8, 8)
        self.neck = torch.nn.Sequential(torch.nn.Conv2d(8, 4, 1))

    def forward(self, x):
        x = self.stem(x)
        return self.neck(self.mlp(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))


def test_bf16_build_runs_backbone_convolutions_in_fp32_and_linear_layers_and_neck_in_bf16():
    torch.manual_seed(0)
    net = _EncoderLayout()
    reference = copy.deepcopy(net)
    wrapped = _Bf16Autocast(net, "cpu")
    assert isinstance(wrapped.encoder.stem, _Fp32Convolution)
    assert type(wrapped.encoder.neck[0]) is torch.nn.Conv2d
    x = torch.randn(2, 3, 8, 8)
    seen = {}
    for name in ("stem", "mlp", "neck"):
        getattr(wrapped.encoder, name).register_forward_hook(lambda m, i, o, name=name: seen.update({name: o}))
    with torch.no_grad():
        out = wrapped(x)
        assert seen["stem"].dtype == torch.float32 and torch.equal(seen["stem"], reference.stem(x))
        assert seen["mlp"].dtype == torch.bfloat16 and seen["neck"].dtype == torch.bfloat16
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, reference(x), rtol=2e-2, atol=2e-2)


def test_exact_is_fp32_to_rounding_onnx_where_measured_faster_else_fp32():
    assert exact_choice("vit_t", "cpu", True) == "onnx"
    assert exact_choice("vit_t", "cpu", False) == "fp32"
    assert exact_choice("vit_h", "cpu", True) == "fp32"
    assert exact_choice("vit_t", "cuda", True) == "fp32"


# With a model listed as bf16-eligible (``bf16_models``): the rest of auto's logic.
@pytest.mark.parametrize(("model", "device", "flags", "compiler", "ort", "expected"), [
    ("vit_t", "cpu", {"amx_bf16"}, True, True, "bf16"),
    ("vit_t", "cpu", {"avx512_bf16"}, True, False, "bf16"),
    ("vit_t", "cpu", {"amx_bf16"}, False, True, "onnx"),  # no C++ compiler: no AOTInductor build
    ("vit_t", "cpu", {"avx2"}, True, True, "onnx"),  # emulated bf16 is slow
    ("vit_t", "cpu", {"avx2"}, True, False, "fp32"),
    ("vit_b", "cpu", {"amx_bf16"}, True, True, "fp32"),  # accuracy checks not recorded for vit_b
    ("vit_t", "cuda", {"amx_bf16"}, True, True, "fp32"),
])
def test_auto_choice(model, device, flags, compiler, ort, expected):
    assert auto_choice(model, device, flags, compiler, ort, bf16_models=("vit_t",)) == expected


@pytest.mark.slow  # the first build compiles C++ for minutes; later runs load the cached package
@pytest.mark.skipif(not (native_bf16(this_cpu_flags()) and cxx_compiler_available()),
                    reason="needs a CPU with native bfloat16 and a C++ compiler")
def test_bf16_embedding_matches_fp32_on_a_real_image_with_its_own_cache_key(vit_t, tmp_path):
    cache = EmbeddingCache(tmp_path)
    fp32 = GuidedPredictor(vit_t, cache, encoder="fp32")
    bf16 = GuidedPredictor(vit_t, cache, encoder="bf16")
    image = read_image(SAMPLE / "Images" / "colorful_sneaker" / "01.jpg")
    a, b = fp32.embed(image), bf16.embed(image)
    cosine = F.cosine_similarity(a.features.flatten().double(), b.features.flatten().double(), dim=0).item()
    # Every product in bf16 gave 0.9992-0.9998 on real images; with the backbone's convolutions in fp32 about 0.99997.
    assert cosine >= 0.9999, cosine
    assert b.features.dtype == a.features.dtype and b.features.shape == a.features.shape == (1, 256, 64, 64)
    assert bf16.encoder_calls == 1  # its key differs from fp32's: no cross-backend hit
    assert bf16.encoder_id != fp32.encoder_id and "bf16" in bf16.encoder_id
