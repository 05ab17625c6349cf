"""The live views (callproof.harness.run.live, metrics, web_tab) on records fed as the run writes them.

Each figure is checked against what the verdict's own code makes of the same records
(callproof.harness.verdict: summary.json's numbers), and the OpenMetrics text is read
back with prometheus-client's own parser.
"""

from __future__ import annotations

import dataclasses
import socket

import gevent
import gevent.socket
import pytest
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from callproof.harness.errors import BadInput
from callproof.harness.run import metrics, web_tab
from callproof.harness.run.live import LINGER_MAX_S, SLA_EVERY_S, LiveFigures
from callproof.harness.scenario.loader import load_scenario
from callproof.harness.verdict.media import media_summary
from callproof.harness.verdict.sla import judge
from callproof.harness.verdict.stats import percentiles
from callproof.rtp_analysis import call_figures
from callproof.rtp_analysis.quality import call_quality
from tests.verify import records as r


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def with_quality(record):
    return dataclasses.replace(record, quality=call_quality(dataclasses.asdict(record.media), concealment=True,
                                                            echo_path=False))


def calls():
    return [with_quality(r.answered(i, answer_ms=200.0 + i, rx_lost=i % 3, rx_packets=150 - i % 3))
            for i in range(20)] + [r.rejected(503, 21.0), r.not_answered(22.0)]


@pytest.fixture
def live():
    scenario = load_scenario("smoke", offline=True)
    clock = Clock()
    figures = LiveFigures(scenario, role="local", clock=clock)
    figures.clock = clock
    figures.on_event({"at_utc": r.utc(0), "kind": "run_start", "scenario": "smoke", "target": "embedded"})
    return figures


def feed(live, records, health=None):
    for record in records:
        live.on_call(record.to_dict())
    for source, fields in (health or {}).items():
        live.on_event({"at_utc": r.utc(30), "kind": "health", **({"worker": source} if source else {}), **fields})


def families(live, registry=None):
    text = generate_latest(registry or metrics.registry_for(live)).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(family, **labels):
    (sample,) = [s for s in family.samples if s.labels == labels and not s.name.endswith(("_created",))]
    return sample.value


def test_the_counts_are_the_records(live):
    records = calls()
    feed(live, records, {"worker0": {"in_flight": 3, "attempted": 12, "cpu_pct": 40.0, "loop_lag_ms_max": 7.5},
                         "worker1": {"in_flight": 2, "attempted": 13, "cpu_pct": 20.0}})
    got = families(live)
    outcomes = {s.labels["outcome"]: s.value for s in got["callproof_calls"].samples if s.name.endswith("_total")}
    assert sum(outcomes.values()) == len(records)
    assert outcomes == {"completed": 20, "no_answer": 1, "abandoned": 0, "rejected": 1, "timeout": 0,
                        "transport_error": 0, "media_timeout": 0, "dtmf_failed": 0, "stopped": 0, "engine_error": 0}
    assert value(got["callproof_calls_answered"]) == 20
    assert value(got["callproof_calls_in_flight"], source="worker0") == 3
    assert live.health_total("in_flight") == 5 and live.health_total("attempted") == 25
    assert value(got["callproof_generator_loop_lag_seconds"], source="worker0") == pytest.approx(0.0075)
    assert value(got["callproof_run_finished"]) == 0


def test_each_histogram_counts_the_calls_that_have_the_figure(live):
    records = calls()
    registry = metrics.registry_for(live)  # made before the calls: it follows them
    feed(live, records)
    got = families(live, registry)
    for name, figure in (("callproof_call_loss_ratio", call_figures.loss_fraction),
                         ("callproof_call_mos_cqe", call_figures.mos_cqe),
                         ("callproof_setup_delay_seconds", lambda c: c.setup_ms)):
        values = [v for c in records if (v := figure(c)) is not None]
        samples = {s.name: s for s in got[name].samples}
        assert samples[f"{name}_count"].value == len(values), name
        scale = 1000.0 if name.endswith("_seconds") else 1.0
        assert samples[f"{name}_sum"].value == pytest.approx(sum(values) / scale), name
    # One bucket, checked by hand: calls with at most 1% loss.
    loss = [s for s in got["callproof_call_loss_ratio"].samples if s.labels.get("le") == "0.01"]
    assert loss[0].value == sum(call_figures.loss_fraction(c) <= 0.01 for c in records if c.answered)


def test_a_new_health_field_is_one_line(live, monkeypatch):
    monkeypatch.setattr(metrics, "HEALTH_METRICS", metrics.HEALTH_METRICS + (
        metrics.HealthMetric("machine_busy_pct", "callproof_machine_cpu_percent", "gauge", "the machine"),))
    feed(live, [], {None: {"machine_busy_pct": 88.5}})
    assert value(families(live)["callproof_machine_cpu_percent"], source="local") == 88.5
    assert "machine_busy_pct" in {row["figure"] for row in web_tab.rows(web_tab.snapshot(live))}


