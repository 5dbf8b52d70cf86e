"""Shared fixtures: the real MobileSAM (vit_t) weights, loaded once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from persam.data.io import read_image

SAMPLE = Path(__file__).resolve().parents[1] / "persam" / "sample_data" / "perseg"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# The runs the tests start use the ONNX encoder (fp32 to rounding), whatever auto picks on the machine: their
# pinned numbers are fp32's, and a bf16 auto would compile its package (minutes) inside whichever test runs
# first. The bf16 path has its own test (slow) and make bench's checks; a test that sets model.encoder gets it.
os.environ.setdefault("PERSAM_ENCODER", "onnx")
# Likewise the eager decoder: compiling it costs each test process about 25 s on a cold cache; the compiled path
# has its own test (tests/test_decoders.py) and make bench's checks.
os.environ.setdefault("PERSAM_DECODER", "eager")


@pytest.fixture(scope="session")
def vit_t():
    from persam.models import build_sam

    return build_sam("vit_t", device="cpu", download=False)


@pytest.fixture(scope="session")
def embedding_cache(tmp_path_factory):
    from persam.models import EmbeddingCache

    return EmbeddingCache(tmp_path_factory.mktemp("embeddings"))


@pytest.fixture(scope="session")
def predictor(vit_t, embedding_cache):
    from persam.models import GuidedPredictor

    return GuidedPredictor(vit_t, embedding_cache)


@pytest.fixture(scope="session")
def cat_images():
    return {stem: read_image(SAMPLE / "Images" / "cat" / f"{stem}.jpg") for stem in ("00", "01")}
