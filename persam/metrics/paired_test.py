"""A paired comparison of two methods over objects: a sign-flip test, the interval it implies, Holm's correction
within a family of comparisons, and the verdicts they allow.

The unit is the object (a sequence in video); the data are the per-object differences ``d`` (method minus baseline,
in points, on the objects both ran), so what an object makes hard for both cancels out. The test asks whether the
mean difference could be a shift ``delta``: if the two methods differed by ``delta`` on every object up to noise
symmetric about it, each ``d_i - delta`` would be as likely to have either sign, so the observed mean is compared
with the means under sign flips: all ``2^n`` sign patterns where ``n <= EXACT_UP_TO`` (an exact test), else
:data:`FLIPS` patterns drawn with seed :data:`SEED` (Monte Carlo, the observed pattern counted among them).
A pattern that flips the objects ``F`` gives a flipped mean at least the observed one exactly when ``delta`` is at
least the mean of ``d`` over ``F`` (Hartigan 1969), so the p-value of every ``delta`` and the interval (every
``delta`` the test does not reject) are read from one sorted list of subset means: the interval a table prints and
the verdict beside it never disagree.

Each comparison is computed once, on a canonical form of its differences (sorted, and the sign that is the larger
of ``d`` and ``-d``), so ``A - B`` is exactly the mirror of ``B - A`` (difference negated, interval negated and
swapped, better <-> worse) and the object order does not matter.

Verdicts (:func:`decide`): *better* / *worse* when the interval excludes 0; *equivalent* when it lies within
``+-margin`` (:data:`MARGIN` points; both one-sided tests at the margins reject: TOST); else *undecided*. A
comparison over fewer than :data:`MIN_OBJECTS` objects gets no verdict (with 3 objects a sign-flip test cannot
reject at 5% at all). Generated claims are Holm-corrected within a named family (:func:`holm`): each comparison is
decided at the level Holm's step-down reaches it, and its interval is printed at that level.
:func:`non_inferior` is the one-sided test that ``d > -margin``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

ALPHA = 0.05  # family-wise error rate of a family's claims
MARGIN = 2.0  # points (IoU or J&F in %): the non-inferiority and equivalence margin
MIN_OBJECTS = 8  # fewer objects: no verdict (a sign-flip test on 5 objects cannot reject at 5%)
EXACT_UP_TO = 16  # objects: every sign pattern up to this many (65,535 subsets), Monte Carlo above
FLIPS = 20_000  # Monte Carlo sign patterns (half drawn, half their mirror images), with SEED
SEED = 0
TIE = 0.5  # points: a smaller per-object difference is a tie in the wins / ties / losses count

BETTER, WORSE, EQUIVALENT, UNDECIDED = "better", "worse", "equivalent", "undecided"
TOO_FEW = f"too few objects (n < {MIN_OBJECTS})"
VERDICT, NON_INFERIORITY = "verdict", "non-inferiority"  # the two kinds of test a family can hold


@lru_cache(maxsize=64)
def _patterns(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The flipped subsets as a 0/1 matrix (one row per pattern, the empty one left out) and their sizes."""
    if n <= EXACT_UP_TO:
        masks = (np.arange(1, 2**n)[:, None] >> np.arange(n)) & 1
    else:
        drawn = np.random.default_rng(SEED).random((FLIPS // 2, n)) < 0.5
        # Each pattern with its mirror image: on a difference list that is its own negative (sorted) the subset
        # means are then symmetric about 0, so such a comparison is its own mirror.
        masks = np.concatenate([drawn, drawn[:, ::-1]]).astype(np.int64)
        masks = masks[masks.sum(axis=1) > 0]
    masks = masks.astype(float)
    return masks, masks.sum(axis=1)


@lru_cache(maxsize=256)
def _subset_means(canonical: tuple[float, ...]) -> np.ndarray:
    """The sorted means of ``canonical`` over every pattern's flipped subset (read-only)."""
    masks, sizes = _patterns(len(canonical))
    means = np.sort(masks @ np.array(canonical) / sizes)
    means.flags.writeable = False
    return means


def _canonical(d: np.ndarray) -> tuple[int, tuple[float, ...]]:
    """``(sign, values)``: the sorted differences as ``sign * d`` with the sign whose sorted list is larger."""
    up, down = tuple(np.sort(d).tolist()), tuple(np.sort(-d).tolist())
    return (1, up) if up >= down else (-1, down)


@dataclass(frozen=True)
class Comparison:
    """A method against a baseline on the ``n`` objects both ran (differences in points, method minus baseline)."""

    differences: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def mean_difference(self) -> float:
        return float(np.mean(self.differences))

    @property
    def wins(self) -> int:
        return sum(d >= TIE for d in self.differences)

    @property
    def ties(self) -> int:
        return sum(abs(d) < TIE for d in self.differences)

    @property
    def losses(self) -> int:
        return sum(d <= -TIE for d in self.differences)

    def mirrored(self) -> Comparison:
        """The baseline against the method."""
        return Comparison(tuple(-d for d in self.differences))

    def _means(self) -> np.ndarray:
        """The sorted subset means of these differences, from the canonical form's (mirrored where it is -d)."""
        sign, canonical = _canonical(np.asarray(self.differences, dtype=float))
        means = _subset_means(canonical)
        return means if sign == 1 else -means[::-1]

    def p_above(self, delta: float) -> float:
        """One-sided p-value against "the mean difference is at most ``delta``"."""
        means = self._means()
        return (1 + int(np.searchsorted(means, delta, side="right"))) / (len(means) + 1)

    def p_below(self, delta: float) -> float:
        """One-sided p-value against "the mean difference is at least ``delta``"."""
        means = self._means()
        return (1 + len(means) - int(np.searchsorted(means, delta, side="left"))) / (len(means) + 1)

    def _rank(self, tail: float) -> int:
        """How many subset means a one-sided test at level ``tail`` may have beyond the shift it rejects."""
        return math.floor(tail * (len(self._means()) + 1) + 1e-9) - 1

    def lower(self, tail: float) -> float:
        """The smallest shift a one-sided test at level ``tail`` does not reject (-inf: it rejects none)."""
        k = self._rank(tail)
        return float(self._means()[k]) if k >= 0 else -math.inf

    def upper(self, tail: float) -> float:
        """The largest shift a one-sided test at level ``tail`` does not reject (+inf: it rejects none)."""
        k = self._rank(tail)
        return float(self._means()[-1 - k]) if k >= 0 else math.inf

    def interval(self, level: float = ALPHA) -> tuple[float, float]:
        """The two-sided ``1 - level`` interval: every shift the test at ``level`` does not reject."""
        return self.lower(level / 2), self.upper(level / 2)

    def p_value(self, kind: str = VERDICT, margin: float = MARGIN) -> float:
        """The p-value Holm orders a family by: for a verdict the smaller of "differs from 0" (two-sided) and
        "within the margin" (TOST, on the same two-sided scale); for non-inferiority, "above -margin"."""
        if kind == NON_INFERIORITY:
            return self.p_above(-margin)
        differs = 2 * min(self.p_above(0.0), self.p_below(0.0))
        within = 2 * max(self.p_above(-margin), self.p_below(margin))
        return min(1.0, differs, within)


def paired(method, baseline) -> Comparison:
    """``method`` against ``baseline``: two equal-length sequences of per-object scores, object i in both."""
    a, b = np.asarray(method, dtype=float), np.asarray(baseline, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired comparison needs the same objects on both sides ({a.shape} against {b.shape})")
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("paired comparison: a per-object score is NaN (an object without a score)")
    return Comparison(tuple((a - b).tolist()))


def rejects_zero(differences, level: float = ALPHA) -> np.ndarray:
    """For each row of per-object differences (many comparisons of ``n`` objects at once: simulations), whether the
    two-sided test at ``level`` rejects a mean difference of 0, i.e. whether :func:`decide` says better or worse."""
    rows = np.asarray(differences, dtype=float)
    canonical = np.array([_canonical(row)[1] for row in rows])  # the sign does not change a two-sided decision
    masks, sizes = _patterns(rows.shape[1])
    k = math.floor(level / 2 * (len(masks) + 1) + 1e-9) - 1
    out = np.zeros(len(rows), dtype=bool)
    for start in range(0, len(rows), 256):  # 256 rows of subset means at a time: a few tens of MB
        means = (masks @ canonical[start:start + 256].T) / sizes[:, None]
        out[start:start + 256] = ((means <= 0).sum(axis=0) <= k) | ((means >= 0).sum(axis=0) <= k)
    return out & (rows.shape[1] >= MIN_OBJECTS)


def decide(c: Comparison, level: float = ALPHA, margin: float = MARGIN) -> str:
    """The verdict of ``c`` at ``level`` (two-sided): better, worse, equivalent within ``margin``, or undecided."""
    if c.n < MIN_OBJECTS:
        return TOO_FEW
    low, high = c.interval(level)
    if low > 0:
        return BETTER
    if high < 0:
        return WORSE
    if -margin < low and high < margin:
        return EQUIVALENT
    return UNDECIDED


def non_inferior(c: Comparison, level: float = ALPHA, margin: float = MARGIN) -> bool:
    """Whether the one-sided test at ``level`` shows the mean difference above ``-margin``."""
    return c.n >= MIN_OBJECTS and c.lower(level) > -margin


def holm(family: list[Comparison], kind: str = VERDICT, alpha: float = ALPHA, margin: float = MARGIN) -> list[float]:
    """The level at which Holm's step-down decides each comparison of one family (NaN: too few objects, not tested).

    Ordered by p-value, the i-th of m tests is decided at ``alpha / (m - i + 1)`` until one is not; that one and
    every later one keep its level (and so are not decided). A verdict's interval printed at its level is then
    consistent with it: the interval excludes 0 (or lies within the margin) exactly when the claim is made."""
    tested = [i for i, c in enumerate(family) if c.n >= MIN_OBJECTS]
    tested.sort(key=lambda i: family[i].p_value(kind, margin))
    levels = [math.nan] * len(family)
    stopped = None
    for step, i in enumerate(tested):
        level = stopped if stopped is not None else alpha / (len(tested) - step)
        levels[i] = level
        decided = (non_inferior(family[i], level, margin) if kind == NON_INFERIORITY
                   else decide(family[i], level, margin) != UNDECIDED)
        if stopped is None and not decided:
            stopped = level
    return levels
