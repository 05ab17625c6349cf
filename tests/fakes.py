"""An engine pool in this process, in the spirit of httpx's MockTransport.

`FakeEngineProcess` stands where `callproof.sip.pool.EngineProcess` stands: the real
`EnginePool` shards calls over fake processes exactly as over engine processes, and
each call is a real `PendingCall` whose setup and final record arrive on gevent timers
when its script says. No pjsua2, no subprocess, so the load context, the arrival
scheduler, the prober and the master/worker glue get unit tests that take milliseconds.

    pool = fake_pool(capacity=2, script=lambda spec: Outcome.rejected(503))
    record = pool.place(CallSpec(uri="sip:pbx@127.0.0.1")).wait_record(1)

A script maps the call's `CallSpec` to its `Outcome`; the default answers at once and
talks for the spec's `talk_s`. `die()` is a process crashing mid-call, `stop()` an
orderly shutdown that hangs up the calls and sends their records, as the real ones do.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Callable

import gevent

from callproof.harness.run.recorder import utc_now
from callproof.sip.errors import EngineError
from callproof.sip.pool import EnginePool, PendingCall
from callproof.sip.records import CallRecord, Failure
from callproof.sip.settings import CallSpec
from tests.verify import records


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a call does: its final record, when its setup is decided and when it ends (s after placing)."""

    record: CallRecord
    setup_s: float = 0.0
    end_s: float = 0.0

    @classmethod
    def answered(cls, *, talk_s: float = 0.0, setup_s: float = 0.001) -> "Outcome":
        record = records.answered(answer_ms=setup_s * 1000.0, talk_ms=talk_s * 1000.0)
        return cls(record, setup_s=setup_s, end_s=setup_s + talk_s)

    @classmethod
    def rejected(cls, code: int = 503, *, after_s: float = 0.001) -> "Outcome":
        return cls(records.rejected(code, final_ms=after_s * 1000.0), setup_s=after_s, end_s=after_s)


Script = Callable[[CallSpec], Outcome]


def answer(spec: CallSpec) -> Outcome:
    """The default script: answered at once, talking for the spec's talk time."""
    return Outcome.answered(talk_s=spec.talk_s)


class FakeEngineProcess:
    """One engine process's side of the pool: capacity, calls in flight, their outcomes."""

    def __init__(self, name: str = "fake-1", *, capacity: int = 4, script: Script = answer) -> None:
        self.name = name
        self.capacity = capacity
        self.script = script
        self.in_flight = 0
        self.pump_lag_ms_max = 0.0
        self.inbound: list[CallRecord] = []
        self.sip_ports = {"udp": 5060}
        self.version = "fake"
        self.engine = {"module": "tests.fakes"}
        self.registration = None
        self.on_slot_free: Callable[[], None] = lambda: None
        self.placed: list[tuple[float, CallSpec]] = []  # (monotonic time, spec) of every call, in order
        self.most_in_flight = 0
        self.returncode: int | None = None
        self._pending: dict[str, tuple[PendingCall, CallRecord, list[gevent.Greenlet]]] = {}
        self._ids = itertools.count(1)

    pid = None  # no operating-system process behind it

    @property
    def alive(self) -> bool:
        return self.returncode is None

    def start(self) -> None:
        pass

    def place(self, spec: CallSpec) -> PendingCall:
        if not self.alive:
            raise EngineError(f"SIP engine process {self.name} is not running")
        request_id = f"{self.name}-{next(self._ids)}"
        pending = PendingCall(request_id, spec, self)
        outcome = self.script(spec)
        record = dataclasses.replace(outcome.record, call_id=f"{request_id}@fake", target=spec.uri,
                                     invite_utc=utc_now())
        self.placed.append((time.monotonic(), spec))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        timers = [gevent.spawn_later(outcome.setup_s, self._set_up, request_id),
                  gevent.spawn_later(outcome.end_s, self._end, request_id)]
        self._pending[request_id] = (pending, record, timers)
        return pending

    def _set_up(self, request_id: str) -> None:
        if request_id in self._pending:
            pending, record, _ = self._pending[request_id]
            if not pending.setup.ready():
                pending.setup.set(record)

    def _end(self, request_id: str) -> None:
        # The order of EngineProcess._read_events: the record, then the slot, then the pool's wake-up.
        pending, record, timers = self._pending.pop(request_id)
        for timer in timers:
            if timer is not gevent.getcurrent():
                timer.kill(block=False)
        pending.finish(record)
        self.in_flight -= 1
        self.on_slot_free()

    def die(self, code: int = -9) -> None:
        """The process exits mid-call: whatever it still owed is lost (EngineError), as in EngineProcess."""
        self.returncode = code
        lost = EngineError(f"SIP engine process {self.name} exited (code {code}) during a call")
        for pending, _, timers in self._pending.values():
            for timer in timers:
                timer.kill(block=False)
            pending.fail(lost)
        self._pending.clear()
        self.in_flight = 0
        self.on_slot_free()

    def hang_up_all(self) -> None:
        """The run's end: calls in progress are hung up now and recorded as stopped, as EngineProcess's are."""
        for request_id in list(self._pending):
            pending, record, timers = self._pending[request_id]
            self._pending[request_id] = (pending, dataclasses.replace(record, failure=Failure.STOPPED), timers)
            self._end(request_id)

    def stop(self, timeout_s: float = 0.0) -> None:
        """An orderly stop: calls in progress are hung up now and their records sent, then the process exits 0."""
        self.hang_up_all()
        if self.returncode is None:
            self.returncode = 0


def fake_pool(processes: int = 1, *, capacity: int = 4, script: Script = answer) -> EnginePool:
    """The real EnginePool over `processes` fake engine processes of `capacity` calls each."""
    return EnginePool([FakeEngineProcess(f"fake-{n}", capacity=capacity, script=script)
                       for n in range(1, processes + 1)])


def placed(pool: EnginePool) -> list[tuple[float, CallSpec]]:
    """Every call the pool's fake processes were given, in the order they were placed."""
    return sorted((entry for process in pool.processes for entry in process.placed), key=lambda entry: entry[0])
