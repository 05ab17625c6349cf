"""The caps and the circuit breaker, driven by explicit times."""

from __future__ import annotations

import pytest

from callproof.harness.run.safety import CircuitBreaker, RateCap


def test_rate_cap_never_exceeds_max_cps_over_any_second():
    cap = RateCap(10)
    now, starts = 0.0, []
    for _ in range(100):  # callers asking as fast as they can
        now += cap.take(now)
        starts.append(now)
    for i, t in enumerate(starts):
        in_window = sum(1 for s in starts[i:] if s < t + 1.0)
        assert in_window <= 11  # 10 per second, plus the bucket's one-token start
    assert starts[-1] == pytest.approx(9.9)  # 100 calls at 10/s after the first


def test_rate_cap_lets_calls_through_at_once_below_the_cap():
    cap = RateCap(5)
    assert [cap.take(t) for t in (0.0, 0.5, 1.0, 1.5)] == [0.0, 0.0, 0.0, 0.0]


def test_rate_cap_below_one_per_second():
    cap = RateCap(0.5)
    assert cap.take(0.0) == 0.0
    assert cap.take(0.0) == pytest.approx(2.0)


def test_breaker_trips_when_a_full_window_answers_too_little():
    breaker = CircuitBreaker(0.5, window_s=10, min_calls=10)
    breaker.start(0.0)
    for i in range(20):
        breaker.record(i * 0.5, answered=(i % 4 == 0))  # 25% answered
        assert breaker.check(i * 0.5) is None  # not a whole window yet
    trip = breaker.check(10.0)
    assert trip is not None and trip.answer_rate == pytest.approx(0.25)
    assert trip.calls == 20 and trip.at_s == 10.0


def test_breaker_holds_when_the_rate_is_above_the_floor_or_calls_are_few():
    breaker = CircuitBreaker(0.5, window_s=10, min_calls=10)
    breaker.start(0.0)
    for i in range(20):
        breaker.record(i * 0.5, answered=(i % 4 != 0))  # 75% answered
    assert breaker.check(10.0) is None
    sparse = CircuitBreaker(0.5, window_s=10, min_calls=10)
    sparse.start(0.0)
    for i in range(5):
        sparse.record(float(i), answered=False)
    assert sparse.check(10.0) is None  # 5 calls cannot decide


def test_breaker_forgets_outcomes_older_than_its_window():
    breaker = CircuitBreaker(0.5, window_s=10, min_calls=5)
    breaker.start(0.0)
    for i in range(10):
        breaker.record(float(i), answered=False)  # a bad start...
    for i in range(10):
        breaker.record(20.0 + i, answered=True)  # ...then fine
    assert breaker.check(29.5) is None
