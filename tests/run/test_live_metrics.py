"""Watching a run live: a real Prometheus scrapes `--metrics-port`, and Locust's web UI shows the callproof tab.

Each view's figures are compared with what the run left behind: calls.jsonl (the
calls, their outcomes) and summary.json (the verdict's own percentiles and SLA lines).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest

from callproof.harness.run import web_tab
from tests.cli import ROOT, start_callproof
from tests.peers.net import free_port
from tests.peers.prometheus import start_prometheus
from tests.run.helpers import read_calls, scenario_file
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.any_engine]  # `callproof run` (tests/markers.py)

EMBEDDED = {"agents": {"count": 6, "ring_delay_s": 0.1}}
CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    server = start_prometheus(tmp_path_factory.mktemp("prometheus"), targets=2)
    yield server
    server.stop()


def finish(process: subprocess.Popen, timeout_s: float = 150) -> str:
    try:
        _, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    # Whatever the verdict (a busy machine may make it INVALID): these tests hold the live views to it.
    assert process.returncode in (0, 1, 4, 5), err
    return err


def final(prometheus, metric: str, port: int) -> float | None:
    """The last value Prometheus holds of `metric` (summed over its series) for the run on `port`;
    last_over_time because the series went stale when the run exited."""
    return prometheus.scalar(f'sum(last_over_time({metric}{{instance="127.0.0.1:{port}"}}[10m]))')


@pytest.mark.peers  # Prometheus (tests/markers.py)
def test_prometheus_scrapes_a_run_and_holds_its_call_count(tmp_path, prometheus):
    port = prometheus.target_ports[0]
    scenario = scenario_file(tmp_path / "live.yaml", "embedded", load={"duration_s": 8}, sla={"answer_rate_min": 0.5},
                             **EMBEDDED)
    out = tmp_path / "out"
    err = finish(start_callproof("run", str(scenario), "--out", str(out), "--metrics-port", str(port)))
    assert f"metrics (OpenMetrics): http://127.0.0.1:{port}/metrics" in err

    calls = read_calls(out)
    assert len(calls) >= 10
    assert final(prometheus, "callproof_calls_total", port) == len(calls)
    answered = sum(c["answer_ms"] is not None for c in calls)
    assert final(prometheus, "callproof_calls_answered_total", port) == answered
    assert final(prometheus, "callproof_setup_delay_seconds_count", port) == len(calls)  # every call got a 180
    assert final(prometheus, "callproof_call_mos_cqe_count", port) == answered
    assert final(prometheus, "callproof_run_finished", port) == 1
    # The health samples came through: the run's own attempts (the last sample counts every call).
    assert final(prometheus, "callproof_call_attempts_total", port) == len(calls)
    summary = json.loads((out / "summary.json").read_text())
    verdicts = prometheus.query(f'last_over_time(callproof_run_verdict{{instance="127.0.0.1:{port}"}}[10m]) == 1')
    assert [v["metric"]["verdict"] for v in verdicts] == [summary["verdict"]]


SHARED_SECRET = {"CALLPROOF_MASTER_SECRET": "live-metrics-test-secret-0123456789abcdef"}


@pytest.mark.peers  # Prometheus and SIPp
def test_the_master_serves_the_whole_distributed_run(tmp_path, prometheus, sipp_echo):
    port = prometheus.target_ports[1]
    scenario = scenario_file(tmp_path / "distributed.yaml", sipp_echo.uri,
                             load={"peak_concurrent": 6, "duration_s": 8, "max_cps": 20, "max_concurrent": 12},
                             sla={"answer_rate_min": 0.5})
    master_port, out = str(free_port(socket.SOCK_STREAM)), tmp_path / "out"
    master = start_callproof("run", str(scenario), "--master", "--expect-workers", "2", "--master-port", master_port,
                             "--out", str(out), "--quiet", "--metrics-port", str(port), env=SHARED_SECRET)
    workers = [start_callproof("run", str(scenario), "--worker", "--master-port", master_port, "--quiet",
                               env=SHARED_SECRET) for _ in range(2)]
    try:
        finish(master)
        for worker in workers:
            assert worker.wait(timeout=60) == 0
    finally:
        for process in (master, *workers):
            if process.poll() is None:
                process.kill()
    calls = read_calls(out)
    assert {c["worker"] for c in calls} == {"worker0", "worker1"}
    assert final(prometheus, "callproof_calls_total", port) == len(calls)
    # Both workers' health reached the master's endpoint, each as its own source.
    sources = prometheus.query(f'last_over_time(callproof_call_attempts_total{{instance="127.0.0.1:{port}"}}[10m])')
    assert len(sources) == 2
    assert sum(float(s["value"][1]) for s in sources) == len(calls)


def test_a_worker_is_refused_a_metrics_port(tmp_path):
    scenario = scenario_file(tmp_path / "w.yaml", "sip:echo@127.0.0.1:5099")
    worker = start_callproof("run", str(scenario), "--worker", "--metrics-port", "9464")
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 2
    assert err.strip() == ("callproof: --metrics-port is for the master, which serves the whole run's figures, "
                           "not for a worker")


def test_a_taken_metrics_port_is_one_sentence_and_exit_2(tmp_path):
    scenario = scenario_file(tmp_path / "taken.yaml", "embedded", **EMBEDDED)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = start_callproof("run", str(scenario), "--out", str(tmp_path / "out"), "--metrics-port", str(port))
        _, err = run.communicate(timeout=60)
    assert run.returncode == 2
    assert err.strip() == (f"callproof: --metrics-port {port}: 127.0.0.1:{port} is already in use; "
                           "choose another port")
    assert not (tmp_path / "out").exists()  # refused before anything was written


def fetch_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
def test_the_web_ui_tab_shows_the_runs_records(tmp_path):
    web_port = free_port(socket.SOCK_STREAM)
    scenario = scenario_file(tmp_path / "web.yaml", "embedded", load={"duration_s": 10},
                             sla={"answer_rate_min": 0.5, "setup_delay_p95_ms_max": 500}, **EMBEDDED)
    out = tmp_path / "out"
    run = start_callproof("run", str(scenario), "--out", str(out), "--web", "--web-port", str(web_port))
    base = f"http://127.0.0.1:{web_port}"
    try:
        def live() -> dict | None:
            try:
                return fetch_json(base + web_tab.LIVE_PATH)
            except OSError:
                return None

        during = wait_until(lambda: (f := live()) and f["calls"]["ended"] > 0 and f, 60, what="calls on the tab",
                            poll_s=0.5)
        assert during["target"] == "embedded" and not during["finished"]
        # The tab, as a browser renders it: Locust's page with the callproof tab and its rows.
        shown = browser_text(f"{base}/?tab={web_tab.TAB_KEY}", tmp_path / "tab.png")
        for text in ("Host", "embedded", "callproof", "reached an agent", "setup delay (SRD) ms", "MOS-CQE",
                     "SLA so far", "answer_rate", "cpu_pct"):
            assert text in shown, text
        # The last look: every record is in (the run waits for its watcher's next read).
        end = wait_until(lambda: (f := live()) and f["finished"] and f, 90, what="the finished run", poll_s=0.5)
        stats = fetch_json(base + "/stats/requests")
        finish(run)
    finally:
        if run.poll() is None:
            run.kill()

    calls = read_calls(out)
    summary = json.loads((out / "summary.json").read_text())
    assert end["calls"]["ended"] == len(calls) == summary["calls"]["attempted"]
    assert end["calls"]["answered"] == sum(c["answer_ms"] is not None for c in calls)
    assert end["calls"]["outcomes"] == {"completed": len(calls)}
    assert end["setup_ms"] == summary["setup_ms"]
    assert end["time_to_agent_ms"] == summary["call_center"]["time_to_agent_ms"]
    for name in ("loss_pct", "jitter_ms", "mos_cqe"):
        assert end["media"][name] == summary["media"][name], name
    assert end["sla"] == summary["sla"] and end["verdict"] == summary["verdict"]
    (tab,) = [entry["data"] for entry in stats["extended_stats"] if entry["key"] == web_tab.TAB_KEY]
    assert tab == web_tab.rows(end)  # the tab's rows after the end: the same figures


def browser_text(url: str, screenshot: Path) -> str:
    """The page's text once its scripts ran (Debian's chromium, headless), and a screenshot of it."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--window-size=1400,1600", "--virtual-time-budget=6000"]
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([CHROMIUM, *flags, f"--user-data-dir={profile}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=90, cwd=ROOT)
        subprocess.run([CHROMIUM, *flags, f"--user-data-dir={profile}", f"--screenshot={screenshot}", url],
                       capture_output=True, timeout=90, cwd=ROOT)
    assert dom.returncode == 0, dom.stderr[-2000:]
    return dom.stdout
