"""Locust's distributed mode: a master that writes the run folder, workers that place calls.

The master runs the shape, the probes, the faults and any registered agents, and
writes the run folder; it places no load calls. Each worker runs SipCaller /
ArrivalScheduler users and its own SIP engine processes against the target, and
sends every finished call to the master (Locust custom message "callproof_call"),
its recording first ("callproof_audio"), its control leg's calls ("callproof_control",
callproof.harness.run.control: each worker's own, to an echo on its own machine), and its
health every second. After the stop, a worker ends its calls by the local run's rule
(harness.run.runner: they may end on their own for CALLS_END_GRACE_S, then the rest,
control calls included, are hung up and recorded within HANG_UP_WAIT_S); once its last
call has ended and that call's record is sent, it says so ("callproof_drained"); the
master waits for that from every worker (one channel per
worker keeps the order, so nothing is still in transit behind it) before it ends
the run, and names in events.jsonl any worker that did not say it in time.
"""

from __future__ import annotations

import collections
import math
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import gevent
import gevent.event
import gevent.pool

from callproof.harness.errors import BadInput, ExitCode, HarnessError
from callproof.harness.run.calls import CallFactory, fixed_target
from callproof.harness.run.control import ControlLeg, control_calls
from callproof.harness.run.engines import check_registrations
from callproof.harness.run.load import LoadContext
from callproof.harness.run.recorder import EventLog, JsonLines
from callproof.harness.run.runner import CALLS_END_GRACE_S, DRAIN_MARGIN_S, HANG_UP_WAIT_S, HEALTH_INTERVAL_S, Run
from callproof.harness.run.users import ArrivalScheduler, LoadEnvironment, PlanShape, SipCaller
from callproof.harness.run.worker_auth import Refusals, authenticated_locust
from callproof.harness.scenario import plan
from callproof.reports import layout
from callproof.sip.errors import EngineError
from callproof.sip.records import CallRecord

WORKERS_TIMEOUT_S = 60.0
CALL_MESSAGE = "callproof_call"
AUDIO_MESSAGE = "callproof_audio"  # a worker's recording, sent just before its call's record
SETUP_MESSAGE = "callproof_setup"
HEALTH_MESSAGE = "callproof_health"
DRAINED_MESSAGE = "callproof_drained"  # a worker's last word: every call has ended and its record is sent
CONTROL_MESSAGE = "callproof_control"  # a worker's control-leg call (callproof.harness.run.control)
MAX_RECORDING_BYTES = 128 << 20  # an hour of 16 kHz 16-bit audio is 115 MB
_RECORDING_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.wav")
_HEALTH_KEY = re.compile(r"[a-z][a-z0-9_]{0,47}")
_EVENT_KEYS = {"kind", "at_utc", "worker"}  # the event's own: a field may not replace them


def _health_problem(data: Any) -> str | None:
    """Why a worker's health sample is not one (None when it is): named numbers, or one level of named numbers."""
    if not isinstance(data, dict) or not 0 < len(data) <= 64:
        return "not an object of at most 64 fields"
    for key, value in data.items():
        if not isinstance(key, str) or not _HEALTH_KEY.fullmatch(key) or key in _EVENT_KEYS:
            return f"field name {str(key)[:40]!r}"
        values = value.values() if isinstance(value, dict) else (value,)
        if isinstance(value, dict) and (len(value) > 256 or not all(
                isinstance(k, str) and 0 < len(k) <= 64 and k.isprintable() for k in value)):
            return f"{key}: not an object of at most 256 named numbers"
        if not all(v is None or (isinstance(v, int | float) and math.isfinite(v)) for v in values):
            return f"{key}: not a finite number"
    return None


# How long the master waits for every worker's last word after the stop: the workers' grace and
# hang-up, and a margin for the messages in transit.
DRAINED_WAIT_S = CALLS_END_GRACE_S + HANG_UP_WAIT_S + DRAIN_MARGIN_S


