"""Locust's distributed mode: a master that writes the run folder, workers that place calls.

The master runs the shape, the probes, the faults and any registered agents, and
writes the run folder; it places no load calls. Each worker runs SipCaller /
ArrivalScheduler users and its own SIP engine processes against the target, and
sends every finished call to the master (Locust custom message "callproof_call"),
its recording first ("callproof_audio"), and its health every second.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import gevent

from callproof.harness.errors import BadInput, ExitCode, HarnessError
from callproof.harness.run.calls import CallFactory, fixed_target
from callproof.harness.run.control import control_calls
from callproof.harness.run.engines import check_registrations
from callproof.harness.run.runner import DRAIN_MARGIN_S, HEALTH_INTERVAL_S, Run
from callproof.harness.run.users import ArrivalScheduler, PlanShape, SipCaller
from callproof.harness.scenario import plan
from callproof.reports import layout
from callproof.sip.errors import EngineError

WORKERS_TIMEOUT_S = 60.0
CALL_MESSAGE = "callproof_call"
AUDIO_MESSAGE = "callproof_audio"  # a worker's recording, sent just before its call's record
SETUP_MESSAGE = "callproof_setup"
HEALTH_MESSAGE = "callproof_health"
CONTROL_MESSAGE = "callproof_control"  # a worker's control-leg call (callproof.harness.run.control)


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
        runner.register_message(CALL_MESSAGE, lambda environment, msg, **kw: self.calls.write(self._local(msg.data)))
        runner.register_message(AUDIO_MESSAGE, lambda environment, msg, **kw: self._save_audio(msg.data))
        control = self._log(layout.CONTROL)
        runner.register_message(CONTROL_MESSAGE, lambda environment, msg, **kw: control.write(msg.data))

        def on_health(environment, msg, **kwargs) -> None:
            state.health[msg.node_id] = msg.data
            self.events.event("health", worker=msg.node_id, **msg.data)

        runner.register_message(HEALTH_MESSAGE, on_health)
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
        runner.send_message(SETUP_MESSAGE, {"workers": runner.worker_count})
        self._install_signals(state.stop)
        started = time.monotonic()
        self._start_faults(started)
        runner.start_shape()
        while runner.state not in (STATE_STOPPED, STATE_STOPPING) and not state.stopping:
            gevent.sleep(HEALTH_INTERVAL_S)
        state.stopping = True
        runner.stop()
        deadline = time.monotonic() + plan.longest_call_s(scenario) + DRAIN_MARGIN_S
        gevent.sleep(2 * HEALTH_INTERVAL_S)  # let every worker report after the stop
        while time.monotonic() < deadline and any(h.get("in_flight", 0) for h in state.health.values()):
            gevent.sleep(HEALTH_INTERVAL_S)
        runner.quit()

    def _save_audio(self, message: dict) -> None:
        """A worker's recording, into this run's audio/ (by its file name only: never a path from the wire)."""
        self.audio_dir.mkdir(exist_ok=True)
        (self.audio_dir / Path(message["name"]).name).write_bytes(message["data"])

    def _local(self, record: dict) -> dict:
        """A worker's record, its recording path pointing into this run's audio/."""
        if record.get("recording"):
            record = {**record, "recording": str(self.audio_dir / Path(record["recording"]).name)}
        return record


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

        def send(record: dict) -> None:
            recording = Path(record["recording"]) if record.get("recording") else None
            if recording is not None and recording.is_file():
                runner.send_message(AUDIO_MESSAGE, {"name": recording.name, "data": recording.read_bytes()})
                recording.unlink()
            runner.send_message(CALL_MESSAGE, record)

        context.sink = send

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

        @environment.events.test_stopping.add_listener
        def _stopping(**kwargs) -> None:
            context.stopping = True
            if control is not None:
                control.stopping = True

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
            self._stop_everything()
            shutil.rmtree(self.audio_dir, ignore_errors=True)
        return ExitCode.PASS


class _MasterState:
    def __init__(self) -> None:
        self.stopping = False
        self.health: dict[str, dict[str, Any]] = {}

    def stop(self) -> None:
        self.stopping = True
