"""callproof.harness.scenario.plan: shapes, caps, Poisson arrivals and duration draws, against hand-checked numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from callproof.harness.scenario import plan
from callproof.harness.scenario.model import BreakerSettings, Load, Spike, TalkTime


def make_load(**changes) -> Load:
    values = dict(
        mode="concurrency",
        peak_concurrent=20,
        peak_cps=None,
        multiplier=1.0,
        shape="steady",
        ramp_up_s=0.0,
        duration_s=60.0,
        ramp_down_s=0.0,
        steps=4,
        spike=None,
        max_cps=1000.0,
        max_concurrent=1000,
        breaker=BreakerSettings(min_answer_rate=0.5, window_s=30.0, min_calls=20),
        processes=None,
    )
    values.update(changes)
    return Load(**values)


# --- shapes ----------------------------------------------------------------------


def test_steady_ramps_linearly_with_the_multiplier():
    load = make_load(peak_concurrent=20, multiplier=2.0, ramp_up_s=10, duration_s=60, ramp_down_s=10)
    # 40 at the peak; halfway up the 10 s ramp is 20; 1 s before the end is 4.
    times = [-1, 0, 5, 10, 30, 50, 55, 59, 60, 61]
    assert [plan.concurrency_at(load, t) for t in times] == [0, 0, 20, 40, 40, 40, 20, 4, 0, 0]


def test_step_climbs_and_descends_in_equal_stairs():
    load = make_load(shape="step", peak_concurrent=8, ramp_up_s=20, steps=4, duration_s=60, ramp_down_s=20)
    # Up: [0,5) 2, [5,10) 4, [10,15) 6, [15,20) 8. Down, the mirror: [40,45) 8, [45,50) 6, [50,55) 4, [55,60) 2.
    expected = {0: 2, 4.9: 2, 5: 4, 10: 6, 15: 8, 19.9: 8, 30: 8, 40: 8, 44.9: 8, 45: 6, 50: 4, 55: 2, 59.9: 2, 60: 0}
    assert {t: plan.concurrency_at(load, t) for t in expected} == expected


def test_step_boundaries_survive_floating_point():
    # 0.3 s ramp of 3 stairs: 0.1 * 3 / 0.3 is 0.9999999999999999 in floating point.
    load = make_load(shape="step", peak_concurrent=3, ramp_up_s=0.3, steps=3, duration_s=10)
    assert [plan.concurrency_at(load, t) for t in (0.0, 0.1, 0.2, 0.3)] == [1, 2, 3, 3]


def test_spike_sets_the_level_inside_its_window_only():
    load = make_load(shape="spike", peak_concurrent=10, spike=Spike(at_s=20, length_s=10, factor=1.5))
    assert [plan.concurrency_at(load, t) for t in (19.99, 20, 29.99, 30)] == [10, 15, 15, 10]
    assert plan.planned_peak_concurrency(load) == 15


def test_soak_is_steady():
    soak = make_load(shape="soak", ramp_up_s=60, duration_s=600, ramp_down_s=60)
    steady = make_load(shape="steady", ramp_up_s=60, duration_s=600, ramp_down_s=60)
    t = np.linspace(-5, 605, 1221)
    assert np.array_equal(plan.concurrency_at(soak, t), plan.concurrency_at(steady, t))


def test_concurrency_rounds_half_up():
    # numpy's round would give 0, 2, 2 (half to even); a person expects 1, 2, 3.
    load = make_load(peak_concurrent=5, ramp_up_s=10)
    assert [plan.concurrency_at(load, t) for t in (1, 3, 5)] == [1, 2, 3]


def test_arrivals_rate_follows_the_shape():
    load = make_load(mode="arrivals", peak_concurrent=None, peak_cps=4.0, multiplier=2.0, ramp_up_s=8)
    assert [plan.rate_at(load, t) for t in (0, 2, 8, 59.9, 60)] == [0.0, 2.0, 8.0, 8.0, 0.0]


# --- caps --------------------------------------------------------------------------


# Each shape with the instant its level is half the peak.
SHAPES = [
    (dict(shape="steady", ramp_up_s=10, ramp_down_s=10), 5.0),
    (dict(shape="step", ramp_up_s=20, ramp_down_s=20, steps=4), 5.0),
    (dict(shape="spike", ramp_up_s=5, spike=Spike(at_s=20, length_s=5, factor=3.0)), 2.5),
    (dict(shape="soak", ramp_up_s=30), 15.0),
]


@pytest.mark.parametrize(("shape", "half_s"), SHAPES, ids=[s["shape"] for s, _ in SHAPES])
def test_no_shape_exceeds_max_concurrent(shape, half_s):
    load = make_load(peak_concurrent=100, multiplier=2.0, max_concurrent=150, **shape)
    levels = plan.concurrency_at(load, np.arange(-1, 62, 0.01))
    assert levels.max() == 150  # the cap is reached, and never passed
    assert np.all(levels <= 150)
    assert plan.concurrency_at(load, half_s) == 100  # half the peak of 200, below the cap


@pytest.mark.parametrize(("shape", "half_s"), SHAPES, ids=[s["shape"] for s, _ in SHAPES])
def test_no_shape_exceeds_max_cps(shape, half_s):
    load = make_load(mode="arrivals", peak_concurrent=None, peak_cps=10.0, multiplier=3.0, max_cps=25.0, **shape)
    rates = plan.rate_at(load, np.arange(-1, 62, 0.01))
    assert rates.max() == 25.0
    assert np.all(rates <= 25.0)
    assert plan.rate_at(load, half_s) == 15.0  # half the peak of 30/s, below the cap


def test_planned_peaks_are_before_the_caps():
    load = make_load(peak_concurrent=100, multiplier=2.0, max_concurrent=150)
    assert plan.planned_peak_concurrency(load) == 200
    arrivals = make_load(mode="arrivals", peak_concurrent=None, peak_cps=1.5, multiplier=2.0, max_cps=1.0)
    assert plan.planned_peak_rate(arrivals) == 3.0


# --- arrivals ----------------------------------------------------------------------


def test_homogeneous_arrivals_count_gaps_and_seed():
    times = plan.arrival_times(lambda t: np.full_like(t, 10.0), 1000.0, 42, rate_max=10.0)
    # Poisson(10,000): standard deviation 100; allow 4 of them.
    assert abs(len(times) - 10_000) < 400
    assert np.all(np.diff(times) >= 0) and times[0] >= 0 and times[-1] < 1000
    gaps = np.diff(times)
    assert gaps.mean() == pytest.approx(0.1, abs=4 * 0.1 / math.sqrt(len(gaps)))
    assert stats.kstest(gaps, "expon", args=(0, 0.1)).pvalue > 0.001
    assert np.array_equal(times, plan.arrival_times(lambda t: np.full_like(t, 10.0), 1000.0, 42, rate_max=10.0))
    other = plan.arrival_times(lambda t: np.full_like(t, 10.0), 1000.0, 43, rate_max=10.0)
    assert not np.array_equal(times[:100], other[:100])


def test_ramped_arrivals_follow_the_integrated_rate():
    # 5 calls/s, 100 s ramps, 400 s run: expected 5 x (50 + 200 + 50) = 1500 arrivals,
    # 250 of them during the ramp-up.
    load = make_load(
        mode="arrivals", peak_concurrent=None, peak_cps=5.0, ramp_up_s=100, duration_s=400, ramp_down_s=100
    )
    times = plan.load_arrival_times(load, seed=7)
    assert abs(len(times) - 1500) < 4 * math.sqrt(1500)
    assert abs(np.sum(times < 100) - 250) < 4 * math.sqrt(250)

    # Time-rescaling theorem: with Lambda the integrated rate, Lambda(t_i) is a unit-rate
    # Poisson process, so its gaps are Exp(1). Lambda written out by hand for this shape:
    def integrated(t):
        return np.where(
            t < 100, 5 * t**2 / 200, np.where(t < 300, 250 + 5 * (t - 100), 1250 + 250 - 5 * (400 - t) ** 2 / 200)
        )

    assert stats.kstest(np.diff(integrated(times)), "expon").pvalue > 0.001


def test_arrival_times_refuse_a_rate_above_the_bound():
    with pytest.raises(ValueError, match="exceeds rate_max"):
        plan.arrival_times(lambda t: np.full_like(t, 2.0), 100.0, 1, rate_max=1.0)


def test_no_arrivals_without_a_rate():
    assert len(plan.arrival_times(lambda t: t, 0.0, 1, rate_max=1.0)) == 0


# --- durations ---------------------------------------------------------------------


def test_expected_duration_hand_checked():
    assert plan.expected_duration_s(TalkTime("fixed", value_s=3.0)) == 3.0
    assert plan.expected_duration_s(TalkTime("uniform", min_s=2.0, max_s=4.0)) == 3.0
    # E[min(X, M)] = mean (1 - e^(-M/mean)): mean 10, cap 10 -> 10 (1 - 1/e) = 6.3212
    assert plan.expected_duration_s(TalkTime("exponential", mean_s=10.0, max_s=10.0)) == pytest.approx(6.3212, abs=1e-4)


def test_lognormal_expected_duration_matches_numerical_integration():
    dist = TalkTime("lognormal", mean_s=120.0, sigma=0.8, max_s=300.0)
    mu = math.log(120.0) - 0.8**2 / 2
    oracle = stats.lognorm(s=0.8, scale=math.exp(mu)).expect(lambda x: min(x, 300.0))
    assert plan.expected_duration_s(dist) == pytest.approx(oracle, rel=1e-6)
    uncut = TalkTime("lognormal", mean_s=120.0, sigma=0.8, max_s=1e9)
    assert plan.expected_duration_s(uncut) == pytest.approx(120.0, rel=1e-9)


@pytest.mark.parametrize(
    "dist",
    [
        TalkTime("uniform", min_s=2.0, max_s=4.0),
        TalkTime("exponential", mean_s=90.0, max_s=600.0),
        TalkTime("lognormal", mean_s=120.0, sigma=0.8, max_s=300.0),
    ],
    ids=lambda d: d.distribution,
)
def test_draws_stay_in_range_and_match_the_mean(dist):
    n = 100_000
    draws = plan.sample_durations(dist, n, plan.rng(11, "talk_time"))
    assert len(draws) == n
    assert draws.min() >= (dist.min_s or 0.0) and draws.max() <= dist.max_s
    assert draws.mean() == pytest.approx(plan.expected_duration_s(dist), abs=4 * draws.std() / math.sqrt(n))
    again = plan.sample_durations(dist, n, plan.rng(11, "talk_time"))
    assert np.array_equal(draws, again)


def test_fixed_draws_and_longest():
    fixed = TalkTime("fixed", value_s=2.5)
    assert plan.sample_durations(fixed, 3, plan.rng(1, "talk_time")).tolist() == [2.5, 2.5, 2.5]
    assert plan.longest_duration_s(fixed) == 2.5
    assert plan.longest_duration_s(TalkTime("exponential", mean_s=90.0, max_s=600.0)) == 600.0


def test_streams_are_independent_and_repeatable():
    draws = {p: plan.rng(5, p).uniform(size=4) for p in ("arrivals", "talk-time-0", "talk-time-1")}
    assert not np.array_equal(draws["arrivals"], draws["talk-time-0"])
    assert not np.array_equal(draws["talk-time-0"], draws["talk-time-1"])
    assert np.array_equal(draws["arrivals"], plan.rng(5, "arrivals").uniform(size=4))
    assert not np.array_equal(draws["arrivals"], plan.rng(6, "arrivals").uniform(size=4))
