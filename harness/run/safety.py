"""Guards that keep a runaway test from flooding a production PBX.

- `RateCap`: no more than `max_cps` call attempts per second (a token bucket
  with a one-second burst), whatever the shape or the arrival process asks.
- `CircuitBreaker`: stops the run when the answer rate over the last `window_s`
  seconds stays below `min_answer_rate`.

Both take the time as an argument, so tests drive them without a clock.
"""

from __future__ import annotations

import collections
import dataclasses


class RateCap:
    """Token bucket: `take(now)` returns how long to wait before the attempt may go."""

    def __init__(self, max_cps: float) -> None:
        if max_cps <= 0:
            raise ValueError("max_cps must be greater than 0")
        self.max_cps = float(max_cps)
        self._tokens = 1.0
        self._last: float | None = None

    def take(self, now: float) -> float:
        if self._last is None:
            self._last = now
        # Refill for the time passed; a burst of at most one second's worth.
        self._tokens = min(max(self.max_cps, 1.0), self._tokens + (now - self._last) * self.max_cps)
        self._last = now
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.max_cps


@dataclasses.dataclass(frozen=True)
class Trip:
    at_s: float
    answer_rate: float
    calls: int
    window_s: float


class CircuitBreaker:
    """Trips when, over a full window, fewer than `min_answer_rate` of decided calls were answered.

    A call counts when its setup is decided (answered or not). The breaker needs at
    least `min_calls` decided calls in the window, and the run must have lasted one
    whole window, before it may trip: a slow start is not a dead target.
    """

    def __init__(self, min_answer_rate: float, window_s: float, *, min_calls: int = 10) -> None:
        self.min_answer_rate = min_answer_rate
        self.window_s = window_s
        self.min_calls = min_calls
        self._outcomes: collections.deque[tuple[float, bool]] = collections.deque()
        self._started: float | None = None
        self.tripped: Trip | None = None

    def start(self, now: float) -> None:
        self._started = now

    def record(self, now: float, answered: bool) -> None:
        self._outcomes.append((now, answered))

    def check(self, now: float) -> Trip | None:
        if self.tripped is not None:
            return self.tripped
        while self._outcomes and self._outcomes[0][0] < now - self.window_s:
            self._outcomes.popleft()
        if self._started is None or now - self._started < self.window_s or len(self._outcomes) < self.min_calls:
            return None
        rate = sum(answered for _, answered in self._outcomes) / len(self._outcomes)
        if rate < self.min_answer_rate:
            self.tripped = Trip(at_s=now - self._started, answer_rate=rate, calls=len(self._outcomes),
                                window_s=self.window_s)
        return self.tripped
