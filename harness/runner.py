"""One run of a scenario: processes, engines, Locust, probes, faults, records, bundle.

Roles (Locust's own distributed mode, unchanged):
- local: this process runs Locust's local runner, its SIP engine processes and
  the agents (embedded, or registered to the target with agents.register_to);
  it writes the run folder.
- master: runs the shape, the probes, the faults and any registered agents, and
  writes the run folder; it places no load calls. Workers send each finished
  call to it (Locust custom message "callproof_call"), its recording first
  ("callproof_audio").
- worker: runs SipCaller/ArrivalScheduler users and its own SIP engine
  processes against the target, and sends every record, and every recording,
  to the master.

Stopping (end of shape, circuit breaker, SIGINT/SIGTERM): no new calls; calls
in progress finish their talk time (a signal hangs them up at once); every
record is written; then PESQ of the recorded sample, summary.json, the
reports, and the signature, last.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.event

from harness import plan
from harness.calls import CallFactory, fixed_target
from harness.capture import MediaCapture, capture_filter
from harness.engines import EmbeddedTarget, Fleet
from harness.errors import BadInput, ExitCode, HarnessError
from harness.faults import FaultInjector
from harness.health import GeneratorHealth
from harness.load import LoadContext
from harness.locust_users import ArrivalScheduler, PlanShape, SipCaller
from harness.probes import Prober
from harness.processes import ScenarioProcesses
from harness.progress import Progress
from harness.recorder import EventLog, JsonLines
from harness.registered_agents import RegisteredAgents, agent_spec
from harness.safety import Breaker, RateCap
from harness.scenario import EMBEDDED, Scenario
from harness.summary import summarize, write_summary
from reports import layout
from sip.errors import EngineError
from sip.pool import EnginePool
from sip.records import CallRecord
from sip.settings import AccountSpec, CallSpec, EngineSettings

_HEALTH_INTERVAL_S = 1.0
_DRAIN_MARGIN_S = 10.0
_WORKERS_TIMEOUT_S = 60.0
CALL_MESSAGE = "callproof_call"
AUDIO_MESSAGE = "callproof_audio"  # a worker's recording, sent just before its call's record
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
    key_path: Path | None = None  # signing key; None: the per-user default key
    lang: str = "en"


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


def caller_template(scenario: Scenario) -> EngineSettings:
    target = scenario.target
    transports = ("udp",) if target.embedded else tuple(dict.fromkeys(("udp", target.transport)))
    credentials = target.credentials
    account = AccountSpec(
        user=target.from_user,
        proxy=target.outbound_proxy,
        registrar=_registrar_of(target.uri) if target.register else None,
        username=credentials.username if credentials else None,
        password=credentials.password if credentials else None,
        realm=credentials.realm if credentials else "*",
    )
    return EngineSettings(name="caller", bind_ip=local_address_for(target.uri), transports=transports,
                          codecs=scenario.call.codecs, srtp=target.srtp,
                          tls_verify_server=target.tls_verify_server, media=scenario.media_settings(),
                          account=account)


def local_address_for(uri: str) -> str:
    """The address of ours that reaches `uri`'s host: what our SIP and RTP sockets bind and announce.

    127.0.0.1 for the embedded target and loopback targets; otherwise the source address
    the kernel picks for that host (in a container: the container's address).
    """
    if uri == EMBEDDED:
        return "127.0.0.1"
    from harness.probes import uri_host_port

    host, port = uri_host_port(uri, "udp")
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(address)  # UDP: no packet is sent, the kernel only picks a route
            return probe.getsockname()[0]
    except OSError as exc:
        raise BadInput(f"cannot reach the target host {host} from this machine: {exc.strerror or exc}") from None


def _registrar_of(uri: str) -> str:
    """The registrar for a target URI: its host and port (sip:600@pbx:5060 -> sip:pbx:5060)."""
    scheme, rest = uri.split(":", 1)
    host = rest.split("@", 1)[-1].split(";", 1)[0]
    return f"{scheme}:{host}"


def longest_call_s(scenario: Scenario) -> float:
    """How long one call can hold a slot within the scenario's own timeouts."""
    call = scenario.call
    dtmf_s = sum(step.wait_s for step in call.dtmf)
    return call.ring_timeout_s + dtmf_s + (call.patience_s or 0) + plan.longest_duration_s(call.talk_time)


def provision(scenario: Scenario) -> int:
    """Concurrent calls the generator must hold (issue 5: rate x (setup timeout + longest talk))."""
    load = scenario.load
    if load.mode == "concurrency":
        need = plan.planned_peak_concurrency(load)
    else:
        need = math.ceil(plan.planned_peak_rate(load) * longest_call_s(scenario))
    return max(1, min(need, load.max_concurrent))


class Run:
    def __init__(self, scenario: Scenario, options: RunOptions) -> None:
        self.scenario = scenario
        self.options = options
        self.folder: Path | None = None
        self.stop_reason: str | None = None
        self.interrupted = False
        self._signalled = gevent.event.Event()
        self._pools: list[EnginePool] = []
        self._logs: list[JsonLines] = []
        self._processes: ScenarioProcesses | None = None
        self.audio_dir: Path | None = None  # where recordings are written (see _execute_worker)
        self._capture: MediaCapture | None = None
        self._prober: Prober | None = None
        self._faults: gevent.Greenlet | None = None
        self._health = GeneratorHealth()

    # -- entry ---------------------------------------------------------------------

    def execute(self) -> int:
        role = self.options.role
        if role == "worker":
            return self._execute_worker()
        if role == "master" and self.scenario.target.embedded:
            raise BadInput("the embedded target runs on one machine: run without --master, or set target.uri")
        self.folder = prepare_folder(self.options.out_dir or default_out_dir(self.scenario))
        (self.folder / layout.SCENARIO).write_text(self.scenario.run_text)
        self.logs_dir = self.folder / "logs"
        self.logs_dir.mkdir()
        self.audio_dir = self.folder / layout.AUDIO_DIR
        self.events = self._log(layout.EVENTS, EventLog)
        self.calls = self._log(layout.CALLS)
        self.events.event("run_start", scenario=self.scenario.name, seed=self.scenario.seed, role=role,
                          target=self.scenario.target.uri)
        try:
            if role == "master":
                self._run_master()
            else:
                self._run_local()
        finally:
            self._stop_everything()
            self.events.event("run_end", reason=self.stop_reason or "completed", interrupted=self.interrupted)
            for log in self._logs:
                log.close()
        return self._conclude()

    def _log(self, name: str, kind=JsonLines):
        log = kind(self.folder / name)
        self._logs.append(log)
        return log

    def _conclude(self) -> int:
        from harness.quality import score_recordings

        score_recordings(self.folder, self.scenario)
        summary = summarize(self.folder)
        write_summary(self.folder, summary)
        from reports.bundle import finalize

        finalize(self.folder, key_path=self.options.key_path, lang=self.options.lang)
        if not self.options.quiet:
            Progress.print_table(summary, self.folder)
        from harness.verify import exit_code

        return exit_code(summary["verdict"])

    # -- local ---------------------------------------------------------------------

    def _run_local(self) -> None:
        scenario = self.scenario
        fleet = Fleet(caller_template(scenario), log_dir=self.logs_dir)
        self._start_processes()
        choose = fixed_target(scenario.target.uri)
        probe_uri = scenario.probes.uri or scenario.target.uri
        if scenario.target.embedded:
            embedded = self._start_agents(fleet)
            choose = embedded.choose
            probe_uri = embedded.probe_uri or probe_uri
        elif scenario.agents.register_to:
            self._register_agents(fleet)
        callers = self._start_callers(fleet, provision(scenario))
        self._prepare_probes(fleet, probe_uri)
        self._start_capture(fleet)  # every engine has its ports now, and no call has been placed
        self._start_probes()
        context = self._context(callers, choose, sink=self.calls.write)
        context.arrivals = plan.load_arrival_times(scenario.load, scenario.seed)
        from locust.env import Environment

        environment = Environment(user_classes=[SipCaller, ArrivalScheduler],
                                  shape_class=PlanShape(scenario.load, is_stopping=lambda: context.stopping))
        environment.callproof = context
        context.fire_request = environment.events.request.fire
        runner = environment.create_local_runner()
        self._serve(environment)
        self._install_signals(lambda: setattr(context, "stopping", True))
        started = time.monotonic()
        context.arrivals_start = started
        self._start_faults(started)
        runner.start_shape()
        self._watch(runner, context, started)
        self._finish(runner, context)

    def _start_processes(self) -> None:
        if self.scenario.processes:
            self._processes = ScenarioProcesses(self.scenario.base_dir, self.logs_dir)
            self._processes.start_all(self.scenario.processes)
            self.events.event("processes", started=[p.name for p in self.scenario.processes])

    def _start_capture(self, fleet: Fleet) -> None:
        """The media of this machine's engines, once they all have ports and before the first call
        (on a master: the probes' and registered agents'; workers capture nothing)."""
        spec = self.scenario.capture
        if not spec.enabled:
            return
        path = self.folder / layout.CAPTURES_DIR / layout.MEDIA_CAPTURE
        bpf = capture_filter(fleet.template.bind_ip, fleet.rtp_ports)  # what the engines bound
        self._capture = MediaCapture(spec, bpf, path, self.logs_dir / "dumpcap.log")
        self._capture.start()
        self.events.event("capture", file=str(path.relative_to(self.folder)), filter=bpf,
                          seconds=spec.seconds, max_mb=spec.max_mb)

    def _start_agents(self, fleet: Fleet) -> "EmbeddedAgents":
        scenario = self.scenario
        agents = scenario.agents
        spec = agent_spec(scenario)
        agent_log = self._log(layout.AGENTS)
        try:
            target = EmbeddedTarget.start(fleet, agents.count, spec, on_inbound=lambda r: agent_log.write(r.to_dict()))
            self._pools.append(target.pool)
            probe_agent = None
            if scenario.probes.call_interval_s:
                # Probes get their own agent: they must never find every agent busy with load.
                probe_agent = fleet.start_pool("probe-agent", 1, agent=dataclasses.asdict(spec),
                                               account=AccountSpec(user="agent").to_dict())
                self._pools.append(probe_agent)
        except EngineError as exc:
            raise HarnessError(f"could not start the embedded agents: {exc}") from None
        self.events.event("agents", processes=len(target.pool.processes), capacity=target.capacity)
        return EmbeddedAgents(target, probe_agent)

    def _register_agents(self, fleet: Fleet) -> None:
        """The scenario's agents, registered to the target's registrar before any call."""
        agent_log = self._log(layout.AGENTS)
        agents = RegisteredAgents.start(fleet, self.scenario,
                                        on_inbound=lambda user, r: agent_log.write({"agent": user, **r.to_dict()}))
        self._pools.append(agents.pool)
        self.events.event("agents", processes=len(agents.pool.processes), capacity=agents.capacity,
                          registrar=agents.registrar,
                          registrations=[dataclasses.asdict(r) for r in agents.registrations])

    def _start_callers(self, fleet: Fleet, calls: int) -> EnginePool:
        try:
            pool = fleet.start_pool("caller", calls, exact=self.scenario.load.processes)
        except EngineError as exc:
            raise HarnessError(f"could not start the SIP engine: {exc}") from None
        self._pools.append(pool)
        check_registrations(pool, "caller")
        first = pool.processes[0]
        engine = {**first.engine, "pjproject_version": first.version, "max_calls_per_process": first.capacity,
                  "processes": len(pool.processes), "provisioned_calls": calls,
                  "media": first.settings.media.to_dict()}
        (self.folder / layout.ENGINE).write_text(json.dumps(engine, indent=2) + "\n")
        self.events.event("engine", **engine)
        if not self.options.quiet:
            from sip.engine_info import summary_line

            print(f"engine: {summary_line(engine)}; {len(pool.processes)} caller processes for {calls} "
                  "concurrent calls", file=sys.stderr)
        return pool

    def _prepare_probes(self, fleet: Fleet, uri: str) -> None:
        probes, call = self.scenario.probes, self.scenario.call
        if not (probes.call_interval_s or probes.options_interval_s):
            return
        pool = None
        if probes.call_interval_s:
            try:
                pool = fleet.start_pool("probe", 1)
            except EngineError as exc:
                raise HarnessError(f"could not start the probe engine: {exc}") from None
            self._pools.append(pool)

        def make_spec() -> CallSpec:
            return CallSpec(uri=uri, ring_timeout_s=call.ring_timeout_s, talk_s=probes.call_talk_s,
                            prompt=str(call.prompt) if call.prompt else None, media_timeout_s=call.media_timeout_s)

        transport = "udp" if self.scenario.target.embedded else self.scenario.target.transport
        self._prober = Prober(pool=pool, make_spec=make_spec, uri=uri, transport=transport,
                              call_interval_s=probes.call_interval_s, options_interval_s=probes.options_interval_s,
                              out=self._log(layout.PROBES))

    def _start_probes(self) -> None:
        if self._prober is not None:
            self._prober.start()

    def _start_faults(self, started: float) -> None:
        if self.scenario.faults:
            injector = FaultInjector(self.scenario.faults, processes=self._processes, events=self.events,
                                     base_dir=self.scenario.base_dir)
            self._faults = gevent.spawn(injector.run, started)

    def _context(self, pool: EnginePool, choose, *, sink) -> LoadContext:
        scenario = self.scenario
        breaker = None
        if scenario.load.breaker.min_answer_rate > 0:
            breaker = Breaker(scenario.load.breaker.min_answer_rate, scenario.load.breaker.window_s,
                              min_calls=scenario.load.breaker.min_calls)
        factory = CallFactory(scenario.call, seed=scenario.seed, audio_dir=self.audio_dir)
        echo = scenario.target.embedded and scenario.agents.mode == "echo"
        return LoadContext(pool=pool, factory=factory, choose_target=choose,
                           rate_cap=RateCap(scenario.load.max_cps), max_concurrent=scenario.load.max_concurrent,
                           breaker=breaker, sink=sink, fire_request=lambda **kw: None,
                           enrich=lambda record: with_quality(record, echo_path=echo))

    # -- watching and stopping ----------------------------------------------------------

    def _serve(self, environment) -> None:
        if self.options.web:
            # Locust's UI re-parses sys.argv with Locust's own parser on every page it serves,
            # and our options (--web...) are not Locust's: give it the bare program name.
            sys.argv = sys.argv[:1]
            environment.create_web_ui("127.0.0.1", self.options.web_port)
            print(f"Locust web UI: http://127.0.0.1:{self.options.web_port}", file=sys.stderr)
        if self.options.csv_prefix:
            from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter

            writer = StatsCSVFileWriter(environment, PERCENTILES_TO_REPORT, self.options.csv_prefix, False)
            gevent.spawn(writer.stats_writer)

    def _install_signals(self, stop_load) -> None:
        def stop() -> None:
            if self._signalled.is_set():
                return
            self._signalled.set()
            self.interrupted = True
            self.stop_reason = "signal"
            stop_load()

        gevent.signal_handler(signal.SIGINT, stop)
        gevent.signal_handler(signal.SIGTERM, stop)

    def _watch(self, runner, context: LoadContext, started: float) -> None:
        from locust.runners import STATE_STOPPED, STATE_STOPPING

        progress = Progress(quiet=self.options.quiet)
        if context.breaker is not None:
            context.breaker.start(started)
        while runner.state not in (STATE_STOPPED, STATE_STOPPING) and not context.stopping:
            self._signalled.wait(_HEALTH_INTERVAL_S)
            now = time.monotonic()
            self._health_event(context)
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

    def _generator_pids(self) -> list[int]:
        import os

        return [os.getpid(), *(p.pid for pool in self._pools for p in pool.processes if p.pid)]

    def _health_event(self, context: LoadContext) -> None:
        processes = [p for pool in self._pools for p in pool.processes]
        lag = max((p.pump_lag_ms_max for p in processes), default=0.0)
        for p in processes:
            p.pump_lag_ms_max = 0.0
        callers = context.pool
        self.events.event("health", **self._health.sample(self._generator_pids()), pump_lag_ms_max=round(lag, 3),
                          in_flight=context.in_flight, provisioned=callers.capacity, attempted=context.attempted,
                          capped=context.capped, lost=context.lost, slot_waits=callers.waited_for_slot,
                          slot_wait_ms_max=round(context.slot_wait_ms_max, 3))

    def _finish(self, runner, context: LoadContext) -> None:
        context.stopping = True
        runner.stop()
        if self._signalled.is_set():
            context.pool.stop()  # hang up now: engines end their calls and send the records
        if not context.drain(longest_call_s(self.scenario) + _DRAIN_MARGIN_S):
            print(f"callproof: {context.in_flight} calls did not end in time; their records are lost",
                  file=sys.stderr)
        self._health_event(context)
        runner.quit()

    def _stop_everything(self) -> None:
        if self._faults is not None:
            self._faults.kill()
        if self._prober is not None:
            self._prober.stop(drain_s=0 if self.interrupted else longest_call_s(self.scenario))
        for pool in self._pools:
            pool.stop()
        if self._capture is not None:
            self._capture.stop()  # after the engines: their last packets are in it
        if self._processes is not None:
            self._processes.stop_all()
        self._health.stop()

    # -- distributed ---------------------------------------------------------------------

    def _run_master(self) -> None:
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

        def on_health(environment, msg, **kwargs) -> None:
            state.health[msg.node_id] = msg.data
            self.events.event("health", worker=msg.node_id, **msg.data)

        runner.register_message(HEALTH_MESSAGE, on_health)
        self._serve(environment)
        self._start_processes()
        fleet = Fleet(caller_template(scenario), log_dir=self.logs_dir)
        if scenario.agents.register_to:
            self._register_agents(fleet)
        self._prepare_probes(fleet, scenario.probes.uri or scenario.target.uri)
        self._start_capture(fleet)
        self._start_probes()
        deadline = time.monotonic() + _WORKERS_TIMEOUT_S
        while runner.worker_count < self.options.expect_workers:
            if time.monotonic() > deadline:
                raise HarnessError(f"only {runner.worker_count} of {self.options.expect_workers} Locust workers "
                                   f"connected within {_WORKERS_TIMEOUT_S:.0f} s")
            gevent.sleep(0.2)
        runner.send_message(SETUP_MESSAGE, {"workers": runner.worker_count})
        self._install_signals(state.stop)
        started = time.monotonic()
        self._start_faults(started)
        runner.start_shape()
        while runner.state not in (STATE_STOPPED, STATE_STOPPING) and not state.stopping:
            gevent.sleep(_HEALTH_INTERVAL_S)
        state.stopping = True
        runner.stop()
        deadline = time.monotonic() + longest_call_s(scenario) + _DRAIN_MARGIN_S
        gevent.sleep(2 * _HEALTH_INTERVAL_S)  # let every worker report after the stop
        while time.monotonic() < deadline and any(h.get("in_flight", 0) for h in state.health.values()):
            gevent.sleep(_HEALTH_INTERVAL_S)
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

    def _execute_worker(self) -> int:
        from locust.env import Environment

        scenario = self.scenario
        if scenario.target.embedded:
            raise BadInput("the embedded target runs on one machine: run without --worker, or set target.uri")
        # Recordings wait here only until they have gone to the master with their call's record.
        self.audio_dir = Path(tempfile.mkdtemp(prefix="callproof-worker-audio-"))
        environment = Environment(user_classes=[SipCaller, ArrivalScheduler])
        fleet = Fleet(caller_template(scenario), log_dir=None)
        try:
            pool = fleet.start_pool("caller", provision(scenario), exact=scenario.load.processes)
        except EngineError as exc:
            raise HarnessError(f"could not start the SIP engine: {exc}") from None
        self._pools.append(pool)
        check_registrations(pool, "caller")
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
                runner.send_message(HEALTH_MESSAGE, {
                    **self._health.sample(self._generator_pids()), "pump_lag_ms_max": round(lag, 3),
                    "in_flight": context.in_flight, "provisioned": pool.capacity, "attempted": context.attempted,
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


def check_registrations(pool: EnginePool, who: str) -> None:
    """Every process of `pool` that registers got a 200; else one sentence (2: credentials, 3: no answer)."""
    for process in pool.processes:
        registrar = process.settings.account.registrar
        if registrar is None:
            continue
        code, reason, _ = process.registration or (None, "no answer", 0)
        if code == 200:
            continue
        if code in (401, 403, 407):
            raise BadInput(f"{registrar} refused the {who}'s registration ({code} {reason}): check the credentials")
        raise HarnessError(f"the {who} could not register with {registrar} ({code or 'no answer'} {reason})".strip())


class EmbeddedAgents:
    """The embedded target as the load and the probes see it."""

    def __init__(self, target: EmbeddedTarget, probe_agent: EnginePool | None) -> None:
        self.target = target
        self.probe_uri = None
        if probe_agent is not None:
            self.probe_uri = f"sip:agent@127.0.0.1:{probe_agent.processes[0].sip_ports['udp']}"

    def choose(self):
        name, uri = self.target.acquire()
        return uri, lambda: self.target.release(name)


class _MasterState:
    def __init__(self) -> None:
        self.stopping = False
        self.health: dict[str, dict[str, Any]] = {}

    def stop(self) -> None:
        self.stopping = True


def with_quality(record: CallRecord, *, echo_path: bool) -> CallRecord:
    """The call's record with its E-model quality per direction (rtp_analysis.quality)."""
    if record.media is None:
        return record
    from rtp_analysis.quality import call_quality

    # pjmedia conceals lost G.711 frames (PLC on by default): G.113's Bpl with PLC applies.
    quality = call_quality(dataclasses.asdict(record.media), concealment=True, echo_path=echo_path)
    return dataclasses.replace(record, quality=quality)
