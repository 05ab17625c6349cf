"""The Locust side: users that place SIP calls, and the load shape from the plan.

Closed loop (load.mode concurrency): `SipCaller` users each keep one call in
progress, back to back; the shape sets how many users there are over time.
Open loop (load.mode arrivals): one `ArrivalScheduler` per Locust process
starts calls at Poisson arrival times of the plan's rate, whatever the target
does; in distributed mode each of N workers takes every N-th arrival.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import gevent
from locust import LoadTestShape, User, constant, task
from locust.env import Environment

from callproof.harness.scenario import plan
from callproof.harness.scenario.model import Load

if TYPE_CHECKING:
    from callproof.harness.run.load import LoadContext


class LoadEnvironment(Environment):
    """Locust's Environment with the load's context, which the users below read."""

    callproof: LoadContext


class SipCaller(User):
    """One caller: a call, then the next, for as long as the shape keeps this user."""

    wait_time = constant(0)

    @task
    def call(self) -> None:
        self.environment.callproof.call_and_wait()


class ArrivalScheduler(User):
    """Starts this process's share of the run's arrivals at their scheduled times."""

    wait_time = constant(0)

    @task
    def schedule(self) -> None:
        context = self.environment.callproof
        start = context.arrivals_start or time.monotonic()
        for offset in context.arrivals:
            due = start + float(offset)
            delay = due - time.monotonic()
            if delay > 0:
                gevent.sleep(delay)
            if context.stopping:
                break
            context.arrive_at(due)
        # Every arrival is out; stay idle until the shape ends the run.
        while not context.stopping:
            gevent.sleep(0.5)


class PlanShape(LoadTestShape):
    """The scenario's load over time; None ends the run (Locust's convention)."""

    def __init__(self, load: Load, *, is_stopping=lambda: False, schedulers=lambda: 1) -> None:
        super().__init__()
        self.load = load
        self.is_stopping = is_stopping
        self.schedulers = schedulers

    def tick(self):
        elapsed = self.get_run_time()
        if elapsed >= self.load.duration_s or self.is_stopping():
            return None
        if self.load.mode == "arrivals":
            count = self.schedulers()
            return count, count, [ArrivalScheduler]
        users = int(plan.concurrency_at(self.load, elapsed))
        # Users start within a second of each step; max_cps still paces the calls.
        return users, max(1.0, min(self.load.max_cps, 100.0)), [SipCaller]