class WorkerLink:
    """A worker's side of the wire: each finished call (its recording first), and at the end that all are sent.

    `send(kind, data)` is the Locust worker runner's `send_message`.
    """

    def __init__(self, send: Callable[[str, Any], None]) -> None:
        self.send = send
        self.records_sent = 0
        self.control: ControlLeg | None = None  # its calls end too before the worker says it is drained

    def record(self, record: dict) -> None:
        """The load context's sink: the call's recording, then its record."""
        recording = Path(record["recording"]) if record.get("recording") else None
        if recording is not None and recording.is_file():
            self.send(AUDIO_MESSAGE, {"name": recording.name, "data": recording.read_bytes()})
            recording.unlink()
        self.send(CALL_MESSAGE, record)
        self.records_sent += 1

    def finish(self, context: LoadContext, grace_s: float, hang_up_wait_s: float) -> bool:
        """After the stop: calls in progress may end on their own for `grace_s`, those still up are hung
        up; once every record is sent, say so to the master.

        False (and nothing said) when records are still missing `hang_up_wait_s` after the hang-up:
        the master names us.
        """
        context.drain(grace_s)
        if context.in_flight or context.placing or (self.control is not None and self.control.in_flight):
            context.pool.hang_up_all()  # the control leg's calls too: they share the caller engines
        if not context.drain(hang_up_wait_s):
            return False
        if self.control is not None:
            self.control.stop(hang_up_wait_s)
        self.send(DRAINED_MESSAGE, {"records": self.records_sent, "lost": context.lost})
        return True


class Collector:
    """The master's side of the wire: the workers' records and recordings into the run folder, their health
    into events.jsonl, and which of them have said that every record is sent.

    What comes from a worker is checked field by field before it is written: a call record by
    CallRecord.from_dict (as a bundle's records are), its Call-ID not seen before, a recording by its
    name and size, health as numbers. A worker that has not reported its health yet (a real worker
    does, before its first call) contributes nothing. Whatever fails is refused and counted in
    events.jsonl (callproof.harness.run.worker_auth.Refusals), never written.
    """

    def __init__(self, *, calls: JsonLines, events: EventLog, audio_dir: Path,
                 control: JsonLines | None = None, refusals: Refusals | None = None) -> None:
        self.calls = calls
        self.control = control
        self.events = events
        self.audio_dir = audio_dir
        self.refusals = refusals or Refusals(events)
        self.received: collections.Counter[str] = collections.Counter()  # records written, per worker
        self.reporting: set[str] = set()  # workers that reported their health: only they contribute calls
        self.drained: dict[str, dict[str, Any]] = {}
        self._call_ids: set[str] = set()
        self._drained_one = gevent.event.Event()

    def _accepts(self, worker: str, kind: str) -> bool:
        if worker in self.reporting:
            return True
        self.refusals.refuse(worker, "from a worker that never reported its health", kind=kind)
        return False

    def _record(self, worker: str, data: Any, kind: str) -> dict | None:
        """The record as written: checked field by field, a Call-ID not seen before, the worker's own name."""
        try:
            record = CallRecord.from_dict(data)
        except (ValueError, TypeError) as exc:
            self.refusals.refuse(worker, f"malformed call record ({str(exc)[:120]})", kind=kind)
            return None
        if record.call_id in self._call_ids:
            self.refusals.refuse(worker, "a call record whose Call-ID was received already", kind=kind)
            return None
        self._call_ids.add(record.call_id)
        out = record.to_dict()
        if out.get("recording"):  # by its file name only: never a path from the wire
            out["recording"] = str(self.audio_dir / Path(out["recording"]).name)
        return out

    def on_call(self, worker: str, record: Any) -> None:
        """A worker's record, its recording path pointing into this run's audio/."""
        if not self._accepts(worker, CALL_MESSAGE) or (checked := self._record(worker, record, CALL_MESSAGE)) is None:
            return
        self.calls.write(checked)
        self.received[worker] += 1

    def on_control(self, worker: str, record: Any) -> None:
        """A worker's control-leg call: control.jsonl, never calls.jsonl."""
        if self.control is None or not self._accepts(worker, CONTROL_MESSAGE):
            return
        if (checked := self._record(worker, record, CONTROL_MESSAGE)) is not None:
            self.control.write(checked)

    def on_audio(self, worker: str, message: Any) -> None:
        """A worker's recording, into this run's audio/ (by its file name only: never a path from the wire), as
        a new file."""
        if not self._accepts(worker, AUDIO_MESSAGE):
            return
        name = Path(message.get("name", "")).name if isinstance(message, dict) and isinstance(
            message.get("name"), str) else ""
        data = message.get("data") if isinstance(message, dict) else None
        if not _RECORDING_NAME.fullmatch(name) or not isinstance(data, bytes) or len(data) > MAX_RECORDING_BYTES:
            self.refusals.refuse(worker, "malformed recording (a .wav name, bytes, at most "
                                         f"{MAX_RECORDING_BYTES >> 20} MiB)", kind=AUDIO_MESSAGE)
            return
        self.audio_dir.mkdir(exist_ok=True)
        try:
            with open(self.audio_dir / name, "xb") as out:
                out.write(data)
        except FileExistsError:
            self.refusals.refuse(worker, "a recording whose name was received already", kind=AUDIO_MESSAGE)

    def on_health(self, worker: str, data: Any) -> None:
        problem = _health_problem(data)
        if problem is not None:
            self.refusals.refuse(worker, f"malformed health ({problem})", kind=HEALTH_MESSAGE)
            return
        self.reporting.add(worker)
        self.events.event("health", worker=worker, **data)

    def on_drained(self, worker: str, data: Any) -> None:
        if not (isinstance(data, dict) and set(data) == {"records", "lost"}
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in data.values())):
            self.refusals.refuse(worker, "malformed end of records", kind=DRAINED_MESSAGE)
            return
        self.drained[worker] = data
        self.events.event("worker_drained", worker=worker, records_sent=data.get("records"),
                          records_received=self.received[worker], lost=data.get("lost"))
        self._drained_one.set()

    def wait_drained(self, workers: Iterable[str], timeout_s: float) -> list[str]:
        """Wait until each of `workers` has said that every record is sent; the ones that did not, named in
        events.jsonl."""
        workers = list(workers)
        deadline = time.monotonic() + timeout_s
        while True:
            self._drained_one.clear()
            missing = [w for w in workers if w not in self.drained]
            remaining = deadline - time.monotonic()
            if not missing or remaining <= 0:
                break
            self._drained_one.wait(remaining)
        if missing:
            self.events.event("workers_not_drained", workers=missing, timeout_s=timeout_s,
                              records_received={w: self.received[w] for w in missing})
        return missing


