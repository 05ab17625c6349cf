"""`callproof run --metrics-port PORT`: the run's live figures as OpenMetrics, for Prometheus and Grafana.

Served by prometheus-client's exposition (OpenMetrics text when the scraper asks for it,
as Prometheus does; the classic text format otherwise) on 127.0.0.1 unless
--metrics-host says otherwise, from before the first call until the run's bundle is
signed. Every figure comes from callproof.harness.run.live.LiveFigures, which reads
the records as the run writes them; on a distributed master that is the whole run.

    callproof_run_info{scenario,target,role}     1 (OpenMetrics info)
    callproof_run_finished                       1 once every record is in (the run_end event)
    callproof_calls_total{outcome}               calls ended: "completed" or the Failure's name;
                                                 their sum is calls.jsonl's line count
    callproof_calls_answered_total               the 200 OK arrived
    callproof_calls_reached_agent_total          an agent picked up (the agent marker; without one, the 200 OK)
    callproof_setup_delay_seconds                histogram: RFC 6076 4.3 SRD (CallRecord.setup_ms)
    callproof_time_to_agent_seconds              histogram: INVITE to the agent's pickup (verdict.connect)
    callproof_call_loss_ratio                    histogram: call_figures.loss_fraction (RFC 3550 A.3, worse direction)
    callproof_call_jitter_seconds                histogram: call_figures.jitter_ms (RFC 3550 A.8, mean)
    callproof_call_mos_cqe                       histogram: call_figures.mos_cqe (G.107 Annex B, worse direction)
    HEALTH_METRICS                               the generator's health samples, by source (worker or "local")
    callproof_sla_observed{line,unit}, callproof_sla_threshold{line,unit},
    callproof_sla_verdict{line,verdict}          the SLA lines so far (verdict.sla.judge, every few seconds)
    callproof_run_verdict{verdict}               the run's verdict so far
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from callproof.harness.errors import BadInput
from callproof.harness.run.live import LiveFigures
from callproof.harness.verdict import connect
from callproof.reports.summary_file import Verdict
from callproof.rtp_analysis import call_figures
from callproof.sip.records import CallRecord, Failure


@dataclasses.dataclass(frozen=True)
class HealthMetric:
    """A field of the health event (events.jsonl, callproof.reports.layout) as a metric."""

    field: str
    name: str
    kind: str  # "gauge", or "counter" for a count the sampler keeps since the start
    help: str
    scale: float = 1.0  # ms fields become seconds


# One line per health field: a field the sampler adds becomes a metric here.
HEALTH_METRICS = (
    HealthMetric("cpu_pct", "callproof_generator_cpu_percent", "gauge",
                 "CPU of the generator's own processes over the last sample, % of one core"),
    HealthMetric("cpu_cores", "callproof_generator_cpu_cores", "gauge", "CPU cores of the generator's machine"),
    HealthMetric("loop_lag_ms_max", "callproof_generator_loop_lag_seconds", "gauge",
                 "How late the event loop woke up at worst over the last sample (a stall)", 0.001),
    HealthMetric("pump_lag_ms_max", "callproof_generator_pump_lag_seconds", "gauge",
                 "The slowest SIP engine's event pump over the last sample: the resolution of SIP timestamps", 0.001),
    HealthMetric("in_flight", "callproof_calls_in_flight", "gauge", "Calls placed and not yet ended"),
    HealthMetric("provisioned", "callproof_calls_provisioned", "gauge", "Call slots the SIP engines hold"),
    HealthMetric("attempted", "callproof_call_attempts", "counter", "Calls placed"),
    HealthMetric("capped", "callproof_calls_capped", "counter", "Arrivals dropped at load.max_concurrent"),
    HealthMetric("lost", "callproof_calls_lost", "counter", "Calls whose engine process died: no record"),
    HealthMetric("slot_waits", "callproof_slot_waits", "counter", "Calls that waited for a free engine slot"),
    HealthMetric("slot_wait_ms_max", "callproof_slot_wait_max_seconds", "gauge",
                 "The longest wait for an engine slot so far", 0.001),
    HealthMetric("machine_busy_pct", "callproof_machine_busy_percent", "gauge",
                 "The whole machine's busy share over the last sample (all processes, steal included), %"),
    HealthMetric("cpu_pressure_pct", "callproof_machine_cpu_pressure_percent", "gauge",
                 "Share of the last sample some task waited for a CPU (/proc/pressure/cpu), %"),
    HealthMetric("cpu_wait_pct_max", "callproof_generator_cpu_wait_max_percent", "gauge",
                 "The longest share of the last sample a thread of the generator's own process waited for a CPU, %"),
    HealthMetric("engine_cpu_wait_pct_max", "callproof_engine_cpu_wait_max_percent", "gauge",
                 "The longest share of the last sample a SIP engine thread waited for a CPU, %"),
    HealthMetric("socket_drops_sip", "callproof_own_socket_drops_sip", "counter",
                 "Packets the kernel dropped on the generator's own SIP sockets"),
    HealthMetric("socket_drops_media", "callproof_own_socket_drops_media", "counter",
                 "Packets the kernel dropped on the generator's own RTP/RTCP sockets"),
)

# Histogram buckets, in the metric's unit.
SETUP_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
AGENT_BUCKETS_S = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
LOSS_BUCKETS = (0.0, 0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0)
JITTER_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5)
MOS_BUCKETS = (1.0, 2.0, 2.5, 3.0, 3.5, 3.8, 4.0, 4.2, 4.3, 4.4, 4.5)


class RunCollector(Collector):
    """What is read from LiveFigures at each scrape: counts, health, the SLA lines."""

    def __init__(self, live: LiveFigures) -> None:
        self.live = live

    def collect(self) -> Iterator[Any]:
        live = self.live
        info = InfoMetricFamily("callproof_run", "The run: its scenario, target and role")
        info.add_metric([], {"scenario": live.scenario.name, "target": live.target, "role": live.role})
        yield info
        yield GaugeMetricFamily("callproof_run_finished", "1 once every record of the run is in",
                                value=float(live.finished))
        outcomes = CounterMetricFamily("callproof_calls", "Calls ended, by outcome (completed, or why not)",
                                       labels=["outcome"])
        for outcome in ("completed", *(f.value for f in Failure)):
            outcomes.add_metric([outcome], live.outcomes[outcome])
        yield outcomes
        yield CounterMetricFamily("callproof_calls_answered", "Calls whose INVITE got a 200 OK",
                                  value=live.answered)
        yield CounterMetricFamily(
            "callproof_calls_reached_agent",
            "Calls an agent picked up (the agent marker arrived; without one in the scenario, the 200 OK)",
            value=live.reached_agent)
        yield from self._health()
        yield from self._sla()

    def _health(self) -> Iterator[Any]:
        for metric in HEALTH_METRICS:
            kind = CounterMetricFamily if metric.kind == "counter" else GaugeMetricFamily
            family = kind(metric.name, metric.help, labels=["source"])
            for sample in self.live.health.values():
                value = sample.fields.get(metric.field)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    family.add_metric([sample.source], value * metric.scale)
            yield family

    def _sla(self) -> Iterator[Any]:
        verdict = self.live.verdict()
        observed = GaugeMetricFamily("callproof_sla_observed", "Each SLA line's observed value so far",
                                     labels=["line", "unit"])
        threshold = GaugeMetricFamily("callproof_sla_threshold", "Each SLA line's threshold",
                                      labels=["line", "unit"])
        verdicts = GaugeMetricFamily("callproof_sla_verdict", "Each SLA line's verdict so far (1: this verdict)",
                                     labels=["line", "verdict"])
        for line in verdict.lines:
            if line.observed is not None:
                observed.add_metric([line.name, line.unit], line.observed)
            threshold.add_metric([line.name, line.unit], line.threshold)
            for name in Verdict:
                verdicts.add_metric([line.name, name.value], float(line.verdict == name))
        run = GaugeMetricFamily("callproof_run_verdict", "The run's verdict so far (1: this verdict)",
                                labels=["verdict"])
        for name in Verdict:
            run.add_metric([name.value], float(verdict.verdict == name))
        yield from (observed, threshold, verdicts, run)


def registry_for(live: LiveFigures) -> CollectorRegistry:
    """A registry of the run's metrics (its own: nothing of prometheus-client's process-wide default)."""
    registry = CollectorRegistry()
    registry.register(RunCollector(live))
    histograms = (
        (Histogram("callproof_setup_delay_seconds", "RFC 6076 4.3 session request delay per call",
                   buckets=SETUP_BUCKETS_S, registry=registry), _seconds(lambda c: c.setup_ms)),
        (Histogram("callproof_time_to_agent_seconds", "INVITE to the agent's pickup, per call an agent answered",
                   buckets=AGENT_BUCKETS_S, registry=registry),
         _seconds(lambda c: connect.time_to_agent_ms(c, live.by_agent)
                  if connect.agent_answered(c, live.by_agent) else None)),
        (Histogram("callproof_call_loss_ratio", "RFC 3550 A.3 packet loss per call, the worse direction",
                   buckets=LOSS_BUCKETS, registry=registry), call_figures.loss_fraction),
        (Histogram("callproof_call_jitter_seconds", "RFC 3550 A.8 interarrival jitter per call, mean",
                   buckets=JITTER_BUCKETS_S, registry=registry), _seconds(call_figures.jitter_ms)),
        (Histogram("callproof_call_mos_cqe", "ITU-T G.107 Annex B MOS-CQE per call, the worse direction",
                   buckets=MOS_BUCKETS, registry=registry), call_figures.mos_cqe),
    )

    def observe(kind: str, record: CallRecord) -> None:
        for histogram, figure in histograms:
            value = figure(record)
            if value is not None:
                histogram.observe(value)

    for record in live.calls:  # those already in, then every later one
        observe("call", record)
    live.listen(observe)
    return registry


def _seconds(figure):
    def in_seconds(call: CallRecord) -> float | None:
        value = figure(call)
        return None if value is None else value / 1000.0

    return in_seconds


class MetricsServer:
    """The endpoint (every path serves the metrics; /metrics is the documented one), bound at once."""

    def __init__(self, live: LiveFigures, host: str, port: int) -> None:
        from gevent.pywsgi import WSGIServer

        metrics_app = make_wsgi_app(registry_for(live))

        def app(environ, start_response):
            live.note_reader()
            return metrics_app(environ, start_response)

        self.server = WSGIServer((host, port), app, log=None, error_log=None)
        try:
            self.server.start()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BadInput(f"--metrics-port {port}: {host}:{port} is already in use; choose another port") \
                    from None
            raise BadInput(f"--metrics-port {port}: cannot listen on {host}:{port} ({exc.strerror})") from None
        self.address = f"http://{_url_host(host)}:{self.server.server_port}/metrics"

    def stop(self) -> None:
        self.server.stop(timeout=1)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
