"""Video object segmentation with PerSAM / PerSAM-F: frame 0 and its object masks given, every object is
segmented in every later frame.

Per frame, the image is encoded once (the caller passes its embedding) and every object is decoded from it:

1. the location prior of the object's target embedding gives its top-k most similar points (positives);
2. the object's box in the previous frame, widened by ``box_margin`` pixels and clipped to the image, is a
   box prompt, and its centre an extra positive point (``box_prompt``, ``center_point``);
3. PerSAM's first decoding (PerSAM-F: its three masks fused with the object's two weights) and cascaded
   refinement (:func:`persam.methods.refinement.refine`) give the object's logits;
   (every object of the frame in one batched decoder call per decoding step: :meth:`PerSAM.predict_batch`);
4. objects compete per pixel: a pixel goes to the object with the highest logit, or to the background when
   no logit is positive.

PerSAM-F fits each object's weights on frame 0 against its mask, decoding with the same prompts (the box
being frame 0's own). The boxes for the next frame come from the label map after the competition; an object
that found no pixel keeps its last box, so it can be found again.

Online memory (``memory`` > 0; not in the original): the reference set grows as the object is tracked. A frame
whose prediction scores at least the annotated frame's own score minus ``memory_margin`` (the method's presence
score: the mask looks like the references) is confidently the object; such a frame, at least ``memory_every``
frames after the last one kept, joins the references with the mask the competition gave it, and the object is
refitted on the annotated frame plus the ``memory`` most recent confident frames (the oldest leaves first). The
annotated frame never leaves: it is the one sure view. A method with several references combines them as it
does for images (PerSAM+: a soft vote, :func:`persam.methods.multi_reference.soft_vote`).

The tracker is stateless: per-object state (:class:`ObjectState`: the reference, the last box and mask) is a
plain structure the caller holds and passes back, frame after frame (:func:`start`, then :func:`step`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import torch
from torch import Tensor

from persam.data.io import DataError
from persam.methods.builder import MethodSpec, build_method
from persam.methods.protocol import Method, Prediction, Prompts, Shot
from persam.models.predictor import ImageEmbedding


@dataclass(frozen=True)
class VideoConfig:
    """What the tracker adds to a method's prompts (the original ``persam_video*.py`` settings by default).
    Read from the ``video:`` block of the method's config by :func:`video_config` (its ``settings`` are the
    method's own, applied by :func:`video_method`)."""

    box_prompt: bool = True  # the previous frame's box as a box prompt
    center_point: bool = True  # its centre as a positive point
    box_margin: int = 10  # pixels added on each side of the box (clipped to the image)
    # Not in the original: when an object's most similar point falls outside its widened last box, the object is
    # not where the box says (it left and came back, or the box followed something else): that frame is
    # decoded from the location prior alone, so the object can be found again.
    reacquire: bool = False
    # Not in the original: the online memory (module doc). memory: recent confident frames kept as references
    # (0: off); memory_every: frames between two kept; memory_margin: below the annotated frame's own score.
    memory: int = 0
    memory_every: int = 5
    memory_margin: float = 0.05


def video_config(spec: MethodSpec) -> VideoConfig:
    """The tracker's settings from the method's ``video:`` block (its ``settings`` are the method's)."""
    tracker = {k: v for k, v in spec.video.items() if k != "settings"}
    known = {f.name for f in fields(VideoConfig)}
    unknown = sorted(set(tracker) - known)
    if unknown:
        raise ValueError(f"{spec.source}: unknown key video.{unknown[0]} (the tracker takes: {', '.join(sorted(known))})")
    return VideoConfig(**tracker)


def video_method(spec: MethodSpec, predictor):
    """The method as the video procedure runs it: its settings with ``video.settings`` applied over them."""
    if not spec.video:
        raise DataError(f"{spec.source}: method {spec.name!r} cannot track video (its config has no video: block)")
    video_spec = replace(spec, settings={**spec.settings, **(spec.video.get("settings") or {})})
    method = build_method(predictor, video_spec)
    if not getattr(method, "supports_video", False):
        raise DataError(f"{spec.source}: method {spec.name!r} ({type(method).__name__}) cannot track video")
    return method


