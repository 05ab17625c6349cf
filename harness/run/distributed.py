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
from callproof.harness.run.users import ArrivalScheduler, PlanShape, SipCaller
from callproof.harness.scenario import plan
from callproof.reports import layout
from callproof.sip.errors import EngineError

WORKERS_TIMEOUT_S = 60.0
CALL_MESSAGE = "callproof_call"
AUDIO_MESSAGE = "callproof_audio"  # a worker's recording, sent just before its call's record
SETUP_MESSAGE = "callproof_setup"
HEALTH_MESSAGE = "callproof_health"
DRAINED_MESSAGE = "callproof_drained"  # a worker's last word: every call has ended and its record is sent
CONTROL_MESSAGE = "callproof_control"  # a worker's control-leg call (callproof.harness.run.control)
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
    into events.jsonl, and which of them have said that every record is sent."""

    def __init__(self, *, calls: JsonLines, events: EventLog, audio_dir: Path,
                 control: JsonLines | None = None) -> None:
        self.calls = calls
        self.control = control
        self.events = events
        self.audio_dir = audio_dir
        self.received: collections.Counter[str] = collections.Counter()  # records written, per worker
        self.drained: dict[str, dict[str, Any]] = {}
        self._drained_one = gevent.event.Event()

    def on_call(self, worker: str, record: dict) -> None:
        """A worker's record, its recording path pointing into this run's audio/."""
        if record.get("recording"):
            record = {**record, "recording": str(self.audio_dir / Path(record["recording"]).name)}
        self.calls.write(record)
        self.received[worker] += 1

    def on_control(self, worker: str, record: dict) -> None:
        """A worker's control-leg call: control.jsonl, never calls.jsonl."""
        if self.control is not None:
            self.control.write(record)

    def on_audio(self, worker: str, message: dict) -> None:
        """A worker's recording, into this run's audio/ (by its file name only: never a path from the wire)."""
        self.audio_dir.mkdir(exist_ok=True)
        (self.audio_dir / Path(message["name"]).name).write_bytes(message["data"])

    def on_health(self, worker: str, data: dict) -> None:
        self.events.event("health", worker=worker, **data)

    def on_drained(self, worker: str, data: dict) -> None:
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
        from locust.env import Environment
        from locust.runners import STATE_STOPPED, STATE_STOPPING

        scenario = self.scenario
        state = _MasterState()
        environment = Environment(user_classes=[SipCaller, ArrivalScheduler],
                                  shape_class=PlanShape(scenario.load, is_stopping=lambda: state.stopping,
                                                        schedulers=lambda: max(1, runner.worker_count)))
        runner = environment.create_master_runner(self.options.master_host, self.options.master_port)
        collector = Collector(calls=self.calls, events=self.events, audio_dir=self.audio_dir,
                              control=self._log(layout.CONTROL))
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
        from locust.env import Environment

        scenario = self.scenario
        if scenario.target.embedded:
            raise BadInput("the embedded target runs on one machine: run without --worker, or set target.uri")
        # Recordings wait here only until they have gone to the master with their call's record.
        self.audio_dir = Path(tempfile.mkdtemp(prefix="callproof-worker-audio-"))
        environment = Environment(user_classes=[SipCaller, ArrivalScheduler])
        fleet = self._fleet(None)
        try:
            pool = fleet.start_pool("caller", plan.provision(scenario) + control_calls(scenario),
                                    exact=scenario.load.processes)
        except EngineError as exc:
            raise HarnessError(f"could not start the SIP engine: {exc}") from None
        self._pools.append(pool)
        check_registrations(pool, "caller")
        # Each worker's own control leg, to an echo on its own machine; its records go to the master.
        control = self._prepare_control(
            fleet, pool, lambda record: runner.send_message(CONTROL_MESSAGE, {**record, "worker": context.worker}))
        # Everything a user needs exists before we connect: the master may start the load at once.
        context = self._context(pool, fixed_target(scenario.target.uri), sink=lambda record: None)
        context.fire_request = environment.events.request.fire
        environment.callproof = context
        runner = environment.create_worker_runner(self.options.master_host, self.options.master_port)

        link = WorkerLink(runner.send_message)
        link.control = control
        context.sink = link.record

        def on_setup(environment, msg, **kwargs) -> None:
            workers, index = max(1, int(msg.data["workers"])), max(0, runner.worker_index)
            context.worker = f"worker{index}"
            # Workers must not repeat each other's random draws, nor record over each other's files.
            context.factory = CallFactory(scenario.call, seed=scenario.seed + index, audio_dir=self.audio_dir,
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
            while True:
                gevent.sleep(HEALTH_INTERVAL_S)
                runner.send_message(HEALTH_MESSAGE, {
                    **self._health.sample(self._generator_pids()), **self._engine_health(),
                    "in_flight": context.in_flight + (control.in_flight if control else 0),
                    "provisioned": pool.capacity, "attempted": context.attempted,
                    "capped": context.capped, "lost": context.lost, "slot_waits": pool.waited_for_slot,
                    "slot_wait_ms_max": round(context.slot_wait_ms_max, 3)})

        health = gevent.spawn(report_health)
        try:
            runner.greenlet.join()
        finally:
            health.kill()
            finishing.kill()  # the master quit without waiting for it: nobody to tell
            self._stop_everything()
            shutil.rmtree(self.audio_dir, ignore_errors=True)
        return ExitCode.PASS


class _MasterState:
    def __init__(self) -> None:
        self.stopping = False

    def stop(self) -> None:
        self.stopping = True
