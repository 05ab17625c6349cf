"""One run of a scenario: its folder, its parts, its end.

`run_scenario` picks the role (Locust's own distributed mode, unchanged):
- local (harness.run.local): this process runs Locust's local runner, its SIP engine
  processes and the agents (embedded, or registered to the target with
  agents.register_to); it writes the run folder.
- master and worker (harness.run.distributed): the master runs the shape, the probes,
  the faults and any registered agents, and writes the run folder; each worker places
  calls with its own engine processes and sends every record to the master.

`Run` holds what the roles share: the folder and its logs, the scenario's processes,
probes, faults and capture, the load context, Locust's web UI and CSV, signals, and
the end of a run: PESQ of the recorded sample, summary.json, the reports, and the
signature, last (callproof.harness.run.conclude).

How a run ends (harness.run.local; a distributed worker does the same, harness.run.distributed):
- When the load's duration is over (or the circuit breaker trips) no new call starts.
  Calls in progress may end by their own rules for CALLS_END_GRACE_S; then the run
  hangs up those still up (BYE, or CANCEL while ringing) and waits at most
  HANG_UP_WAIT_S for their records. So the calls end at most duration + 10 s +
  10 s after the start; the reports and the signature follow.
- A signal (SIGINT, SIGTERM) skips the grace: the calls are hung up at once. A
  second signal during the hang-up changes nothing: every call is still recorded.
- A call the run hung up is recorded with failure "stopped"; the verifier judges
  what it had decided (callproof.harness.verdict.connect).

Failures: everything the end needs is checked before the first call (the scenario
as the verifier will read it, callproof.harness.scenario.loader; the signing key).
A failure before any call is placed ends the command at once, in one sentence. One
after calls were placed still concludes the run: summary.json with every measured
figure, the traceback in logs/harness.log, one sentence, exit 3.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import gevent
import gevent.event

from callproof.harness.errors import BadInput, HarnessError, exit_code_for
from callproof.harness.run import web_tab
from callproof.harness.run.calls import CallFactory, TargetChooser
from callproof.harness.run.capture import MediaCapture, capture_filter, keep_only_ports
from callproof.harness.run.conclude import conclude, describe, log_traceback
from callproof.harness.run.control import ControlLeg, control_off_reason
from callproof.harness.run.engines import Fleet, caller_template
from callproof.harness.run.faults import FaultInjector
from callproof.harness.run.health import HealthSampler
from callproof.harness.run.live import LiveFigures
from callproof.harness.run.load import LoadContext
from callproof.harness.run.metrics import MetricsServer
from callproof.harness.run.probes import Prober
from callproof.harness.run.processes import ScenarioProcesses, scenario_environment
from callproof.harness.run.recorder import CallLog, EventLog, JsonLines
from callproof.harness.run.registered_agents import RegisteredAgents
from callproof.harness.run.safety import CircuitBreaker, RateCap
from callproof.harness.scenario.model import Permits, Scenario
from callproof.reports import layout
from callproof.reports.records import RecordsError, load_calls, read_jsonl
from callproof.sip.errors import EngineError
from callproof.sip.pool import EnginePool, stop_pools
from callproof.sip.records import CallRecord
from callproof.sip.settings import CallSpec

if TYPE_CHECKING:
    from callproof.reports.keys import SigningKey

HEALTH_INTERVAL_S = 1.0
DRAIN_MARGIN_S = 10.0  # distributed runs: the master's margin for its workers' last messages
CALLS_END_GRACE_S = 10.0  # after the load's end, calls may still end on their own this long
HANG_UP_WAIT_S = 10.0  # then, how long hung-up calls have to send their records (a BYE's response: 4 s)


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
    metrics_port: int | None = None  # serve OpenMetrics on this port while the run goes
    metrics_host: str = "127.0.0.1"
    permits: Permits = Permits()  # what the command line allows the scenario (--allow-...)
    master_secret: bytes | None = dataclasses.field(default=None, repr=False)  # master and workers (worker_auth)


def run_scenario(scenario: Scenario, options: RunOptions) -> int:
    """Run `scenario` in the role `options` names; the exit code."""
    from callproof.harness.run.distributed import MasterRun, WorkerRun
    from callproof.harness.run.local import LocalRun

    kind = {"local": LocalRun, "master": MasterRun, "worker": WorkerRun}[options.role]
    return kind(scenario, options).execute()


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


class Run:
    """A run that writes a run folder (local and master); subclasses place the load."""

    def __init__(self, scenario: Scenario, options: RunOptions) -> None:
        self.scenario = scenario
        self.options = options
        self.folder: Path | None = None
        self.stop_reason: str | None = None
        self.interrupted = False
        self._signalled = gevent.event.Event()
        self._pools: list[EnginePool] = []
        self._fleets: list[Fleet] = []
        self._logs: list[JsonLines] = []
        self._processes: ScenarioProcesses | None = None
        self.calls_placed = False  # a load or probe call has started: from now on a failure still concludes
        self.signing_key: SigningKey | None = None  # read before the first call and before any child starts
        self.audio_dir: Path | None = None  # where recordings are written
        self._capture: MediaCapture | None = None
        self._prober: Prober | None = None
        self._faults: gevent.Greenlet | None = None
        self._control: ControlLeg | None = None
        self._health = HealthSampler()
        self._live: LiveFigures | None = None  # what the live views (--metrics-port, --web) read
        self._metrics: MetricsServer | None = None

    @property
    def _folder(self) -> Path:
        assert self.folder is not None, "_execute prepares the run folder before anything writes to it"
        return self.folder

    @property
    def _audio_dir(self) -> Path:
        assert self.audio_dir is not None, "set with the run folder (a worker: its temporary folder)"
        return self.audio_dir

    # -- entry ---------------------------------------------------------------------

    def execute(self) -> int:
        self._start_live()  # before the folder: a port already taken is refused with nothing written
        try:
            code = self._execute()
            if self._live is not None:
                self._live.wait_for_last_read(gevent.sleep)  # a watcher sees the final figures
            return code
        finally:
            if self._metrics is not None:
                self._metrics.stop()

    def _start_live(self) -> None:
        options = self.options
        if options.metrics_port is None and not options.web:
            return
        self._live = LiveFigures(self.scenario, role=options.role)
        if options.metrics_port is not None:
            self._metrics = MetricsServer(self._live, options.metrics_host, options.metrics_port)
            if not options.quiet:
                print(f"metrics (OpenMetrics): {self._metrics.address}", file=sys.stderr)

    def _execute(self) -> int:
        from callproof.reports.bundle import signing_key

        folder = self.options.out_dir or default_out_dir(self.scenario)
        # Read once, now: a key that cannot sign wastes no run, and no child of the run exists yet.
        self.signing_key = signing_key(folder, self.options.key_path)
        _no_memory_reads()
        self.folder = prepare_folder(folder)
        (self.folder / layout.SCENARIO).write_text(self.scenario.run_text)
        self.logs_dir = self.folder / layout.LOGS_DIR
        self.logs_dir.mkdir()
        self.audio_dir = self.folder / layout.AUDIO_DIR
        self.events = self._log(layout.EVENTS, EventLog)
        self.calls = self._log(layout.CALLS, CallLog)
        self.events.event("run_start", scenario=self.scenario.name, seed=self.scenario.seed, role=self.options.role,
                          target=self.scenario.target.uri)
        problems: list[dict[str, str]] = []
        try:
            try:
                self.run()
            except Exception as exc:  # noqa: BLE001 - after the first call, a failure still concludes the run
                if not self.calls_placed:
                    self.stop_reason = "error"  # run_end says so, not "completed"
                    raise self._before_any_call(exc) from None
                self._load_failed(exc, problems)
            finally:
                try:
                    self._stop_everything()
                except Exception as exc:  # noqa: BLE001 - the records already sent must still be concluded
                    if not self.calls_placed:
                        raise self._before_any_call(exc) from None
                    self._load_failed(exc, problems, step="stopping the run's processes")
        finally:
            self.events.event("run_end", reason=self.stop_reason or "completed", interrupted=self.interrupted)
            for log in self._logs:
                log.close()
        return self._conclude(problems)

    def run(self) -> None:
        """Place the load and return once every call has ended (subclasses)."""
        raise NotImplementedError

    def _fleet(self, log_dir: Path | None) -> Fleet:
        """Engine processes laid out for the scenario's callers; their ports are given back at the end."""
        fleet = Fleet(caller_template(self.scenario), log_dir=log_dir)
        self._fleets.append(fleet)
        return fleet

    def _log(self, name: str, kind=JsonLines):
        log = kind(self._folder / name)
        self._logs.append(log)
        if self._live is not None:
            observer = {layout.CALLS: self._live.on_call, layout.EVENTS: self._live.on_event,
                        layout.PROBES: self._live.on_probe}.get(name)
            if observer is not None:
                log.observe(observer)
        return log

    def _before_any_call(self, exc: Exception) -> Exception:
        """A failure before any call: the command ends at once, in one sentence (a bug's traceback
        goes to logs/harness.log, not to the terminal)."""
        if exit_code_for(exc) is not None:
            return exc
        log = log_traceback(self._folder, "starting the run", exc)
        return HarnessError(f"the run could not start: {describe(exc)}; the traceback is in {log}")

    def _load_failed(self, exc: Exception, problems: list[dict[str, str]], step: str = "placing the load") -> None:
        """A failure after calls were placed: logged, and the run concludes on what was recorded."""
        self.stop_reason = "error"
        log_traceback(self._folder, step, exc)
        problems.append({"step": step, "message": describe(exc)})
        self.events.event("harness_error", step="load", message=describe(exc))

    def _conclude(self, problems: list[dict[str, str]]) -> int:
        from callproof.harness.verdict.hearing import analyse_recordings
        from callproof.harness.verdict.recordings import score_recordings

        folder, key = self._folder, self.signing_key
        assert key is not None, "read in _execute before the folder was made"
        return conclude(folder, score=lambda: score_recordings(folder, self.scenario),
                        hear=lambda: analyse_recordings(folder, self.scenario),
                        key_path=key.path, key=key, lang=self.options.lang,
                        quiet=self.options.quiet, problems=problems)

    def _calls_start(self) -> None:
        """From here on the run has placed calls: whatever fails, they are concluded."""
        self.calls_placed = True

    # -- the parts of a run ----------------------------------------------------------

    def _start_processes(self) -> None:
        if self.scenario.processes:
            self._processes = ScenarioProcesses(self.scenario.base_dir, self.logs_dir,
                                                env=scenario_environment(self.scenario))
            self._processes.start_all(self.scenario.processes)
            self.events.event("processes", started=[p.name for p in self.scenario.processes])

    def _ports_event(self) -> None:
        """Each engine process's RTP and RTCP ports (callproof.harness.run.ports): which range was whose."""
        self.events.event("media_ports", ranges={
            p.name: [p.settings.rtp_port, p.settings.rtp_port + p.settings.rtp_port_range + 1]
            for pool in self._pools for p in pool.processes})

    def _start_capture(self, fleet: Fleet) -> None:
        """The media of this machine's engines, once they all have ports and before the first call
        (on a master: the probes' and registered agents'; workers capture nothing)."""
        spec = self.scenario.capture
        if not spec.enabled:
            return
        path = self._folder / layout.CAPTURES_DIR / layout.MEDIA_CAPTURE
        bpf = capture_filter(fleet.template.bind_ip, fleet.rtp_ports)  # what the engines bound
        self._capture = MediaCapture(spec, bpf, path, self.logs_dir / "dumpcap.log")
        self._capture.start()
        self.events.event("capture", file=str(path.relative_to(self._folder)), filter=bpf,
                          seconds=spec.seconds, max_mb=spec.max_mb)

    def _trim_capture(self) -> None:
        """Only the media ports the run's records name stay in the capture (capture.py)."""
        try:
            ports = recorded_media_ports(self._folder)
        except RecordsError as exc:
            self.events.event("capture_trimmed", kept=None, dropped=None, reason=str(exc))
            return
        assert self._capture is not None, "trimmed after it stopped"
        counts = keep_only_ports(self._capture.path, ports)
        if counts is not None:
            self.events.event("capture_trimmed", kept=counts[0], dropped=counts[1], ports=len(ports))

    def _register_agents(self, fleet: Fleet) -> None:
        """The scenario's agents, registered to the target's registrar before any call."""
        agent_log = self._log(layout.AGENTS, CallLog)
        agents = RegisteredAgents.start(fleet, self.scenario,
                                        on_inbound=lambda user, r: agent_log.write({"agent": user, **r.to_dict()}))
        self._pools.append(agents.pool)
        self.events.event("agents", processes=len(agents.pool.processes), capacity=agents.capacity,
                          registrar=agents.registrar,
                          registrations=[dataclasses.asdict(r) for r in agents.registrations])

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
            self._calls_start()
            self._prober.start()

    def _prepare_control(self, fleet: Fleet, callers: EnginePool, sink: Callable[[dict[str, Any]], None], *,
                         stream: int | str = "local") -> ControlLeg | None:
        """The control leg's echo, ready (callproof.harness.run.control); its calls start with the load."""
        off = control_off_reason(self.scenario)
        if off is not None:
            if self.folder is not None:
                self.events.event("control", off=off)
            return None
        try:
            leg = ControlLeg.start_echo(fleet, self.scenario, stream=stream, callers=callers, sink=sink,
                                        enrich=lambda record: with_quality(record, echo_path=True))
        except EngineError as exc:
            raise HarnessError(f"could not start the control leg's echo: {exc}") from None
        self._pools.append(leg.echo)
        self._control = leg
        if self.folder is not None:
            self.events.event("control", calls=leg.concurrent, uri=leg.uri, processes=len(leg.echo.processes))
        return leg

    def _start_faults(self, started: float) -> None:
        if self.scenario.faults:
            injector = FaultInjector(self.scenario.faults, processes=self._processes, events=self.events,
                                     base_dir=self.scenario.base_dir, log_dir=self.logs_dir,
                                     env=scenario_environment(self.scenario),
                                     pid_files=self.options.permits.pid_files)
            self._faults = gevent.spawn(injector.run, started)

    def _context(self, pool: EnginePool, choose: TargetChooser, *,
                 sink: Callable[[dict[str, Any]], None]) -> LoadContext:
        return make_context(self.scenario, pool, choose, sink=sink, audio_dir=self._audio_dir)

    # -- Locust's outputs, signals, stopping ----------------------------------------------

    def _serve(self, environment) -> None:
        if self.options.web:
            # Locust's UI re-parses sys.argv with Locust's own parser on every page it serves,
            # and our options (--web...) are not Locust's: give it the bare program name.
            sys.argv = sys.argv[:1]
            web_ui = environment.create_web_ui("127.0.0.1", self.options.web_port, delayed_start=True)
            assert self._live is not None, "_start_live made it for --web"
            web_tab.install(environment, self._live)  # before it serves: Flask takes no hooks after
            web_ui.start()
            print(f"Locust web UI: http://127.0.0.1:{self.options.web_port} (callproof's figures: "
                  f"http://127.0.0.1:{self.options.web_port}/?tab={web_tab.TAB_KEY})", file=sys.stderr)
        if self.options.csv_prefix:
            from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter

            writer = StatsCSVFileWriter(environment, PERCENTILES_TO_REPORT, self.options.csv_prefix, False)
            gevent.spawn(writer.stats_writer)

    def _install_signals(self, stop_load) -> None:
        def stop() -> None:
            if self._signalled.is_set():
                print("callproof: already stopping; the calls still up are being hung up and recorded",
                      file=sys.stderr)
                return
            self._signalled.set()
            self.interrupted = True
            self.stop_reason = "signal"
            stop_load()

        gevent.signal_handler(signal.SIGINT, stop)
        gevent.signal_handler(signal.SIGTERM, stop)

    def _generator_pids(self) -> list[int]:
        import os

        return [os.getpid(), *(p.pid for pool in self._pools for p in pool.processes if p.pid)]

    def _engine_health(self) -> dict[str, Any]:
        """Over every engine process of this machine: the worst pump lag and the longest a thread
        waited for a CPU since the last call (then reset), and the drops on our own sockets so far
        (callproof.sip.socket_drops), SIP and media."""
        processes = [p for pool in self._pools for p in pool.processes]
        lags = {p.name: round(p.pump_lag_ms_max, 1) for p in processes}
        wait = max((p.cpu_wait_pct_max for p in processes), default=0.0)
        for p in processes:
            p.pump_lag_ms_max = p.cpu_wait_pct_max = 0.0
        return {"pump_lag_ms_max": max(lags.values(), default=0.0), "pump_lag_ms_by_engine": lags,
                "engine_cpu_wait_pct_max": wait,
                "socket_drops_sip": sum(p.socket_drops["sip"] for p in processes),
                "socket_drops_media": sum(p.socket_drops["media"] for p in processes)}

    def _start_window(self) -> None:
        """The load starts now: health samples cover from here (engine start-up is not the load's)."""
        self._health.restart(self._generator_pids())
        self._engine_health()  # forget the pumps' lag and threads' waits while starting

    def _own_sockets_event(self) -> None:
        """The final drops on our own sockets, per engine process, once every process has stopped."""
        processes = [p for pool in self._pools for p in pool.processes]
        dropped = {p.name: p.socket_drops for p in processes if any(p.socket_drops.values())}
        total = {kind: sum(p.socket_drops[kind] for p in processes) for kind in ("sip", "media")}
        self.events.event("own_sockets", socket_drops_sip=total["sip"], socket_drops_media=total["media"],
                          processes=dropped)

    def _stop_everything(self) -> None:
        if self._faults is not None:
            self._faults.kill()
        if self._prober is not None:
            self._prober.stop(grace_s=0 if self.interrupted else CALLS_END_GRACE_S, hang_up_wait_s=HANG_UP_WAIT_S)
        if self._control is not None:
            # Its calls were hung up with the load's (they share the caller engines): records only.
            self._control.stop(drain_s=HANG_UP_WAIT_S)
        stop_pools(self._pools)
        if self.folder is not None and self._pools:
            self._own_sockets_event()
        for fleet in self._fleets:
            fleet.close()
        if self._capture is not None:
            self._capture.stop()  # after the engines: their last packets are in it
            self._trim_capture()
        if self._processes is not None:
            self._processes.stop_all()
        self._health.stop()