@dataclass
class ObjectState:
    """One object between frames. ``box``: XYXY pixels of its last non-empty mask (before the margin);
    ``mask``: its H x W boolean mask in the last frame (after the competition between objects); with the online
    memory, ``shots`` (the annotated frame, then the confident frames kept), ``confident`` (the score a frame
    needs to be kept) and ``since`` (frames since the last one kept)."""

    object_id: int
    reference: object  # the method's reference state
    box: np.ndarray
    mask: np.ndarray
    shots: tuple[Shot, ...] = ()
    confident: float = float("inf")
    since: int = 0


@dataclass
class FrameResult:
    """One tracked frame: the H x W uint8 label map (0 background, else object ids) and, per object id, its
    prediction (mask before the competition, logits, prompt points)."""

    labels: np.ndarray
    predictions: dict[int, Prediction]


def mask_box(mask: np.ndarray) -> np.ndarray | None:
    """XYXY pixel box of an H x W boolean mask, or None when it is empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return None
    return np.array([cols[0], rows[0], cols[-1], rows[-1]], dtype=np.float64)


def widened(box: np.ndarray, size: tuple[int, int], margin: int) -> np.ndarray:
    """XYXY box grown by ``margin`` pixels on each side (integer pixels, as the original), clipped to (H, W)."""
    h, w = size
    x0, y0, x1, y1 = (int(v) for v in box)
    return np.array([max(x0 - margin, 0), max(y0 - margin, 0), min(x1 + margin, w), min(y1 + margin, h)],
                    dtype=np.float64)


def inside(point: np.ndarray, box: np.ndarray) -> bool:
    """Whether an XY point lies in an XYXY box (edges included)."""
    return bool(box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3])


def box_prompts(box: np.ndarray, size: tuple[int, int], config: VideoConfig) -> Prompts:
    """The prompts of one object from its last box: the widened box and/or its centre (integer pixels, as the
    original code rounds them). ``size``: (H, W) of the frame."""
    wide = widened(box, size, config.box_margin)
    prompts = Prompts(box=wide if config.box_prompt else None)
    if config.center_point:
        center = np.array([[(wide[0] + wide[2]) // 2, (wide[1] + wide[3]) // 2]], dtype=np.float64)
        prompts = replace(prompts, points=center, labels=np.ones(1, dtype=np.int64))
    return prompts


def resolve_overlaps(logits: dict[int, Tensor], size: tuple[int, int]) -> np.ndarray:
    """H x W uint8 label map from each object's H x W logits: per pixel the object with the highest logit,
    background where no logit is positive (ties go to the lower id, as ``argmax`` does)."""
    ids = sorted(logits)
    if not ids:
        return np.zeros(size, dtype=np.uint8)
    if max(ids) > 254:
        raise ValueError(f"object ids must be in 1..254 (255 is DAVIS's void), got {max(ids)}")
    # H x W x (1 + K): argmax over the last, contiguous dimension (over the first, PyTorch's CPU argmax took
    # 75 ms for four objects of an 854 x 480 frame, against 5 ms).
    stack = torch.stack([torch.zeros(size, dtype=torch.float32)] + [logits[k].float().cpu() for k in ids], dim=-1)
    winner = stack.argmax(-1).numpy()
    lut = np.array([0, *ids], dtype=np.uint8)
    return lut[winner]


def start(method: Method, embedding: ImageEmbedding, labels: np.ndarray, object_ids: list[int] | None = None,
          config: VideoConfig | None = None) -> list[ObjectState]:
    """Per-object state from frame 0's embedding and its H x W label map (0 background, ids the objects,
    255 void is ignored). ``object_ids`` default to every non-zero, non-void label present."""
    config = config or VideoConfig()
    if labels.shape != tuple(embedding.original_size):
        raise ValueError(f"frame-0 labels are {labels.shape[1]}x{labels.shape[0]} but the frame is "
                         f"{embedding.original_size[1]}x{embedding.original_size[0]}")
    present = sorted(int(v) for v in np.unique(labels) if v not in (0, 255))
    object_ids = present if object_ids is None else list(object_ids)
    missing = [k for k in object_ids if k not in present]
    if missing:
        raise ValueError(f"objects {missing} have no pixel in the frame-0 labels (present: {present})")
    if not object_ids:
        raise ValueError("the frame-0 labels hold no object")
    states = []
    for k in object_ids:
        mask = labels == k
        box = mask_box(mask)
        # A method that fits on its own decoding (PerSAM-F) fits with the prompts it will be given later.
        prompts = box_prompts(box, mask.shape, config)
        shot = Shot(embedding, mask)
        reference = method.fit([shot], prompts=prompts)
        state = ObjectState(k, reference, box, mask)
        if config.memory > 0:  # the annotated frame's own score sets what "confident" means
            own = method.predict(embedding, reference, prompts=prompts).score
            state = replace(state, shots=(shot,), confident=own - config.memory_margin)
        states.append(state)
    return states


def step(method: Method, embedding: ImageEmbedding, states: list[ObjectState],
         config: VideoConfig | None = None) -> tuple[FrameResult, list[ObjectState]]:
    """Segment every object of ``states`` in one new frame; returns the frame's result and the new states."""
    config = config or VideoConfig()
    size = tuple(embedding.original_size)
    prompts_list = []
    for state in states:
        prompts = box_prompts(state.box, size, config)
        if config.reacquire and not inside(most_similar_point(method, embedding, state.reference),
                                           widened(state.box, size, config.box_margin)):
            prompts = None  # the object is not where its box says: the location prior alone
        prompts_list.append(prompts)
    # Every object in one batched decoder call per decoding step (an extra object costs a batch row, not a pass).
    references = [s.reference for s in states]
    if hasattr(method, "predict_batch"):
        batched = method.predict_batch(embedding, references, prompts_list)
    else:  # a method without batched prediction: one object at a time
        batched = [method.predict(embedding, r, prompts=p) for r, p in zip(references, prompts_list, strict=True)]
    predictions = {state.object_id: p for state, p in zip(states, batched, strict=True)}
    labels = resolve_overlaps({k: p.logits for k, p in predictions.items()}, size)
    new_states = []
    for state in states:
        mask = labels == state.object_id
        box = mask_box(mask)
        # An object that found no pixel keeps its last box, so it can be found again.
        state = replace(state, mask=mask) if box is None else replace(state, box=box, mask=mask)
        if config.memory > 0:
            state = remember(method, embedding, state, predictions[state.object_id], config)
        new_states.append(state)
    return FrameResult(labels, predictions), new_states


def remember(method: Method, embedding: ImageEmbedding, state: ObjectState, prediction: Prediction,
             config: VideoConfig) -> ObjectState:
    """The state after a frame, with the frame kept as a reference when it is confidently the object (module
    doc: the online memory)."""
    since = state.since + 1
    if since < config.memory_every or not state.mask.any() or not prediction.score >= state.confident:
        return replace(state, since=since)
    shots = (state.shots[0], *state.shots[1:][-(config.memory - 1):], Shot(embedding, state.mask)) \
        if config.memory > 1 else (state.shots[0], Shot(embedding, state.mask))
    prompts = box_prompts(state.box, tuple(embedding.original_size), config)
    return replace(state, reference=method.fit(list(shots), prompts=prompts), shots=shots, since=0)


def most_similar_point(method: Method, embedding: ImageEmbedding, reference) -> np.ndarray:
    """The XY pixel of the method's location-prior maximum (``reacquire`` needs it)."""
    find = getattr(method, "most_similar_point", None)
    if find is None:
        raise ValueError(f"video reacquire needs the method's location prior; {type(method).__name__} has no "
                         "most_similar_point")
    return find(embedding, reference)
