"""Uncertainty over objects: a bootstrap interval for the mean of one method's per-object scores.

The unit is the object (a sequence in video): a benchmark's objects are a sample of the objects a user could
bring, so the interval says how much a mean would move on another sample of the same size. :func:`bootstrap_ci`
uses a fixed seed and :data:`RESAMPLES` resamples and reports the percentile interval (the 2.5th and 97.5th
percentiles of the resampled means). It describes a mean; it decides nothing. :func:`ratio_bootstrap_ci` does
the same for a pooled ratio (instances found over instances there, summed over objects), resampling objects.
(lm-evaluation-harness, sometimes cited for this, reports an analytic standard error for means and the
bootstrap's standard deviation for other metrics, not percentile intervals.) With few objects the percentile
interval is too narrow (with 3 it is about the range of the 3 values). Comparisons between two methods are not
read from these intervals: they use the paired sign-flip test of :mod:`persam.metrics.paired_test`.
"""

from __future__ import annotations

import numpy as np

RESAMPLES = 10_000
SEED = 0
LEVEL = 0.95


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


def ratio_bootstrap_ci(numerators, denominators, resamples: int = RESAMPLES, seed: int = SEED,
                       level: float = LEVEL) -> tuple[float, float]:
    """The percentile bootstrap interval of sum(numerators) / sum(denominators), one pair per object, the objects
    resampled (a resample whose denominators sum to 0 is left out)."""
    num, den = np.asarray(numerators, dtype=float), np.asarray(denominators, dtype=float)
    if num.ndim != 1 or num.shape != den.shape or len(num) == 0:
        raise ValueError(f"ratio_bootstrap_ci needs one numerator and denominator per object, got {num.shape}, "
                         f"{den.shape}")
    if not den.sum():
        raise ValueError("ratio_bootstrap_ci: the denominators sum to 0")
    order = np.lexsort((num, den))  # the same interval in any object order
    num, den = num[order], den[order]
    picks = np.random.default_rng(seed).integers(0, len(num), size=(resamples, len(num)))
    tops, bottoms = num[picks].sum(axis=1), den[picks].sum(axis=1)
    ratios = tops[bottoms > 0] / bottoms[bottoms > 0]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    ratio = num.sum() / den.sum()
    return float(min(low, ratio)), float(max(high, ratio))
