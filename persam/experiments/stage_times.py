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
        """Time a :class:`~persam.models.GuidedPredictor`'s cache key, cache I/O and encoder calls into these
        times from now on. The encoder is wrapped in an object that keeps its ``id`` (part of the cache key);
        instrumenting the predictor again (a later run reusing it) re-points the wrappers, never nests them."""
        first = getattr(predictor, "_stage_times", None) is None
        predictor._stage_times = self
        if not first:
            return
        predictor.encoder = _TimedEncoder(predictor.encoder, predictor)
        cache = predictor.cache
        if cache is not None:
            for stage, name in (("cache_key", "key"), ("cache_get", "get"), ("cache_put", "put")):
                setattr(cache, name, _timed_by(predictor, stage, getattr(cache, name)))

    def summary(self) -> dict[str, dict]:
        """{stage: {"seconds": total, "calls": n}}, in the order stages were first seen."""
        with self._lock:
            return {k: {"seconds": round(v, 6), "calls": self.calls[k]} for k, v in self.seconds.items()}


def _timed_by(predictor, stage: str, fn: Callable) -> Callable:
    """``fn`` timed under ``stage`` into whichever :class:`StageTimes` last instrumented ``predictor``."""
    def call(*args, **kwargs):
        with predictor._stage_times(stage):
            return fn(*args, **kwargs)
    return call


class _TimedEncoder:
    """An encoder backend whose calls are timed as the ``encoder`` stage; same ``id`` as the one it wraps."""

    def __init__(self, encoder, predictor) -> None:
        self.inner, self.id, self._predictor = encoder, encoder.id, predictor

    def __call__(self, x):
        with self._predictor._stage_times("encoder"):
            return self.inner(x)
