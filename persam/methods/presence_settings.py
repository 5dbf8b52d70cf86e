"""The presence and instances layer's settings (:mod:`persam.methods.presence_layer`), fields of every method config
under the layer, kept apart from the layer so the second opinion, which the layer imports, can read them too.
Each number's reason and the data it was chosen on: docs/methods.md, "Presence"."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PresenceSettings:
    """The layer's settings, fields of every method config under it (``method.<field>=...``). Each number's reason
    and the data it was chosen on: docs/methods.md, "Presence"."""

    # An empty mask when the object is judged absent.
    presence: bool = False
    # Threshold this far below the references' own score (cosine); chosen on the PerSeg subset, cross negatives.
    presence_margin: float = 0.05
    # Pixels around a reference object kept out of its background negative (round; not tuned).
    presence_exclude_margin: int = 16
    # Look for up to this many instances, each excluded before the next.
    max_instances: int = 1
    # A further mask with more than this fraction inside earlier instances is a repeat (round; not tuned).
    repeat_overlap: float = 0.5
    # The second opinion's encoder: none, efficientnet_lite0, dinov2:<folder or hub name>.
    second_opinion: str = "none"
    # Its threshold; None: the encoder's own from second_opinion_thresholds.
    second_opinion_threshold: float | None = None
    # Per encoder: the 10th percentile of the object's own targets on davis_perseg (development set), recall 0.9.
    second_opinion_thresholds: dict[str, float] = field(default_factory=lambda: {"efficientnet_lite0": 0.38})
    # An encoder without a measured threshold (DINOv2: no weights here) takes EfficientNet-Lite0's.
    second_opinion_unmeasured_threshold: float = 0.38
    # Encoder cells a reference object must cover for a veto (a whole 2 x 2 square); seen on davis_perseg.
    second_opinion_min_cells: float = 4.0
    # Images whose semantic features are kept in memory (about 1.6 MB each); no effect on results.
    second_opinion_cache_images: int = 128

    def __post_init__(self) -> None:
        if self.max_instances < 1:
            raise ValueError(f"max_instances must be at least 1, got {self.max_instances}")