class MasterRun(Run):
    """Runs the shape, probes, faults and registered agents; collects the workers' records."""

    def execute(self) -> int:
        if self.scenario.target.embedded:
            raise BadInput("the embedded target runs on one machine: run without --master, or set target.uri")
        return super().execute()

    def run(self) -> None:
        refusals = Refusals(self.events)
        try:
            with authenticated_locust(self.options.master_secret or b"", refusals):
                self._run(refusals)
        finally:
            refusals.close()

    def _run(self, refusals: Refusals) -> None:
        from locust.env import Environment
        from locust.runners import STATE_STOPPED, STATE_STOPPING, MasterRunner

        scenario = self.scenario
        state = _MasterState()
        environment = Environment(user_classes=[SipCaller, ArrivalScheduler],
                                  shape_class=PlanShape(scenario.load, is_stopping=lambda: state.stopping,
                                                        schedulers=lambda: max(1, runner.worker_count)))
        runner: MasterRunner = environment.create_master_runner(self.options.master_host, self.options.master_port)
        collector = Collector(calls=self.calls, events=self.events, audio_dir=self._audio_dir,
                              control=self._log(layout.CONTROL), refusals=refusals)
        for kind, handle in ((CALL_MESSAGE, collector.on_call), (AUDIO_MESSAGE, collector.on_audio),
                             (HEALTH_MESSAGE, collector.on_health), (DRAINED_MESSAGE, collector.on_drained),
                             (CONTROL_MESSAGE, collector.on_control)):
            runner.register_message(kind, lambda environment, msg, handle=handle, **kw: handle(msg.node_id, msg.data))
        self._serve(environment)
        self._start_processes()
        fleet = self._fleet(self.logs_dir)
        if scenario.agents.register_to:
            self._register_agents(fleet)
        self._prepare_probes(fleet, scenario.probes.uri or scenario.target.uri)
        self._ports_event()
        self._start_capture(fleet)
        self._start_probes()
        deadline = time.monotonic() + WORKERS_TIMEOUT_S
        while runner.worker_count < self.options.expect_workers:
            if time.monotonic() > deadline:
                raise HarnessError(f"only {runner.worker_count} of {self.options.expect_workers} Locust workers "
                                   f"connected within {WORKERS_TIMEOUT_S:.0f} s")
            gevent.sleep(0.2)
        workers = [client.id for client in runner.clients.all]  # each must say it has sent every record
        runner.send_message(SETUP_MESSAGE, {"workers": runner.worker_count})
        self._install_signals(state.stop)
        started = time.monotonic()
        self._start_faults(started)
        self._calls_start()
        runner.start_shape()
        while runner.state not in (STATE_STOPPED, STATE_STOPPING) and not state.stopping:
            gevent.sleep(HEALTH_INTERVAL_S)
        state.stopping = True
        runner.stop()
        missing = collector.wait_drained(workers, DRAINED_WAIT_S)
        if missing:
            print(f"callproof: {len(missing)} of {len(workers)} workers did not say that every record was sent; "
                  "their last calls may be missing (events.jsonl: workers_not_drained)", file=sys.stderr)
        runner.quit()


