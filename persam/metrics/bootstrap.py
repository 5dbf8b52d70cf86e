"""Uncertainty over objects: a bootstrap interval for a mean, and a paired verdict between two methods.

The unit is the object (a sequence in video): a benchmark's objects are a sample of the objects a user could
bring, so the interval says how much a mean would move on another sample of the same size. Both functions use
a fixed seed and :data:`RESAMPLES` resamples and report the percentile interval (the 2.5th and 97.5th
percentiles of the resampled means), as lm-evaluation-harness's bootstrap does for its metrics.

A paired comparison resamples the per-object differences (method minus baseline, on the objects both ran), so
what an object makes hard for both cancels out. Its verdict is "better" or "worse" only when the interval
excludes 0, else "no detectable difference"; a difference smaller than :data:`TIE` points on one object is a
tie in the wins / ties / losses count.

With very few objects (PerSeg's 3 here) a percentile interval is too narrow to trust (it cannot be wider than
the spread of 3 values): read the pooled column, over every dataset's objects, as a table's headline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESAMPLES = 10_000
SEED = 0
LEVEL = 0.95
TIE = 0.5  # points (IoU or J&F in %): a smaller per-object difference is a tie

BETTER, WORSE, NO_DIFFERENCE = "better", "worse", "no detectable difference"


def _resampled_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(resamples, len(values)))
    return values[picks].mean(axis=1)


def bootstrap_ci(values, resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean of ``values`` (one per object); NaNs are an error."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"bootstrap_ci needs a non-empty list of per-object values, got shape {values.shape}")
    if np.isnan(values).any():
        raise ValueError("bootstrap_ci: a per-object value is NaN (an object without a score)")
    means = _resampled_means(np.sort(values), resamples, seed)  # sorted: the same interval in any object order
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    # A constant sample resamples to the same mean up to rounding: clip so the interval holds the mean.
    mean = values.mean()
    return float(min(low, mean)), float(max(high, mean))


@dataclass(frozen=True)
class Comparison:
    """A method against a baseline on the ``n`` objects both ran (differences in points, method minus baseline)."""

    n: int
    mean_difference: float
    ci_low: float
    ci_high: float
    wins: int
    ties: int
    losses: int

    @property
    def verdict(self) -> str:
        if self.ci_low > 0:
            return BETTER
        if self.ci_high < 0:
            return WORSE
        return NO_DIFFERENCE

    def describe(self) -> str:
        """``+1.23 [-0.40, +2.90], 5 / 3 / 2 (no detectable difference)``."""
        return (f"{self.mean_difference:+.2f} [{self.ci_low:+.2f}, {self.ci_high:+.2f}], "
                f"{self.wins} / {self.ties} / {self.losses} ({self.verdict})")


def paired(method, baseline, resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL) -> Comparison:
    """``method`` against ``baseline``: two equal-length sequences of per-object scores, object i in both."""
    a, b = np.asarray(method, dtype=float), np.asarray(baseline, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired comparison needs the same objects on both sides ({a.shape} against {b.shape})")
    diff = a - b
    low, high = bootstrap_ci(diff, resamples, seed, level)
    return Comparison(n=len(diff), mean_difference=float(diff.mean()), ci_low=low, ci_high=high,
                      wins=int((diff >= TIE).sum()), ties=int((np.abs(diff) < TIE).sum()),
                      losses=int((diff <= -TIE).sum()))
