"""What every Locust user of one process shares: engines, caps, breaker, records.

A call's setup goes to Locust's `request` event (request_type "SIP", name
"INVITE", response time = RFC 6076 SRD, exception = the `Failure`), so Locust's
UI, CSV and distributed statistics work unchanged. The call's full record
goes to our own sink when the call ends. Both are hooked to the call's own
completion, not to the user's greenlet: Locust kills users mid-task when it
ramps down or stops, and a record must never be lost with them.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import gevent
import gevent.event
import gevent.pool

from callproof.harness.run.calls import CallFactory, TargetChooser
from callproof.harness.run.recorder import utc_at_monotonic
from callproof.harness.run.safety import CircuitBreaker, RateCap
from callproof.harness.verdict import connect
from callproof.sip.errors import EngineError
from callproof.sip.pool import EnginePool, PendingCall
from callproof.sip.records import CallRecord, Failure


class CallFailed(Exception):
    """A call's setup outcome as Locust shows it: the Failure and the SIP code."""


class LoadContext:
    def __init__(self, *, pool: EnginePool, factory: CallFactory, choose_target: TargetChooser,
                 rate_cap: RateCap, max_concurrent: int, breaker: CircuitBreaker | None,
                 sink: Callable[[dict[str, Any]], None], fire_request: Callable[..., None],
                 enrich: Callable[[CallRecord], CallRecord] = lambda r: r, worker: str = "local") -> None:
        self.pool = pool
        self.factory = factory
        self.choose_target = choose_target
        self.rate_cap = rate_cap
        self.max_concurrent = max_concurrent
        self.breaker = breaker
        self.sink = sink
        self.fire_request = fire_request
        self.enrich = enrich
        self.worker = worker
        self.calls = gevent.pool.Group()  # open-loop calls, owned by no user
        self.arrivals: Any = ()  # open loop: this process's arrival offsets (s after arrivals_start)
        self.arrivals_start: float | None = None
        self.stopping = False
        # Counters for the progress line and generator health.
        self.attempted = 0
        self.setups = 0  # calls whose INVITE was decided (answered or not), stopped ones aside
        self.answered = 0
        self.failed = 0  # the target's failures (CallRecord.failed), known when each call ends
        # The queue's figures, known when each call ends (connect: the agent marker decides):
        self.queued_ended = 0  # ended calls whose outcome is decided (not cut by the run's end before an agent)
        self.reached_agent = 0
        self.abandoned = 0
        self.in_flight = 0
        self.placing = 0  # calls waiting for an engine slot: not in flight yet, but a record will come
        self.capped = 0  # arrivals dropped because max_concurrent was reached
        self.lost = 0  # calls whose engine process died: no record
        self.slot_wait_ms_max = 0.0

    # -- placing calls -------------------------------------------------------

    def place(self, *, scheduled_mono: float | None = None) -> PendingCall | None:
        """Start one call within the caps; None when stopping or capped."""
        if self.stopping:
            return None
        wait = self.rate_cap.take(time.monotonic())
        if wait > 0:
            gevent.sleep(wait)
        if self.stopping:
            return None
        if self.in_flight >= self.max_concurrent:
            self.capped += 1
            return None
        uri, release = self.choose_target()
        spec = self.factory.make(uri, scheduled_mono=scheduled_mono)
        wanted = time.monotonic()
        self.placing += 1
        try:
            pending = self.pool.place(spec)
        except EngineError:
            release()
            if self.stopping:
                return None  # the run's end closed the pool while this call waited for a slot
            raise
        except BaseException:  # Locust killing the user while it waits for a slot
            release()
            raise
        finally:
            self.placing -= 1
        self.slot_wait_ms_max = max(self.slot_wait_ms_max, (time.monotonic() - wanted) * 1000.0)
        self.attempted += 1
        self.in_flight += 1
        scheduled_utc = None if scheduled_mono is None else utc_at_monotonic(scheduled_mono)
        pending.setup.rawlink(self._on_setup)
        pending.done.rawlink(lambda result: self._on_done(result, release, scheduled_utc))
        return pending

    def call_and_wait(self) -> None:
        """Closed loop: one call, held until it ends."""
        pending = self.place()
        if pending is None:
            gevent.sleep(0.05)  # stopping or capped: don't spin
            return
        try:
            pending.done.get()
        except EngineError:
            pass  # counted in _on_done

    def arrive_at(self, scheduled_mono: float) -> None:
        """Open loop: one arrival, in its own greenlet, owned by no user."""
        self.calls.spawn(self.place, scheduled_mono=scheduled_mono)

    # -- outcomes (hub callbacks: no blocking) ---------------------------------

    def _on_setup(self, result: gevent.event.AsyncResult) -> None:
        if not result.successful():
            return
        record: CallRecord = result.value
        answered = record.answered
        if answered or record.failure is not Failure.STOPPED:
            self.setups += 1
        if answered:
            self.answered += 1  # counted at the answer: the progress line shows it while calls talk
        if self.breaker is not None and record.failure is not Failure.STOPPED:
            self.breaker.record(time.monotonic(), answered)
        exception = None
        if record.failed:
            assert record.failure is not None, "a failed call has its failure"
            code = f" {record.final_code}" if record.final_code else ""
            exception = CallFailed(f"{record.failure.value}{code}")
        response_ms = record.setup_ms if record.setup_ms is not None else record.end_ms
        self.fire_request(request_type="SIP", name="INVITE", response_time=response_ms, response_length=0,
                          exception=exception, context={"call_id": record.call_id})

    def _on_done(self, result: gevent.event.AsyncResult, release: Callable[[], None],
                 scheduled_utc: str | None) -> None:
        # A call stops counting as in flight only once its record is in the sink: `drain`
        # (and a distributed worker's "all records sent") must never run ahead of a record.
        try:
            release()
            if not result.successful():
                self.lost += 1
                return
            record: CallRecord = result.value
            if record.failed:
                self.failed += 1
            if connect.invite_sent(record) and not connect.undecided(record, by_agent=True):
                self.queued_ended += 1
                self.reached_agent += record.agent_ms is not None
                self.abandoned += record.failure is Failure.ABANDONED
            record = self.enrich(record)
            data = record.to_dict()
            data["worker"] = self.worker
            if scheduled_utc is not None:
                data["scheduled_utc"] = scheduled_utc
            self.sink(data)
        finally:
            self.in_flight -= 1

    # -- stopping ----------------------------------------------------------------

    def drain(self, timeout_s: float, interrupt: gevent.event.Event | None = None) -> bool:
        """Wait until every call in progress (or still waiting for a slot) has ended and been recorded,
        or `interrupt` is set."""
        deadline = time.monotonic() + timeout_s
        while (self.in_flight or self.placing) and time.monotonic() < deadline:
            if interrupt is not None and interrupt.is_set():
                break
            gevent.sleep(0.05)
        return not (self.in_flight or self.placing)