def recorded_media_ports(folder: Path) -> set[int]:
    """Every RTP port, and the RTCP port after it, that a record of the run names (calls, control
    leg, agents, probe calls)."""
    records = [r for name in (layout.CALLS, layout.CONTROL, layout.AGENTS) for r in load_calls(folder, name)]
    for entry in read_jsonl(folder / layout.PROBES):
        if entry.get("kind") == "call" and isinstance(entry.get("record"), dict):
            records.append(CallRecord.from_dict(entry["record"]))
    return {port + rtcp for r in records if r.media is not None and r.media.local_rtp_port
            for port in (r.media.local_rtp_port,) for rtcp in (0, 1)}


def _no_memory_reads() -> None:
    """Other processes of this user may no longer read this one's memory (prctl PR_SET_DUMPABLE 0, Linux)."""
    import ctypes

    _PR_SET_DUMPABLE = 4
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def make_context(scenario: Scenario, pool: EnginePool, choose: TargetChooser, *,
                 sink: Callable[[dict[str, Any]], None], audio_dir: Path) -> LoadContext:
    """What every Locust user of this process shares: engines, caps, breaker, records."""
    breaker = None
    if scenario.load.breaker.min_answer_rate > 0:
        breaker = CircuitBreaker(scenario.load.breaker.min_answer_rate, scenario.load.breaker.window_s,
                                 min_calls=scenario.load.breaker.min_calls)
    factory = CallFactory(scenario.call, seed=scenario.seed, audio_dir=audio_dir)
    echo = scenario.target.embedded and scenario.agents.mode == "echo"
    return LoadContext(pool=pool, factory=factory, choose_target=choose,
                       rate_cap=RateCap(scenario.load.max_cps), max_concurrent=scenario.load.max_concurrent,
                       breaker=breaker, sink=sink, fire_request=lambda **kw: None,
                       enrich=lambda record: with_quality(record, echo_path=echo))


def with_quality(record: CallRecord, *, echo_path: bool) -> CallRecord:
    """The call's record with its E-model quality per direction (callproof.rtp_analysis.quality)."""
    if record.media is None:
        return record
    from callproof.rtp_analysis.quality import call_quality

    # pjmedia conceals lost G.711 frames (PLC on by default): G.113's Bpl with PLC applies.
    quality = call_quality(dataclasses.asdict(record.media), concealment=True, echo_path=echo_path)
    return dataclasses.replace(record, quality=quality)
