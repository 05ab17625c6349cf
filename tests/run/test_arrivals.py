"""Open-loop Poisson arrivals, and Locust's web UI while a run goes."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from tests.cli import callproof, start_callproof
from tests.peers.net import free_port
from tests.run.helpers import assert_verdict, read_calls, scenario_file

pytestmark = [pytest.mark.peers, pytest.mark.e2e, pytest.mark.any_engine]  # SIPp and `callproof run` (tests/markers.py)


def arrivals(path, uri, *, duration, sla):
    """Poisson arrivals at 6 calls/s, exponential talk times (mean 1.5 s, at most 4 s)."""
    return scenario_file(path, uri, sla=sla, load={"mode": "arrivals", "peak_cps": 6, "duration_s": duration,
                                                   "max_cps": 20, "max_concurrent": 40},
                         call={"talk_time": {"distribution": "exponential", "mean_s": 1.5, "max_s": 4}})


def test_poisson_arrivals_start_on_schedule_whatever_the_calls_do(tmp_path, sipp_echo):
    path = arrivals(tmp_path / "arrivals.yaml", sipp_echo.uri, duration=15, sla={"answer_rate_min": 0.9})
    out = tmp_path / "out"
    result = callproof("run", str(path), "--out", str(out), "--quiet")
    assert_verdict(json.loads((out / "summary.json").read_text()), result.returncode, "PASS")

    from callproof.harness.scenario import plan
    from callproof.harness.scenario.loader import load_scenario

    scenario = load_scenario(path)
    planned = plan.load_arrival_times(scenario.load, 7)
    calls = read_calls(out)
    assert len(calls) == len(planned)  # open loop: every planned arrival is a call, no more
    assert 6 * 15 * 0.6 < len(calls) < 6 * 15 * 1.4
    lateness = sorted(c["lateness_ms"] for c in calls)
    assert all(c["scheduled_utc"] for c in calls)
    assert lateness[0] >= 0 and lateness[len(lateness) // 2] < 100  # INVITEs leave on schedule
    engine = json.loads((out / "engine.json").read_text())
    # Provisioned for the peak rate x the longest a call can hold a slot (ring timeout + longest talk),
    # and for the control leg's calls beside them.
    assert engine["provisioned_calls"] == min(40, int(-(-6 * (5 + 4) // 1))) + plan.control_calls(scenario)


def test_web_ui_serves_locusts_page_while_the_run_goes(tmp_path, sipp_echo):
    port = free_port(__import__("socket").SOCK_STREAM)
    path = arrivals(tmp_path / "web.yaml", sipp_echo.uri, duration=8, sla={})
    run = start_callproof("run", str(path), "--out", str(tmp_path / "out"), "--web", "--web-port", str(port))
    try:
        page, deadline = None, time.monotonic() + 30
        while page is None and time.monotonic() < deadline:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
            except OSError:
                time.sleep(0.2)
        invites = []
        while not invites and time.monotonic() < deadline:  # the first call sets up a moment after the UI
            stats = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/requests", timeout=5).read())
            invites = [e for e in stats["stats"] if e["method"] == "SIP" and e["name"] == "INVITE"]
            time.sleep(0.2)
        run.communicate(timeout=60)
    finally:
        run.kill()
    assert page is not None and "Locust" in page
    assert invites and invites[0]["num_requests"] >= 1