def test_the_sla_lines_are_the_verdicts_own(live):
    records = calls()
    feed(live, records)
    scenario = live.scenario
    expected = judge(records, [], live.events, sla=scenario.sla, probes=scenario.probes, by_agent=False,
                     faults_planned=0)
    snapshot = web_tab.snapshot(live)
    assert snapshot["sla"] == [line.to_dict() for line in expected.lines]
    assert snapshot["verdict"] == expected.verdict.value
    assert snapshot["media"] == media_summary(records)
    assert snapshot["setup_ms"] == percentiles(c.setup_ms for c in records)
    got = families(live)
    observed = {s.labels["line"]: s.value for s in got["callproof_sla_observed"].samples}
    assert observed == {line.name: pytest.approx(line.observed) for line in expected.lines if line.observed is not None}
    verdicts = {s.labels["line"]: s.labels["verdict"] for s in got["callproof_sla_verdict"].samples if s.value == 1}
    assert verdicts == {line.name: line.verdict.value for line in expected.lines}


def test_the_sla_lines_are_judged_at_most_every_few_seconds_until_the_end(live):
    feed(live, calls()[:5])
    assert len(live.verdict().lines) and live.judged_calls == 5
    feed(live, calls()[5:10])
    assert live.judged_calls == 5  # cached
    live.clock.now += SLA_EVERY_S
    live.verdict()
    assert live.judged_calls == 10
    feed(live, calls()[10:])
    live.on_event({"at_utc": r.utc(40), "kind": "run_end", "reason": "completed", "interrupted": False})
    live.verdict()
    assert live.finished and live.judged_calls == len(calls())  # the end is judged at once


def test_the_tab_rows_show_the_snapshot(live):
    feed(live, calls(), {None: {"in_flight": 0, "attempted": 22}})
    rows = web_tab.rows(web_tab.snapshot(live))
    by_figure = {(row["section"], row["figure"]): row for row in rows}
    assert by_figure[("calls", "target")]["value"] == "embedded"
    assert by_figure[("calls", "ended")]["value"] == "22"
    assert by_figure[("calls", "failed: rejected")]["value"] == "1"
    assert by_figure[("SLA so far", "run verdict")]["value"] in ("PASS", "FAIL", "INCONCLUSIVE", "INVALID")
    assert all(set(row) == {key for key, _ in web_tab.COLUMNS} for row in rows)


def test_a_finished_run_waits_for_its_watchers_last_read(live):
    assert live.wait_for_last_read(lambda s: None) is False  # nobody watched: no wait
    for _ in range(3):
        live.note_reader()
        live.clock.now += 1.0
    waited = []

    def sleep(seconds):
        waited.append(seconds)
        live.clock.now += seconds
        if len(waited) == 5:
            live.note_reader()  # the scrape after the end

    assert live.wait_for_last_read(sleep) is True
    assert sum(waited) == pytest.approx(0.5)


def test_a_watcher_gone_is_waited_for_a_bounded_time(live):
    live.note_reader()
    live.clock.now += 100.0
    live.note_reader()  # one gap of 100 s: the wait is capped
    start = live.clock.now

    def sleep(seconds):
        live.clock.now += seconds

    assert live.wait_for_last_read(sleep) is False
    assert live.clock.now - start == pytest.approx(LINGER_MAX_S, abs=0.11)


def test_a_metrics_port_in_use_is_one_sentence(live):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with pytest.raises(BadInput, match=rf"^--metrics-port {port}: 127\.0\.0\.1:{port} is already in use; "):
            metrics.MetricsServer(live, "127.0.0.1", port)
    finally:
        taken.close()


def test_the_server_serves_openmetrics_to_a_scraper_that_asks(live):
    server = metrics.MetricsServer(live, "127.0.0.1", 0)
    try:
        def fetch() -> str:  # a gevent socket: the server runs in this process's hub
            with gevent.socket.create_connection(("127.0.0.1", server.server.server_port), timeout=5) as conn:
                conn.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n"
                             b"Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n\r\n")
                return b"".join(iter(lambda: conn.recv(65536), b"")).decode()

        response = gevent.spawn(fetch).get(timeout=10)
    finally:
        server.stop()
    head, text = response.split("\r\n\r\n", 1)
    assert "Content-Type: application/openmetrics-text" in head and text.endswith("# EOF\n")
    assert 'callproof_run_info{role="local",scenario="smoke",target="embedded"} 1.0' in text
