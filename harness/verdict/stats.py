"""Confidence intervals the verifier decides on, and how many more calls would decide.

Pure functions of counts and values (scipy.special for the normal and binomial laws:
scipy.stats would cost every command 0.6 s of import; tests hold these to scipy.stats).

Proportions: the Wilson score interval (Wilson 1927; Newcombe 1998, method 3),
the set of p the score test |p_hat - p| / sqrt(p (1 - p) / n) <= z accepts.

Quantiles: the distribution-free interval from order statistics (Hahn & Meeker,
"Statistical Intervals", 1991, section 5.2; Meeker, Hahn & Escobar 2017, 5.3).
For the q-quantile of n values sorted x_(1) <= ... <= x_(n), and B ~ Binomial(n, q),
P(x_(l) <= x_q <= x_(u)) >= P(l <= B <= u - 1). The ranks are equal-tailed:

    l = B^-1(alpha / 2)          u = B^-1(1 - alpha / 2) + 1

with B^-1(p) the smallest k with P(B <= k) >= p (as scipy's `binom.ppf`). Each bound
alone then holds with confidence >= 1 - alpha / 2, both together >= 1 - alpha
(conservative: ranks are whole numbers). l < 1 means there is no lower bound and
u > n no upper bound: too few values for that quantile at that confidence.
The point estimate is the nearest-rank value x_(ceil(n q)), as in callproof.harness.verdict.summary.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

import numpy as np
from scipy import special

CONFIDENCE = 0.95
# Beyond this many calls we say a line cannot be settled by more of the same.
_MAX_CALLS = 10**9


def z_score(confidence: float = CONFIDENCE) -> float:
    """Two-sided standard normal quantile: 1.959964 for 95%."""
    return float(special.ndtri(1 - (1 - confidence) / 2))


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval (low, high) of a proportion successes / n."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n > 0 (got {successes} of {n})")
    low, high = _wilson_of_share(successes / n, n, confidence)
    # At 0 and n the interval touches 0 and 1 exactly; keep float dust out.
    return (0.0 if successes == 0 else low), (1.0 if successes == n else high)


def proportion_calls_to_settle(
    successes: int, n: int, threshold: float, comparison: str, confidence: float = CONFIDENCE
) -> int | None:
    """Calls beyond n after which the Wilson interval clears `threshold`, if the observed share held.

    The assumption: later calls succeed in the same proportion successes / n. The
    threshold leaves the interval once (p_hat - t)^2 >= z^2 t (1 - t) / N, which gives
    N directly. None when no number of calls settles it (p_hat equals the threshold).
    """
    p, t = successes / n, threshold
    if p == t or t * (1 - t) == 0:
        return None
    z2 = z_score(confidence) ** 2
    estimate = z2 * t * (1 - t) / (p - t) ** 2
    if estimate > _MAX_CALLS:
        return None

    def settled(total: int) -> bool:
        return side(*_wilson_of_share(p, total, confidence), t, comparison) != 0

    total = max(n + 1, math.ceil(estimate))
    while not settled(total):  # float rounding near the boundary: step to the exact N
        total += 1
    while total - 1 > n and settled(total - 1):
        total -= 1
    return total - n


def _wilson_of_share(p: float, n: int, confidence: float) -> tuple[float, float]:
    """Wilson interval of a share p (not necessarily a whole count) over n trials."""
    z2 = z_score(confidence) ** 2
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = math.sqrt(z2) / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def side(low: float | None, high: float | None, threshold: float, comparison: str) -> int:
    """Where an interval lies against a threshold the value must meet (">=" or "<="):
    +1 the whole interval meets it, -1 the whole interval misses it, 0 it straddles.
    A missing bound (None) is unbounded on that side."""
    if comparison == ">=":
        if low is not None and low >= threshold:
            return 1
        return -1 if high is not None and high < threshold else 0
    if comparison == "<=":
        if high is not None and high <= threshold:
            return 1
        return -1 if low is not None and low > threshold else 0
    raise ValueError(f"comparison must be '>=' or '<=' (got {comparison!r})")


def order_statistic_ranks(n: int, q: float, confidence: float = CONFIDENCE) -> tuple[int | None, int | None]:
    """1-based ranks (l, u) of the distribution-free interval [x_(l), x_(u)] for the q-quantile.

    None for a bound that n values cannot give (l < 1 or u > n).
    """
    if n <= 0:
        return None, None
    alpha = 1 - confidence
    low = _binomial_quantile(alpha / 2, n, q)
    high = _binomial_quantile(1 - alpha / 2, n, q) + 1
    return (low if low >= 1 else None), (high if high <= n else None)


def coverage(n: int, q: float, low_rank: int, high_rank: int) -> float:
    """P(x_(l) <= x_q <= x_(u)) for a continuous distribution: P(l <= B <= u - 1)."""
    return _binomial_cdf(high_rank - 1, n, q) - _binomial_cdf(low_rank - 1, n, q)


def _binomial_cdf(k: int, n: int, q: float) -> float:
    """P(B <= k) for B ~ Binomial(n, q)."""
    if k < 0:
        return 0.0
    return 1.0 if k >= n else float(special.bdtr(k, n, q))


def _binomial_quantile(p: float, n: int, q: float) -> int:
    """B^-1(p): the smallest k with P(B <= k) >= p, for 0 < p < 1.

    The continuous inverse of the CDF in k (bdtrik), rounded up, then one step down where
    that still reaches p: scipy's own method for `binom.ppf`."""
    if q <= 0:
        return 0
    if q >= 1:
        return n
    k = math.ceil(special.bdtrik(p, n, q))
    below = max(k - 1, 0)
    return below if _binomial_cdf(below, n, q) >= p else min(k, n)


