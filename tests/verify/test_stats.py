"""Wilson and order-statistic intervals against published values and scipy.stats as the independent reference:
`binomtest(...).proportion_ci(method="wilson")` for Wilson, the binomial law for the ranks, and the Beta law of
order statistics (x_(k) of n uniforms is Beta(k, n + 1 - k)) for the coverage."""

from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats

from callproof.harness.verdict.stats import (
    _wilson_of_share,  # the bound of a share that is not a whole count
    coverage,
    nearest_rank,
    order_statistic_ranks,
    percentiles,
    proportion_calls_to_settle,
    quantile_calls_to_settle,
    quantile_interval,
    side,
    wilson_interval,
    z_score,
)

Z = 1.959963984540054  # standard normal 0.975 quantile


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(B <= k), B ~ Binomial(n, p)."""
    return float(scipy_stats.binom.cdf(k, n, p))


def test_z_is_the_normal_975_quantile():
    assert z_score() == pytest.approx(Z, abs=1e-12)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # Newcombe, "Two-sided confidence intervals for the single proportion: comparison of
        # seven methods", Statistics in Medicine 17 (1998), Table I, method 3 (score, no
        # continuity correction), to the 4 decimals printed there.
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombe_1998(successes, n, low, high):
    got = wilson_interval(successes, n)
    assert got[0] == pytest.approx(low, abs=5e-5) and got[1] == pytest.approx(high, abs=5e-5)


def test_wilson_closed_forms_at_the_edges():
    # x = 0: the interval is [0, z^2 / (n + z^2)]; 0/10 -> 3.841459 / 13.841459 = 0.277532.
    assert wilson_interval(0, 10) == (0.0, pytest.approx(Z**2 / (10 + Z**2), abs=1e-12))
    assert wilson_interval(0, 10)[1] == pytest.approx(0.277532, abs=1e-6)
    # x = n: [n / (n + z^2), 1]; 182/182 (the smoke run) -> 182 / 185.841459 = 0.979329.
    assert wilson_interval(182, 182) == (pytest.approx(0.979329, abs=1e-6), 1.0)
    # 90/100 by hand: centre (0.9 + z^2/200) / (1 + z^2/100) = 0.919207 / 1.038415 = 0.885202;
    # half z / 1.038415 * sqrt(0.0009 + z^2 / 40000) = 1.887458 * 0.031560 = 0.059568.
    low, high = wilson_interval(90, 100)
    assert low == pytest.approx(0.825634, abs=1e-5) and high == pytest.approx(0.944770, abs=1e-5)


@pytest.mark.parametrize("confidence", [0.90, 0.95, 0.99])
@pytest.mark.parametrize("n", [1, 2, 5, 10, 29, 100, 263, 1000, 20_000])
def test_wilson_agrees_with_scipy_over_a_grid(n, confidence):
    for successes in sorted({0, 1, n // 7, n // 3, n // 2, n - 1, n}):
        reference = scipy_stats.binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
        low, high = wilson_interval(successes, n, confidence)
        assert low == pytest.approx(reference.low, abs=1e-12) and high == pytest.approx(reference.high, abs=1e-12)


def test_wilson_rejects_impossible_counts():
    for successes, n in ((1, 0), (-1, 5), (6, 5)):
        with pytest.raises(ValueError):
            wilson_interval(successes, n)


@pytest.mark.parametrize(
    ("n", "q", "ranks", "cover"),
    [
        # The median's classic distribution-free 95% intervals (e.g. Conover, Practical
        # Nonparametric Statistics, table A3): n = 10 -> (x(2), x(9)), coverage
        # 1 - 2 (1 + 10) / 2^10 = 0.978516; n = 20 -> (x(6), x(15)),
        # 1 - 2 (1 + 20 + 190 + 1140 + 4845 + 15504) / 2^20 = 0.958611.
        (10, 0.5, (2, 9), 1 - 2 * 11 / 1024),
        (20, 0.5, (6, 15), 1 - 2 * 21700 / 2**20),
    ],
)
def test_order_statistic_ranks_of_the_median(n, q, ranks, cover):
    assert order_statistic_ranks(n, q) == ranks
    assert coverage(n, q, *ranks) == pytest.approx(cover, abs=1e-12)


def test_p95_upper_bound_needs_72_values():
    # The maximum bounds p95 with >= 97.5% confidence once 0.95^n <= 0.025:
    # 0.95^71 = 0.026220, 0.95^72 = 0.024909. Mirror image for p5's lower bound.
    assert order_statistic_ranks(71, 0.95)[1] is None
    assert order_statistic_ranks(72, 0.95)[1] == 72
    assert order_statistic_ranks(71, 0.05)[0] is None
    assert order_statistic_ranks(72, 0.05)[0] == 1
    assert order_statistic_ranks(0, 0.95) == (None, None)


@pytest.mark.parametrize("n", [30, 72, 100, 182, 500])
@pytest.mark.parametrize("q", [0.05, 0.5, 0.95])
def test_ranks_are_the_equal_tailed_binomial_ranks(n, q):
    """l is the smallest k with P(B <= k) >= 0.025, u - 1 the smallest with P(B <= k) >= 0.975."""
    low, high = order_statistic_ranks(n, q)
    if low is not None:
        assert binom_cdf(low - 1, n, q) < 0.025 <= binom_cdf(low, n, q)
    else:
        assert binom_cdf(0, n, q) >= 0.025
    if high is not None:
        assert binom_cdf(high - 2, n, q) < 0.975 <= binom_cdf(high - 1, n, q)
    else:
        assert binom_cdf(n - 1, n, q) < 0.975
    if low is not None and high is not None:
        assert binom_cdf(high - 1, n, q) - binom_cdf(low - 1, n, q) >= 0.95


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_ranks_equal_scipys_binomial_quantiles_over_a_grid(confidence):
    """The ranks come from scipy.special (scipy.stats costs each command 0.6 s of import): the same as
    scipy.stats' `binom.ppf` at every n and quantile the verifier can meet, the extremes included."""
    alpha = 1 - confidence
    for n in [*range(1, 300), 1_000, 10_000, 1_000_000]:
        for q in (0.0, 1e-6, 0.01, 0.05, 0.1, 0.5, 0.9, 0.95, 0.99, 1 - 1e-6, 1.0):
            low = int(scipy_stats.binom.ppf(alpha / 2, n, q))
            high = int(scipy_stats.binom.ppf(1 - alpha / 2, n, q)) + 1
            expected = (low if low >= 1 else None), (high if high <= n else None)
            assert order_statistic_ranks(n, q, confidence) == expected, (n, q)


