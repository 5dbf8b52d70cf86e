"""Checkpoint resolution and verification, and the SAM builders (no weights are downloaded)."""

import hashlib
import re

import pytest
import torch
from segment_anything.modeling import Sam

from persam.models.checkpoints import CHECKPOINTS, CheckpointError, cache_dir, resolve_checkpoint, verify
from persam.models.registry import SAM_BUILDERS


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """An empty PERSAM_HOME and no PERSAM_CHECKPOINT, so nothing real is found or written."""
    monkeypatch.setenv("PERSAM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PERSAM_CHECKPOINT", raising=False)
    return tmp_path


def _junk(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"definitely not SAM weights")
    return path


def test_cache_dir_follows_persam_home(tmp_path):
    """$PERSAM_HOME/checkpoints."""
    assert cache_dir() == tmp_path / "home" / "checkpoints"


def test_verify_wrong_bytes_names_file_and_how_to_obtain(tmp_path):
    """A corrupt file: the error names it and gives the official URL."""
    path = _junk(tmp_path / "sam_vit_b_01ec64.pth")
    with pytest.raises(CheckpointError) as info:
        verify("vit_b", path)
    message = str(info.value)
    assert str(path) in message
    assert CHECKPOINTS["vit_b"].url in message


def test_verify_missing_file(tmp_path):
    """A missing file: the error names it and gives the URL."""
    path = tmp_path / "nope.pth"
    with pytest.raises(CheckpointError, match="not found") as info:
        verify("vit_l", path)
    assert str(path) in str(info.value) and CHECKPOINTS["vit_l"].url in str(info.value)


def test_verify_accepts_matching_bytes(tmp_path, monkeypatch):
    """verify returns the digest when it matches the published one."""
    path = _junk(tmp_path / "x.pth")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    spec = CHECKPOINTS["vit_b"]
    monkeypatch.setitem(CHECKPOINTS, "vit_b", type(spec)(spec.filename, spec.url, digest, spec.size_mb))
    assert verify("vit_b", path) == digest


def test_explicit_file_with_official_name_is_verified(tmp_path):
    """An explicit sam_vit_b_01ec64.pth with the wrong bytes is rejected, not loaded."""
    path = _junk(tmp_path / "sam_vit_b_01ec64.pth")
    with pytest.raises(CheckpointError) as info:
        resolve_checkpoint("vit_b", path=path)
    assert str(path) in str(info.value)


def test_explicit_file_from_environment_is_verified(tmp_path, monkeypatch):
    """$PERSAM_CHECKPOINT is an explicit path too."""
    path = _junk(tmp_path / "sam_vit_b_01ec64.pth")
    monkeypatch.setenv("PERSAM_CHECKPOINT", str(path))
    with pytest.raises(CheckpointError):
        resolve_checkpoint("vit_b", download=False)


def test_corrupt_cached_file_is_rejected():
    """A wrong file in the cache is an error, not silently used."""
    cached = _junk(cache_dir() / "sam_vit_b_01ec64.pth")
    with pytest.raises(CheckpointError) as info:
        resolve_checkpoint("vit_b", download=False)
    assert str(cached) in str(info.value)


def test_nothing_cached_without_download_raises_with_url():
    """vit_b has no weights package: with download=False and an empty cache, say where to get it."""
    with pytest.raises(CheckpointError) as info:
        resolve_checkpoint("vit_b", download=False)
    assert "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth" in str(info.value)
    assert not (cache_dir() / "sam_vit_b_01ec64.pth").exists()


def test_unknown_model_raises():
    """An unknown model name lists the known ones."""
    with pytest.raises(CheckpointError, match="vit_b"):
        resolve_checkpoint("vit_giant")


def test_custom_explicit_file_is_taken_with_its_sha256(tmp_path):
    """A fine-tuned checkpoint under another name is returned as is, with its digest recorded."""
    path = _junk(tmp_path / "my_finetuned.pth")
    resolved, digest = resolve_checkpoint("vit_b", path=path)
    assert resolved == path
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_checkpoint_spec_is_well_formed():
    """Every entry has a 64-hex SHA-256 and an https URL ending in its filename."""
    assert set(CHECKPOINTS) == {"vit_h", "vit_l", "vit_b", "vit_t"}
    for spec in CHECKPOINTS.values():
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
        assert spec.url.startswith("https://")
        assert spec.url.endswith("/" + spec.filename)
        assert spec.size_mb > 0
    assert len({spec.sha256 for spec in CHECKPOINTS.values()}) == len(CHECKPOINTS)


# ---------------------------------------------------------------- registry


def test_registry_names_match_checkpoints():
    """Every buildable model has a checkpoint and vice versa (vit_h and vit_l are not built: too large)."""
    assert set(SAM_BUILDERS) == set(CHECKPOINTS)
    assert all(callable(build) for build in SAM_BUILDERS.values())


def test_vit_b_builds_without_weights():
    """vit_b is a segment-anything Sam with a 3-output decoder."""
    sam = SAM_BUILDERS["vit_b"]()
    assert isinstance(sam, Sam)
    assert sam.mask_decoder.num_multimask_outputs == 3


def test_vit_t_matches_the_mobilesam_checkpoint():
    """vit_t builds as a Sam whose parameters have exactly the names and shapes of mobile_sam.pt."""
    sam = SAM_BUILDERS["vit_t"]()
    assert isinstance(sam, Sam)
    path, digest = resolve_checkpoint("vit_t", download=False)  # found in the installed weights package
    assert digest == CHECKPOINTS["vit_t"].sha256
    state = torch.load(path, map_location="cpu", weights_only=True)
    ours = sam.state_dict()
    assert set(ours) == set(state)
    assert all(ours[k].shape == state[k].shape for k in state)


def test_checkpoint_of_another_model_type_is_a_clear_error():
    from persam.models.checkpoints import resolve_checkpoint
    from persam.models.registry import build_sam

    mobile_sam, _ = resolve_checkpoint("vit_t")
    with pytest.raises(CheckpointError, match="mobile_sam.pt: this checkpoint does not fit model 'vit_b'"):
        build_sam("vit_b", mobile_sam, device="cpu")
