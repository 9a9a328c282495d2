"""Confidence intervals for evaluation results: Wilson for rates, Student t or bootstrap for means.

Pure functions over plain numbers, so the statistics of a results table can be
checked by hand:

>>> lo, hi = wilson_interval(8, 10)
>>> round(lo, 4), round(hi, 4)
(0.4902, 0.9433)
>>> lo, hi = mean_interval([1.0, -1.0, 2.0, -2.0, 1.0])
>>> round(lo, 3), round(hi, 3)
(-1.84, 2.24)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

CONFIDENCE = 0.95


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}; e.g. 0.95")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a binomial rate; ``(0, 1)`` when there are no trials.

    Unlike the normal (Wald) interval it stays inside [0, 1] and keeps its coverage near 0 and 1:

    >>> wilson_interval(0, 20)[0], round(wilson_interval(0, 20)[1], 4)
    (0.0, 0.1611)
    """
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got successes={successes}, trials={trials}")
    if trials == 0:
        return (0.0, 1.0)
    z = _z(confidence)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == trials else min(1.0, centre + half)
    return (lo, hi)


def t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t distribution with ``df`` degrees of freedom.

    Hill's (1970) algorithm 396, accurate to about 1e-6 for ``df >= 1`` (no scipy needed):

    >>> round(t_quantile(0.975, 10), 4), round(t_quantile(0.975, 1), 3), round(t_quantile(0.975, 10**6), 4)
    (2.2281, 12.706, 1.96)
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        q = 2 * p - 1
        return q * math.sqrt(2 / (1 - q * q))
    # Hill's approximation for two-sided tail probability 2 * (1 - p).
    two_tail = 2 * (1 - p)
    n = float(df)
    a = 1 / (n - 0.5)
    b = 48 / (a * a)
    c = ((20700 * a / b - 98) * a - 16) * a + 96.36
    d = ((94.5 / (b + c) - 3) / b + 1) * math.sqrt(a * math.pi / 2) * n
    x = d * two_tail
    y = x ** (2 / n)
    if y > 0.05 + a:
        x = NormalDist().inv_cdf(two_tail / 2)
        y = x * x
        if n < 5:
            c += 0.3 * (n - 4.5) * (x + 0.6)
        c = (((0.05 * d * x - 5) * x - 7) * x - 2) * x + b + c
        y = (((((0.4 * y + 6.3) * y + 36) * y + 94.5) / c - y - 3) / b + 1) * x
        y = math.expm1(a * y * y)
    else:
        y = ((1 / (((n + 6) / (n * y) - 0.089 * d - 0.822) * (n + 2) * 3) + 0.5 / (n + 4)) * y - 1) * (n + 1) / (
            n + 2
        ) + 1 / y
    return math.sqrt(n * y)


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student-t interval of the mean; ``(-inf, inf)`` with fewer than two values, the point itself
    when every value is equal."""
    n = len(values)
    if n < 2:
        return (-math.inf, math.inf)
    x = np.asarray(values, dtype=float)
    mean = float(x.mean())
    half = t_quantile(0.5 + confidence / 2, n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
    return (mean - half, mean + half)


def bootstrap_interval(
    values: Sequence[float], confidence: float = CONFIDENCE, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (seeded, so the same values give the same interval).

    >>> bootstrap_interval([1.0, 1.0, 1.0])
    (1.0, 1.0)
    """
    n = len(values)
    if n < 2:
        return (-math.inf, math.inf)
    x = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return (float(lo), float(hi))


CI_METHODS = ("t", "bootstrap")
"""Methods for the confidence interval of a mean, by name (``--ci``)."""


def mean_ci(
    values: Sequence[float], method: str = "t", confidence: float = CONFIDENCE, seed: int = 0
) -> tuple[float, float]:
    """The interval of the mean by ``method``: ``t`` (:func:`mean_interval`) or ``bootstrap``."""
    if method == "t":
        return mean_interval(values, confidence)
    if method == "bootstrap":
        return bootstrap_interval(values, confidence, seed=seed)
    raise ValueError(f"unknown interval method {method!r}; valid: {list(CI_METHODS)}")
