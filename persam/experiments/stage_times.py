"""Where a run's time goes: wall seconds and call counts per named stage.

    times = StageTimes()
    times.instrument(predictor)          # hashing, cache get/put and the encoder, timed inside embed()
    with times("read"):
        image = read_image(path)
    times.summary()  # {"read": {"seconds": 0.12, "calls": 3}, ...}

Stages are timed where they run: ``instrument`` wraps the predictor's cache (``cache_key``: hashing the
image for the key, ``cache_get`` / ``cache_put``: disk I/O and (de)serialisation) and its encoder
(``encoder``), so ``embed`` needs no timing code of its own. Work handed to the background
:class:`~persam.experiments.output_writer.OutputWriter` is timed on its thread (``write_masks``,
``write_overlays``): it overlaps the main thread, so stage seconds may add up to more than the wall time.
Timing is thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import contextmanager


class StageTimes:
    """Accumulated seconds and calls per stage name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
            self.calls[stage] = self.calls.get(stage, 0) + 1

    @contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - start)

    def timed(self, stage: str, fn: Callable) -> Callable:
        """``fn`` with every call timed under ``stage``."""
        def call(*args, **kwargs):
            with self(stage):
                return fn(*args, **kwargs)
        return call

    def instrument(self, predictor) -> None:
        """Time a :class:`~persam.models.GuidedPredictor`'s cache key, cache I/O and encoder calls.

        The encoder is wrapped in an object that keeps its ``id`` (it is part of the cache key); wrapping
        twice is a no-op."""
        if getattr(predictor, "_stage_times", None) is self:
            return
        predictor._stage_times = self
        predictor.encoder = _TimedEncoder(predictor.encoder, self)
        if predictor.cache is not None:
            cache = predictor.cache
            cache.key = self.timed("cache_key", cache.key)
            cache.get = self.timed("cache_get", cache.get)
            cache.put = self.timed("cache_put", cache.put)

    def summary(self) -> dict[str, dict]:
        """{stage: {"seconds": total, "calls": n}}, in the order stages were first seen."""
        with self._lock:
            return {k: {"seconds": round(v, 6), "calls": self.calls[k]} for k, v in self.seconds.items()}


class _TimedEncoder:
    """An encoder backend whose calls are timed as the ``encoder`` stage; same ``id`` as the one it wraps."""

    def __init__(self, encoder, times: StageTimes) -> None:
        self.inner, self.id, self._times = encoder, encoder.id, times

    def __call__(self, x):
        with self._times("encoder"):
            return self.inner(x)
