"""The load plan: what the load engine aims for at each moment of a run.

Pure functions of a scenario's `Load` (and `TalkTime`): no clock, no I/O.
Time is seconds elapsed since the run started.

The level is the wanted fraction of the peak: it rises over ramp_up_s, holds
at 1, falls over ramp_down_s and is 0 from duration_s on. The step shape
climbs and descends in `steps` equal stairs instead of lines; the spike shape
sets the level to spike.factor inside its window; soak is steady. Intervals
are half-open, [start, end).

    concurrency mode: calls in progress = round(level x peak_concurrent x multiplier),
                      never above max_concurrent
    arrivals mode:    arrival rate (calls/s) = level x peak_cps x multiplier,
                      never above max_cps

Random draws come from numpy Generators seeded by the scenario's seed, one
independent stream per purpose (`rng`), so a run repeats exactly with the same
numpy version.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from callproof.harness.scenario.model import Load, Scenario, TalkTime, given

# Floating-point slack for stair boundaries: 5 s into a 20 s ramp of 4 stairs
# is exactly the second stair, even when 5 * 4 / 20 rounds to 0.9999999999.
_EPS = 1e-9
# Arrival times are drawn for the whole run at its start (arrival_times): at most this many candidates,
# 80 MB of instants (the loader refuses a plan that needs more).
MAX_ARRIVALS = 10_000_000


def rng(seed: int, purpose: str) -> np.random.Generator:
    """The Generator for one purpose ("arrivals", "talk-time-0", ...).

    Each purpose gets its own stream (numpy SeedSequence of the seed and the
    purpose's bytes), so its draws do not depend on how many draws others made.
    """
    return np.random.default_rng(np.random.SeedSequence([seed, *purpose.encode("utf-8")]))


def level(load: Load, t_s: float | np.ndarray) -> float | np.ndarray:
    """Wanted fraction of the peak at elapsed time t_s (spike.factor inside a spike)."""
    t = np.asarray(t_s, dtype=float)
    stairs = load.steps if load.shape == "step" else None
    rising = _ramp(t, load.ramp_up_s, stairs, rising=True)
    falling = _ramp(load.duration_s - t, load.ramp_down_s, stairs, rising=False)
    out = np.minimum(rising, falling)
    if load.shape == "spike" and load.spike is not None:
        start = load.spike.at_s
        inside = (t >= start) & (t < start + load.spike.length_s)
        out = np.where(inside, load.spike.factor, out)
    out = np.where((t < 0) | (t >= load.duration_s), 0.0, out)
    return float(out) if out.ndim == 0 else out


def _ramp(x_s: np.ndarray, length_s: float, stairs: int | None, *, rising: bool) -> np.ndarray:
    """Level x_s seconds into a ramp up (rising) or x_s seconds before its end (falling)."""
    if length_s <= 0:
        return np.ones_like(x_s)
    with np.errstate(over="ignore"):  # a ramp of 1e-300 s: its slope is infinite, its level clipped to 1
        if stairs is None:
            return np.clip(x_s / length_s, 0.0, 1.0)
        position = x_s * stairs / length_s
    if rising:  # stair k (1..stairs) covers [(k-1), k) ramp slices from the start
        stair = np.floor(position + _EPS) + 1
    else:  # mirror image: stair k covers ((k-1), k] slices before the end
        stair = np.ceil(position - _EPS)
    return np.clip(stair / stairs, 0.0, 1.0)


def planned_peak_concurrency(load: Load) -> int:
    """Calls in progress the shape asks for at its highest, before the cap."""
    top = load.spike.factor if load.shape == "spike" and load.spike else 1.0
    return int(_round_half_up((load.peak_concurrent or 0) * load.multiplier * top))


def planned_peak_rate(load: Load) -> float:
    """Arrival rate (calls/s) the shape asks for at its highest, before the cap."""
    top = load.spike.factor if load.shape == "spike" and load.spike else 1.0
    return (load.peak_cps or 0.0) * load.multiplier * top


def concurrency_at(load: Load, t_s: float | np.ndarray) -> int | np.ndarray:
    """Concurrency mode: calls to keep in progress at t_s, capped at max_concurrent."""
    wanted = np.asarray(level(load, t_s)) * (load.peak_concurrent or 0) * load.multiplier
    out = np.minimum(_round_half_up(wanted), load.max_concurrent)
    return int(out) if out.ndim == 0 else out


def rate_at(load: Load, t_s: float | np.ndarray) -> float | np.ndarray:
    """Arrivals mode: arrival rate (calls/s) at t_s, capped at max_cps."""
    wanted = np.asarray(level(load, t_s)) * (load.peak_cps or 0.0) * load.multiplier
    out = np.minimum(wanted, load.max_cps)
    return float(out) if out.ndim == 0 else out


def _round_half_up(x: float | np.ndarray) -> np.ndarray:
    # numpy rounds half to even; 2.5 wanted calls should be 3, as a person reads it.
    return np.floor(np.asarray(x, dtype=float) + 0.5).astype(int)


def arrival_times(
    rate_fn: Callable[[np.ndarray], float | np.ndarray],
    duration_s: float,
    seed: int,
    *,
    rate_max: float,
) -> np.ndarray:
    """Arrival instants (s, sorted) of a non-homogeneous Poisson process on [0, duration_s).

    Thinning (Lewis and Shedler 1979): candidates from a homogeneous process at
    rate_max, each kept with probability rate_fn(t) / rate_max. rate_fn takes an
    array of instants; rate_max must bound it (checked on every candidate).
    """
    if rate_max <= 0 or duration_s <= 0:
        return np.empty(0)
    gen = rng(seed, "arrivals")
    # A homogeneous Poisson process on [0, T): Poisson(rate x T) points, uniform, sorted.
    count = gen.poisson(rate_max * duration_s)
    candidates = np.sort(gen.uniform(0.0, duration_s, count))
    rates = np.asarray(rate_fn(candidates), dtype=float)
    if np.any(rates > rate_max * (1 + _EPS)):
        raise ValueError(f"rate_fn exceeds rate_max {rate_max} (up to {rates.max()})")
    keep = gen.uniform(0.0, rate_max, count) < rates
    return candidates[keep]


def load_arrival_times(load: Load, seed: int) -> np.ndarray:
    """Arrivals mode: the run's arrival instants (s) under the capped rate."""
    peak = min(planned_peak_rate(load), load.max_cps)
    return arrival_times(lambda t: rate_at(load, t), load.duration_s, seed, rate_max=peak)


def sample_durations(dist: TalkTime, count: int, gen: np.random.Generator) -> np.ndarray:
    """`count` draws (s) from a talk-time or handle-time distribution; draws above max_s are cut to it."""
    kind = dist.distribution
    if kind == "fixed":
        return np.full(count, float(given(dist.value_s)))
    if kind == "uniform":
        return gen.uniform(given(dist.min_s), given(dist.max_s), count)
    if kind == "exponential":
        draws = gen.exponential(given(dist.mean_s), count)
    elif kind == "lognormal":
        draws = gen.lognormal(_lognormal_mu(dist), given(dist.sigma), count)
    else:
        raise ValueError(f"unknown distribution {kind!r}")
    return np.minimum(draws, given(dist.max_s))


def _lognormal_mu(dist: TalkTime) -> float:
    # mean_s is the mean of X itself: E[X] = exp(mu + sigma^2 / 2).
    return math.log(given(dist.mean_s)) - given(dist.sigma) ** 2 / 2


def expected_duration_s(dist: TalkTime) -> float:
    """Mean (s) of the distribution after the cut at max_s: E[min(X, max_s)]."""
    kind = dist.distribution
    if kind == "fixed":
        return float(given(dist.value_s))
    if kind == "uniform":
        return (given(dist.min_s) + given(dist.max_s)) / 2
    if kind == "exponential":
        # E[min(X, M)] = integral_0^M P(X > x) dx = mean (1 - exp(-M / mean))
        cap, mean = given(dist.max_s), given(dist.mean_s)
        return mean * (1 - math.exp(-cap / mean))
    if kind == "lognormal":
        # E[min(X, M)] = E[X; X < M] + M P(X >= M), with the lognormal partial expectation
        # E[X; X < M] = exp(mu + s^2/2) Phi((ln M - mu - s^2) / s).
        cap, mu, s = given(dist.max_s), _lognormal_mu(dist), given(dist.sigma)
        z = (math.log(cap) - mu) / s
        return math.exp(mu + s * s / 2) * _phi(z - s) + cap * (1 - _phi(z))
    raise ValueError(f"unknown distribution {kind!r}")


def longest_duration_s(dist: TalkTime) -> float:
    """The longest draw the distribution can give (s)."""
    return float(given(dist.value_s) if dist.distribution == "fixed" else given(dist.max_s))


def _phi(z: float) -> float:
    """Standard normal CDF."""
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def longest_call_s(scenario: Scenario) -> float:
    """How long one call can hold a slot within the scenario's own timeouts."""
    call = scenario.call
    dtmf_s = sum(step.wait_s + step.timeout_s for step in call.dtmf)
    return call.ring_timeout_s + dtmf_s + (call.patience_s or 0) + longest_duration_s(call.talk_time)


def control_calls(scenario: Scenario) -> int:
    """Control-leg calls to keep in progress: load.control_fraction of the plan's peak calls in
    progress (arrivals mode: rate x mean talk time, Little's law), at least 1 when it is on."""
    load = scenario.load
    if load.control_fraction <= 0:
        return 0
    if load.mode == "concurrency":
        peak = float(planned_peak_concurrency(load))
    else:
        peak = planned_peak_rate(load) * expected_duration_s(scenario.call.talk_time)
    return max(1, math.ceil(load.control_fraction * peak - _EPS))


def provision(scenario: Scenario) -> int:
    """Concurrent calls the generator must hold (issue 5: rate x (setup timeout + longest talk))."""
    load = scenario.load
    if load.mode == "concurrency":
        need = planned_peak_concurrency(load)
    else:
        need = math.ceil(planned_peak_rate(load) * longest_call_s(scenario))
    return max(1, min(need, load.max_concurrent))
