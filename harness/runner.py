"""One run of a scenario: engines, Locust, records, summary.

Roles (Locust's own distributed mode, unchanged):
- local: this process runs Locust's local runner, its SIP engine processes and,
  for the embedded target, the agents; it writes the run folder.
- master: runs the shape and writes the run folder; places no calls. Workers
  send each finished call to it (Locust custom message "callproof_call").
- worker: runs SipCaller/ArrivalScheduler users and its own SIP engine
  processes against the target, and sends every record to the master.

Stopping (end of shape, circuit breaker, SIGINT/SIGTERM): no new calls; calls
in progress finish their talk time (a signal hangs them up at once); every
record is written; summary.json is written last.
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.event

from harness import plan
from harness.calls import CallFactory, fixed_target
from harness.engines import EmbeddedTarget, Fleet
from harness.errors import BadInput, ExitCode, HarnessError
from harness.load import LoadContext
from harness.locust_users import ArrivalScheduler, PlanShape, SipCaller
from harness.progress import Progress
from harness.recorder import EventLog, JsonLines
from harness.safety import Breaker, RateCap
from harness.scenario import EMBEDDED, Scenario
from harness.summary import summarize, write_summary
from reports import layout
from sip.errors import EngineError
from sip.settings import AccountSpec, AgentSpec, EngineSettings, MediaSettings

_HEALTH_INTERVAL_S = 1.0
_DRAIN_MARGIN_S = 10.0
_WORKERS_TIMEOUT_S = 60.0
CALL_MESSAGE = "callproof_call"
SETUP_MESSAGE = "callproof_setup"
HEALTH_MESSAGE = "callproof_health"


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunOptions:
    out_dir: Path | None = None
    role: str = "local"  # local | master | worker
    web: bool = False
    web_port: int = 8089
    csv_prefix: str | None = None
    master_host: str = "127.0.0.1"
    master_port: int = 5557
    expect_workers: int = 1
    quiet: bool = False


def default_out_dir(scenario: Scenario) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Path("callproof-results") / f"{scenario.name}-{stamp}"


def prepare_folder(path: Path) -> Path:
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise BadInput(f"output folder {path} is not empty; choose another with --out")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"cannot create output folder {path}: {exc.strerror}") from None
    return path


def media_settings(scenario: Scenario) -> MediaSettings:
    overrides = {k: v for k, v in dataclasses.asdict(scenario.media).items() if v is not None}
    return MediaSettings.for_codecs(scenario.call.codecs, **overrides)


def caller_template(scenario: Scenario, log_dir: Path | None) -> EngineSettings:
    target = scenario.target
    transports = ("udp",) if target.uri == EMBEDDED else tuple(dict.fromkeys(("udp", target.transport)))
    credentials = target.credentials
    account = AccountSpec(
        user=target.from_user,
        proxy=target.outbound_proxy,
        registrar=_registrar_of(target.uri) if target.register else None,
        username=credentials.username if credentials else None,
        password=credentials.password if credentials else None,
        realm=credentials.realm if credentials else "*",
    )
    return EngineSettings(
        name="caller", transports=transports, codecs=scenario.call.codecs, srtp=target.srtp,
        tls_verify_server=target.tls_verify_server, media=media_settings(scenario), account=account,
    )


def _registrar_of(uri: str) -> str:
    """The registrar for a target URI: its host and port (sip:600@pbx:5060 -> sip:pbx:5060)."""
    scheme, rest = uri.split(":", 1)
    host = rest.split("@", 1)[-1].split(";", 1)[0]
    return f"{scheme}:{host}"


def provision(scenario: Scenario) -> int:
    """Concurrent calls the generator must hold (issue 5: rate x (setup timeout + longest talk))."""
    load, call = scenario.load, scenario.call
    if load.mode == "concurrency":
        need = plan.planned_peak_concurrency(load)
    else:
        hold_s = call.ring_timeout_s + (call.patience_s or 0) + plan.longest_duration_s(call.talk_time)
        need = math.ceil(plan.planned_peak_rate(load) * hold_s)
    return max(1, min(need, load.max_concurrent))


class Run:
    def __init__(self, scenario: Scenario, options: RunOptions) -> None:
        self.scenario = scenario
        self.options = options
        self.folder: Path | None = None
        self.stop_reason: str | None = None
        self.interrupted = False
        self._signalled = gevent.event.Event()
        self._pools: list = []

    # -- entry ---------------------------------------------------------------------

    def execute(self) -> int:
        role = self.options.role
        if role == "worker":
            return self._execute_worker()
        if role == "master" and self.scenario.target.uri == EMBEDDED:
            raise BadInput("the embedded target runs on one machine: run without --master, or set target.uri")
        self.folder = prepare_folder(self.options.out_dir or default_out_dir(self.scenario))
        (self.folder / layout.SCENARIO).write_text(self.scenario.run_text)
        self.events = EventLog(self.folder / layout.EVENTS)
        self.calls = JsonLines(self.folder / layout.CALLS)
        self.events.event("run_start", scenario=self.scenario.name, seed=self.scenario.seed, role=role,
                          target=self.scenario.target.uri, argv=sys.argv[1:])
        try:
            if role == "master":
                self._run_master()
            else:
                self._run_local()
        finally:
            for pool in self._pools:
                pool.stop()
            self.events.event("run_end", reason=self.stop_reason or "completed", interrupted=self.interrupted)
            self.calls.close()
            self.events.close()
        summary = summarize(self.folder)
        write_summary(self.folder, summary)
        if not self.options.quiet:
            Progress.print_table(summary, self.folder)
        return ExitCode.PASS

    # -- local ---------------------------------------------------------------------

    def _run_local(self) -> None:
        scenario = self.scenario
        logs = self.folder / "logs"
        logs.mkdir()
        fleet = Fleet(caller_template(scenario, logs), log_dir=logs)
        choose = fixed_target(scenario.target.uri)
        if scenario.target.uri == EMBEDDED:
            embedded = self._start_agents(fleet)
            choose = _least_busy(embedded)
        callers = self._start_callers(fleet, provision(scenario))
        context = self._context(callers, choose, sink=self.calls.write, stream=0)
        context.arrivals = plan.load_arrival_times(scenario.load, scenario.seed)
        from locust.env import Environment

        environment = Environment(user_classes=[SipCaller, ArrivalScheduler],
                                  shape_class=PlanShape(scenario.load, is_stopping=lambda: context.stopping))
        environment.callproof = context
        context.fire_request = environment.events.request.fire
        runner = environment.create_local_runner()
        self._serve(environment)
        self._install_signals(context)
        context.arrivals_start = time.monotonic()
        runner.start_shape()
        self._watch(runner, context, [callers])
        self._finish(runner, context, [callers])

    def _start_agents(self, fleet: Fleet) -> EmbeddedTarget:
        scenario = self.scenario
        agents = scenario.agents
        handle = ()
        if agents.handle_time is not None:
            gen = plan.rng(scenario.seed, "agent-handle-time")
            handle = tuple(float(x) for x in plan.sample_durations(agents.handle_time, 1000, gen))
        spec = AgentSpec(ring_delay_s=agents.ring_delay_s, handle_s=handle, mode=agents.mode,
                         prompt=str(agents.prompt) if agents.prompt else None,
                         pickup_marker=scenario.call.agent_marker)
        try:
            target = EmbeddedTarget.start(fleet, agents.count, spec)
        except EngineError as exc:
            raise HarnessError(f"could not start the embedded agents: {exc}") from None
        self._pools.append(target.pool)
        self.events.event("agents", processes=len(target.pool.processes), capacity=target.capacity)
        return target

    def _start_callers(self, fleet: Fleet, calls: int):
        processes = self.scenario.load.processes
        try:
            pool = fleet.start_pool("caller", calls if processes is None else 0, exact=processes)
        except EngineError as exc:
            raise HarnessError(f"could not start the SIP engine: {exc}") from None
        self._pools.append(pool)
        first = pool.processes[0]
        engine = {"pjsua2_version": first.version, "capacity_per_process": first.capacity,
                  "processes": len(pool.processes), "provisioned_calls": calls,
                  "media": first.settings.media.to_dict()}
        (self.folder / layout.ENGINE).write_text(json.dumps(engine, indent=2) + "\n")
        self.events.event("engine", **engine)
        if not self.options.quiet:
            print(f"engine: pjsua2 {first.version}, {first.capacity} calls per process, "
                  f"{len(pool.processes)} caller processes for {calls} concurrent calls, "
                  f"bridge {first.settings.media.clock_rate} Hz", file=sys.stderr)
        return pool

    def _context(self, pool, choose, *, sink, stream: int) -> LoadContext:
        scenario = self.scenario
        breaker = None
        if scenario.load.breaker.min_answer_rate > 0:
            breaker = Breaker(scenario.load.breaker.min_answer_rate, scenario.load.breaker.window_s,
                              min_calls=scenario.load.breaker.min_calls)
        factory = CallFactory(scenario.call, seed=scenario.seed, audio_dir=self._audio_dir(), stream=stream)
        return LoadContext(pool=pool, factory=factory, choose_target=choose,
                           rate_cap=RateCap(scenario.load.max_cps), max_concurrent=scenario.load.max_concurrent,
                           breaker=breaker, sink=sink, fire_request=lambda **kw: None)

    def _audio_dir(self) -> Path:
        base = self.folder if self.folder is not None else Path(".")
        return base / layout.AUDIO_DIR

    # -- watching and stopping ----------------------------------------------------------

    def _serve(self, environment) -> None:
        if self.options.web:
            environment.create_web_ui("127.0.0.1", self.options.web_port)
            print(f"Locust web UI: http://127.0.0.1:{self.options.web_port}", file=sys.stderr)
        if self.options.csv_prefix:
            from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter

            writer = StatsCSVFileWriter(environment, PERCENTILES_TO_REPORT, self.options.csv_prefix, False)
            gevent.spawn(writer.stats_writer)

    def _install_signals(self, context: LoadContext) -> None:
        def stop() -> None:
            if self._signalled.is_set():
                return
            self._signalled.set()
            self.interrupted = True
            self.stop_reason = "signal"
            context.stopping = True

        gevent.signal_handler(signal.SIGINT, stop)
        gevent.signal_handler(signal.SIGTERM, stop)

    def _watch(self, runner, context: LoadContext, pools: list) -> None:
        from locust.runners import STATE_STOPPED, STATE_STOPPING

        progress = Progress(quiet=self.options.quiet)
        started = time.monotonic()
        if context.breaker is not None:
            context.breaker.start(started)
        while runner.state not in (STATE_STOPPED, STATE_STOPPING) and not context.stopping:
            self._signalled.wait(_HEALTH_INTERVAL_S)
            now = time.monotonic()
            self._health(context, pools)
            if context.breaker is not None:
                trip = context.breaker.check(now)
                if trip is not None and self.stop_reason is None:
                    self.stop_reason = "breaker"
                    self.events.event("breaker", answer_rate=round(trip.answer_rate, 4), calls=trip.calls,
                                      window_s=trip.window_s, at_s=round(trip.at_s, 3))
                    print(f"callproof: circuit breaker: {trip.answer_rate:.0%} of the last {trip.calls} calls "
                          f"answered (floor {context.breaker.min_answer_rate:.0%}); stopping", file=sys.stderr)
                    context.stopping = True
            progress.update(now - started, context)
        context.stopping = True
        progress.done()

    def _health(self, context: LoadContext, pools: list) -> None:
        processes = [p for pool in pools for p in pool.processes]
        lag = max((p.pump_lag_ms_max for p in processes), default=0.0)
        for p in processes:
            p.pump_lag_ms_max = 0.0
        self.events.event("health", pump_lag_ms_max=round(lag, 3), in_flight=context.in_flight,
                          attempted=context.attempted, capped=context.capped, lost=context.lost,
                          slot_waits=sum(pool.waited_for_slot for pool in pools),
                          slot_wait_ms_max=round(context.slot_wait_ms_max, 3))

    def _finish(self, runner, context: LoadContext, pools: list) -> None:
        context.stopping = True
        runner.stop()
        if self._signalled.is_set():
            for pool in pools:  # hang up now: engines end their calls and send the records
                pool.stop()
        call = self.scenario.call
        longest = call.ring_timeout_s + (call.patience_s or 0) + plan.longest_duration_s(call.talk_time)
        if not context.drain(longest + _DRAIN_MARGIN_S):
            print(f"callproof: {context.in_flight} calls did not end in time; their records are lost",
                  file=sys.stderr)
        self._health(context, pools)
        runner.quit()

    # -- distributed ---------------------------------------------------------------------

    def _run_master(self) -> None:
        from locust.env import Environment

        scenario = self.scenario
        master_state = _MasterState()
        environment = Environment(user_classes=[SipCaller, ArrivalScheduler],
                                  shape_class=PlanShape(scenario.load, is_stopping=lambda: master_state.stopping,
                                                        schedulers=lambda: max(1, runner.worker_count)))
        runner = environment.create_master_runner(self.options.master_host, self.options.master_port)

        def on_call(environment, msg, **kwargs) -> None:
            self.calls.write(msg.data)

        def on_health(environment, msg, **kwargs) -> None:
            master_state.health[msg.node_id] = msg.data
            self.events.event("health", worker=msg.node_id, **msg.data)

        runner.register_message(CALL_MESSAGE, on_call)
        runner.register_message(HEALTH_MESSAGE, on_health)
        self._serve(environment)
        deadline = time.monotonic() + _WORKERS_TIMEOUT_S
        while runner.worker_count < self.options.expect_workers:
            if time.monotonic() > deadline:
                raise HarnessError(f"only {runner.worker_count} of {self.options.expect_workers} Locust workers "
                                   f"connected within {_WORKERS_TIMEOUT_S:.0f} s")
            gevent.sleep(0.2)
        runner.send_message(SETUP_MESSAGE, {"workers": runner.worker_count, "start_utc": time.time()})
        gevent.signal_handler(signal.SIGINT, master_state.interrupt)
        gevent.signal_handler(signal.SIGTERM, master_state.interrupt)
        runner.start_shape()
        from locust.runners import STATE_STOPPED, STATE_STOPPING

        while runner.state not in (STATE_STOPPED, STATE_STOPPING) and not master_state.stopping:
            gevent.sleep(_HEALTH_INTERVAL_S)
        if master_state.interrupted:
            self.interrupted = True
            self.stop_reason = "signal"
        master_state.stopping = True
        runner.stop()
        call = scenario.call
        longest = call.ring_timeout_s + (call.patience_s or 0) + plan.longest_duration_s(call.talk_time)
        deadline = time.monotonic() + longest + _DRAIN_MARGIN_S
        gevent.sleep(2 * _HEALTH_INTERVAL_S)
        while time.monotonic() < deadline and any(h.get("in_flight", 0) for h in master_state.health.values()):
            gevent.sleep(_HEALTH_INTERVAL_S)
        runner.quit()

    def _execute_worker(self) -> int:
        from locust.env import Environment

        scenario = self.scenario
        if scenario.target.uri == EMBEDDED:
            raise BadInput("the embedded target runs on one machine: run without --worker, or set target.uri")
        environment = Environment(user_classes=[SipCaller, ArrivalScheduler])
        runner = environment.create_worker_runner(self.options.master_host, self.options.master_port)
        fleet = Fleet(caller_template(scenario, None), log_dir=None)
        try:
            pool = fleet.start_pool("caller", provision(scenario), exact=scenario.load.processes)
        except EngineError as exc:
            raise HarnessError(f"could not start the SIP engine: {exc}") from None
        self._pools.append(pool)

        def sink(record: dict[str, Any]) -> None:
            runner.send_message(CALL_MESSAGE, record)

        context = self._context(pool, fixed_target(scenario.target.uri), sink=sink, stream=0)
        context.fire_request = environment.events.request.fire
        environment.callproof = context

        def on_setup(environment, msg, **kwargs) -> None:
            workers = max(1, int(msg.data["workers"]))
            index = max(0, runner.worker_index)
            context.factory = CallFactory(scenario.call, seed=scenario.seed, audio_dir=Path("audio"), stream=index)
            context.arrivals = plan.load_arrival_times(scenario.load, scenario.seed)[index::workers]

        runner.register_message(SETUP_MESSAGE, on_setup)

        @environment.events.test_start.add_listener
        def _started(**kwargs) -> None:
            context.stopping = False
            context.arrivals_start = time.monotonic()

        @environment.events.test_stopping.add_listener
        def _stopping(**kwargs) -> None:
            context.stopping = True

        def report_health() -> None:
            while True:
                gevent.sleep(_HEALTH_INTERVAL_S)
                lag = max((p.pump_lag_ms_max for p in pool.processes), default=0.0)
                for p in pool.processes:
                    p.pump_lag_ms_max = 0.0
                runner.send_message(HEALTH_MESSAGE, {"pump_lag_ms_max": round(lag, 3), "in_flight": context.in_flight,
                                                     "attempted": context.attempted, "capped": context.capped,
                                                     "lost": context.lost, "slot_waits": pool.waited_for_slot})

        health = gevent.spawn(report_health)
        try:
            runner.greenlet.join()
        finally:
            health.kill()
        return ExitCode.PASS


class _MasterState:
    def __init__(self) -> None:
        self.stopping = False
        self.interrupted = False
        self.health: dict[str, dict[str, Any]] = {}

    def interrupt(self) -> None:
        self.stopping = True
        self.interrupted = True


def _least_busy(target: EmbeddedTarget):
    def choose():
        name, uri = target.acquire()
        return uri, lambda: target.release(name)

    return choose