def beta_coverage(n: int, q: float, low_rank: int, high_rank: int) -> float:
    """P(x_(l) <= x_q < x_(u)) for n continuous values, from the Beta law of each order statistic."""
    beta = scipy_stats.beta
    return float(beta.cdf(q, low_rank, n + 1 - low_rank) - beta.cdf(q, high_rank, n + 1 - high_rank))


@pytest.mark.parametrize("q", [0.05, 0.5, 0.95])
def test_coverage_is_the_order_statistics_own_law_and_holds_the_confidence(q):
    for n in range(1, 400):
        low, high = order_statistic_ranks(n, q)
        for rank in (low, high):  # each bound alone holds with >= 97.5%
            if rank is not None:
                one_sided = scipy_stats.beta.cdf(q, rank, n + 1 - rank)
                assert (one_sided if rank == low else 1 - one_sided) >= 0.975 - 1e-12, (n, rank)
        if low is not None and high is not None:
            assert coverage(n, q, low, high) == pytest.approx(beta_coverage(n, q, low, high), abs=1e-9)
            assert coverage(n, q, low, high) >= 0.95


def test_quantile_interval_reads_the_ranked_values():
    values = [float(v) for v in range(100, 0, -1)]  # 1..100, unsorted
    est = quantile_interval(values, 0.95)
    assert (est.value, est.low, est.high, est.low_rank, est.high_rank, est.n) == (95.0, 90.0, 100.0, 90, 100, 100)
    assert quantile_interval([], 0.95).value is None
    # An unbounded value (a call never answered) at the upper rank leaves no upper bound.
    est = quantile_interval([1.0] * 80 + [math.inf] * 20, 0.95)
    assert (est.value, est.low, est.high) == (math.inf, math.inf, None)


def test_percentiles_are_nearest_rank():
    assert percentiles(range(1, 101)) == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert percentiles([3.0, None, 1.0, 2.0], (5, 50)) == {"p5": 1.0, "p50": 2.0}
    assert nearest_rank(100, 0.07) == 7  # 100 * 0.07 is 7.000000000000001 in floating point


def test_side_of_an_interval():
    assert side(0.95, 0.99, 0.95, ">=") == 1  # the bound on the threshold counts as clearing it
    assert side(0.90, 0.9499, 0.95, ">=") == -1
    assert side(0.94, 0.96, 0.95, ">=") == 0
    assert side(None, 0.99, 0.95, ">=") == 0  # no lower bound: cannot clear
    assert side(1.0, 2.0, 2.0, "<=") == 1
    assert side(2.0001, 3.0, 2.0, "<=") == -1
    assert side(1.0, None, 2.0, "<=") == 0
    with pytest.raises(ValueError):
        side(1, 2, 3, "<")


def test_calls_to_settle_a_proportion():
    # 97/100 answered against >= 95%: N = ceil(z^2 * 0.95 * 0.05 / 0.02^2) = ceil(456.17) = 457.
    assert proportion_calls_to_settle(97, 100, 0.95, ">=") == 357
    # Exactly at N: the bound of a 97% share clears 0.95 at 457 calls, not at 456.
    assert _wilson_of_share(0.97, 457, 0.95)[0] >= 0.95 > _wilson_of_share(0.97, 456, 0.95)[0]
    # 2/100 ISA against <= 3%: N >= z^2 * 0.03 * 0.97 / 0.01^2 = 1117.9 -> 1118.
    assert proportion_calls_to_settle(2, 100, 0.03, "<=") == 1018
    # 94/100 against >= 95%: more calls would FAIL it, strictly: z^2 * 0.0475 / 0.01^2 = 1824.7 -> 1825.
    assert proportion_calls_to_settle(94, 100, 0.95, ">=") == 1725
    assert proportion_calls_to_settle(95, 100, 0.95, ">=") is None  # on the threshold: never


def test_calls_to_settle_a_quantile():
    # 97% of values meet p95 <= 96.5: settled when 0.97 N >= u(N) (exact binomial ranks).
    more = quantile_calls_to_settle([float(v) for v in range(100)], 0.95, 96.5, "<=")
    total = 100 + more

    def upper_rank(n: int) -> int:
        k = 0
        while binom_cdf(k, n, 0.95) < 0.975:
            k += 1
        return k + 1

    assert 0.97 * total >= upper_rank(total) and 0.97 * (total - 1) < upper_rank(total - 1)
    # 50 values all meeting the line: only the count is short (u needs 72 values).
    assert quantile_calls_to_settle([1.0] * 50, 0.95, 2.0, "<=") == 22
    # A lower quantile: 10% of MOS values under 3.6 against p5 >= 3.6 would FAIL with more calls.
    assert quantile_calls_to_settle([3.0] * 10 + [4.0] * 90, 0.05, 3.6, ">=") is not None
    assert quantile_calls_to_settle([3.0] * 5 + [4.0] * 95, 0.05, 3.6, ">=") is None  # share = q exactly
