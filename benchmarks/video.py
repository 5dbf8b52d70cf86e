"""``make bench``'s video section (3) and the video accuracy check of section 1, on DAVIS 2017 frames
(``persam.methods.video``; skipped where ../shared/data/davis2017 is absent)."""

from __future__ import annotations

import numpy as np
from common import davis_root
from session import Bench
from speed_checks import video_jf
from targets import QUALITY_NAMES

from persam.config import config_file
from persam.data.io import read_image, read_mask
from persam.methods import PerSAM, PerSAMConfig

VIDEO_CHECK = (["blackswan", "dog"], 12)  # the short video bench of the accuracy check: sequences, frames each


def speed(bench: Bench) -> None:
    """Section 3: seconds per frame with 1, 2 and 4 objects (K vertical strips of the object's frame-0 mask)."""
    root = davis_root()
    if root is None:
        return
    try:
        from persam.methods.video import start, step
    except ImportError:
        bench.notes.append("video section skipped: persam.methods.video is not available.")
        return
    print("video: 1, 2 and 4 objects per frame", flush=True)
    seq = "dog" if (root / "JPEGImages" / "480p" / "dog").is_dir() else sorted(
        p.name for p in (root / "JPEGImages" / "480p").iterdir())[0]
    frames = sorted((root / "JPEGImages" / "480p" / seq).glob("*.jpg"))
    first = read_image(frames[0])
    mask = read_mask(root / "Annotations" / "480p" / seq / f"{frames[0].stem}.png", first.shape[:2])
    config = PerSAMConfig(**video_overrides())
    method = PerSAM(bench.fast, config)
    emb0 = bench.fast.embed(first)
    states = {k: start(method, emb0, strips(mask, k)) for k in (1, 2, 4)}
    for k in (1, 2, 4):  # untimed: a compiled decoder compiles for each new object count here
        step(method, emb0, states[k])
    n_frames = 3 if bench.quick else 6
    for frame in frames[1 : 1 + n_frames]:
        with bench.timer("video_read_and_embed"):
            emb = bench.fast.embed(read_image(frame))
        for k in (1, 2, 4):
            with bench.timer(f"video_step_{k}"):
                _, states[k] = step(method, emb, states[k])
    bench.video_note = (f"DAVIS '{seq}' frames 1-{n_frames} (854x480), PerSAM with the DAVIS config's video "
                        f"settings; objects = vertical strips of the frame-0 mask")


def quality(bench: Bench) -> None:
    """Section 1 on video: J&F of the PerSAM tracker per encoder path over the first frames of a few sequences."""
    root = davis_root()
    if root is None:
        return
    from persam.methods.video import VideoConfig

    sequences, n_frames = VIDEO_CHECK
    n_frames = 6 if bench.quick else n_frames
    print(f"video accuracy check: {', '.join(sequences)}, {n_frames} frames", flush=True)
    for e, predictor in bench.checked.items():
        method = PerSAM(predictor, PerSAMConfig(**video_overrides()))
        bench.record("quality", f"video_persam_jf_{QUALITY_NAMES[e]}",
                     video_jf(method, predictor, root, sequences, n_frames, VideoConfig()), "J&F %",
                     len(sequences), f"DAVIS {', '.join(sequences)}, frames 0-{n_frames - 1}, PerSAM tracker")


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