@dataclasses.dataclass(frozen=True)
class QuantileEstimate:
    """A quantile of n values with its distribution-free interval.

    Values may hold math.inf for an observation known only to be larger than every
    finite one (a call never answered before the ring timeout): an upper bound that
    lands on one is None (unbounded); a lower bound or point estimate is math.inf.
    """

    q: float
    n: int
    value: float | None  # None when n is 0
    low: float | None  # None: no lower bound from n values
    high: float | None  # None: no upper bound (too few values, or an unbounded value)
    low_rank: int | None
    high_rank: int | None


def quantile_interval(values: Iterable[float], q: float, confidence: float = CONFIDENCE) -> QuantileEstimate:
    data = np.sort(np.asarray(list(values), dtype=float))
    n = int(data.size)
    if n == 0:
        return QuantileEstimate(q, 0, None, None, None, None, None)
    point = float(data[nearest_rank(n, q) - 1])
    low_rank, high_rank = order_statistic_ranks(n, q, confidence)
    low = float(data[low_rank - 1]) if low_rank is not None else None
    high = float(data[high_rank - 1]) if high_rank is not None else None
    if high is not None and math.isinf(high):
        high = None
    return QuantileEstimate(q, n, point, low, high, low_rank, high_rank)


def percentiles(values: Iterable[float | None], points: tuple[int, ...] = (50, 95, 99)) -> dict[str, float | None]:
    """Nearest-rank percentiles {"p50": ...} of the values that are not None (None when there are none).

    Every reported value is one a call really had (numpy's "inverted_cdf").
    """
    data = np.sort(np.asarray([v for v in values if v is not None], dtype=float))
    if data.size == 0:
        return {f"p{p}": None for p in points}
    return {f"p{p}": round(float(data[nearest_rank(data.size, p / 100) - 1]), 3) for p in points}


def nearest_rank(n: int, q: float) -> int:
    """The rank ceil(n q) (at least 1): numpy's "inverted_cdf" percentile."""
    return max(1, math.ceil(n * q - 1e-9))


def quantile_calls_to_settle(
    values: Iterable[float], q: float, threshold: float, comparison: str, confidence: float = CONFIDENCE
) -> int | None:
    """Calls beyond n after which the q-quantile's interval clears `threshold`, if the observed
    distribution held (the same share of values on each side of the threshold).

    An order-statistic bound clears t exactly when enough values lie on its side of t:
    for "<=" (upper quantiles), x_(u) <= t iff #{x <= t} >= u, and x_(l) > t iff
    #{x <= t} < l; for ">=" (lower quantiles), x_(l) >= t iff #{x < t} < l, and
    x_(u) < t iff #{x < t} >= u. None when no number of calls settles it.
    """
    data = np.asarray(list(values), dtype=float)
    n = int(data.size)
    if n == 0:
        return None
    if comparison == "<=":
        share_below = float(np.mean(data <= threshold))  # values meeting the line
    else:
        share_below = float(np.mean(data < threshold))  # values missing the line

    def settled(total: int) -> bool:
        count = share_below * total
        low_rank, high_rank = order_statistic_ranks(total, q, confidence)
        if comparison == "<=":
            return (high_rank is not None and count >= high_rank) or (low_rank is not None and count < low_rank)
        return (low_rank is not None and count < low_rank) or (high_rank is not None and count >= high_rank)

    total = n + 1
    while not settled(total):
        total *= 2
        if total > _MAX_CALLS:
            return None
    lower = max(n, total // 2)  # unsettled (or n itself); bisect for the first settled N
    while total - lower > 1:
        middle = (lower + total) // 2
        if settled(middle):
            total = middle
        else:
            lower = middle
    return total - n