class WorkerRun(Run):
    """Places calls for a master; writes no run folder of its own."""

    def execute(self) -> int:
        scenario = self.scenario
        if scenario.target.embedded:
            raise BadInput("the embedded target runs on one machine: run without --worker, or set target.uri")
        # Recordings wait here only until they have gone to the master with their call's record.
        self.audio_dir = Path(tempfile.mkdtemp(prefix="callproof-worker-audio-"))
        environment = LoadEnvironment(user_classes=[SipCaller, ArrivalScheduler])
        fleet = self._fleet(None)
        try:
            pool = fleet.start_pool("caller", plan.provision(scenario) + control_calls(scenario),
                                    exact=scenario.load.processes)
        except EngineError as exc:
            raise HarnessError(f"could not start the SIP engine: {exc}") from None
        self._pools.append(pool)
        check_registrations(pool, "caller")
        # Each worker's own control leg, to an echo on its own machine; its records go to the master.
        def send_control(record: dict[str, Any]) -> None:
            assert environment.runner is not None, "_work connects before the control leg places a call"
            environment.runner.send_message(CONTROL_MESSAGE, {**record, "worker": context.worker})

        control = self._prepare_control(fleet, pool, send_control)
        # Everything a user needs exists before we connect: the master may start the load at once.
        context = self._context(pool, fixed_target(scenario.target.uri), sink=lambda record: None)
        context.fire_request = environment.events.request.fire
        environment.callproof = context
        # Every socket to the master seals what it sends and checks what it receives, until the end.
        with authenticated_locust(self.options.master_secret or b"", Refusals()):
            return self._work(environment, context, pool, control)

    def _work(self, environment, context: LoadContext, pool, control: ControlLeg | None) -> int:
        """Connected to the master: take the setup, place calls, send records and health until the master quits."""
        scenario = self.scenario
        runner = environment.create_worker_runner(self.options.master_host, self.options.master_port)

        link = WorkerLink(runner.send_message)
        link.control = control
        context.sink = link.record

        def on_setup(environment, msg, **kwargs) -> None:
            workers, index = max(1, int(msg.data["workers"])), max(0, runner.worker_index)
            context.worker = f"worker{index}"
            # Workers must not repeat each other's random draws, nor record over each other's files.
            context.factory = CallFactory(scenario.call, seed=scenario.seed + index, audio_dir=self._audio_dir,
                                          stream=index)
            context.arrivals = plan.load_arrival_times(scenario.load, scenario.seed)[index::workers]
            if control is not None:
                control.concurrent = max(1, math.ceil(control.concurrent / workers))
                control.use_stream(index)

        runner.register_message(SETUP_MESSAGE, on_setup)

        @environment.events.test_start.add_listener
        def _started(**kwargs) -> None:
            context.stopping = False
            context.arrivals_start = time.monotonic()
            self._start_window()
            if control is not None:
                control.start()

        finishing = gevent.pool.Group()  # "all records sent", once the last call has ended

        @environment.events.test_stopping.add_listener
        def _stopping(**kwargs) -> None:
            context.stopping = True
            if control is not None:
                control.stopping = True
            finishing.spawn(link.finish, context, CALLS_END_GRACE_S, HANG_UP_WAIT_S)

        def report_health() -> None:
            while True:  # at once first: the master takes no call from a worker before its health
                runner.send_message(HEALTH_MESSAGE, {
                    **self._health.sample(self._generator_pids()), **self._engine_health(),
                    "in_flight": context.in_flight + (control.in_flight if control else 0),
                    "provisioned": pool.capacity, "attempted": context.attempted,
                    "capped": context.capped, "lost": context.lost, "slot_waits": pool.waited_for_slot,
                    "slot_wait_ms_max": round(context.slot_wait_ms_max, 3)})
                gevent.sleep(HEALTH_INTERVAL_S)

        health = gevent.spawn(report_health)
        try:
            runner.greenlet.join()
        finally:
            health.kill()
            finishing.kill()  # the master quit without waiting for it: nobody to tell
            self._stop_everything()
            shutil.rmtree(self._audio_dir, ignore_errors=True)
        return ExitCode.PASS


class _MasterState:
    def __init__(self) -> None:
        self.stopping = False

    def stop(self) -> None:
        self.stopping = True
