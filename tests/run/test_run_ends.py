"""A run ends on time with every call recorded, and never in a traceback (issue 13).

The README tells users to start from scenarios/peak-200.yaml: here is a copy, rates
scaled down and the run shortened, against SIPp's plain UAS, which answers and echoes
but takes no DTMF (no telephone-event in its answer) and sends no agent marker.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
import yaml

from callproof.harness.run.runner import CALLS_END_GRACE_S, HANG_UP_WAIT_S
from callproof.harness.scenario.loader import bundled_dir
from tests.cli import callproof, start_callproof
from tests.run.helpers import read_calls, scenario_file
from tests.waiting import wait_for_lines

pytestmark = [pytest.mark.sip_engine, pytest.mark.e2e, pytest.mark.peers]

CREDENTIALS = {"CALLPROOF_SIP_USER": "loadtest", "CALLPROOF_SIP_PASSWORD": "not-asked-by-sipp"}
DURATION_S = 15.0
# Startup (engines, probes) and the run's end (probes, engines' shutdown) beside the
# documented bound; the reports come after the run_end event.
SLACK_S = 15.0


def peak_copy(folder: Path, *, dtmf: bool = True, patience_s: float | None = None) -> Path:
    """scenarios/peak-200.yaml at a quarter of its rate (its caps with it), for DURATION_S."""
    data = yaml.safe_load((bundled_dir() / "peak-200.yaml").read_text())
    load = data["load"]
    load.update(peak_cps=load["peak_cps"] / 4, ramp_up_s=5, duration_s=DURATION_S, ramp_down_s=5,
                max_concurrent=load["max_concurrent"] * 15 // 100)  # Little's law: 0.5 cps x 120 s = 60
    call = data["call"]
    # Beside the copy: a prompt outside the scenario's folder needs --allow-prompt (issue 14).
    prompt = folder / Path(call["prompt"]).name
    prompt.write_bytes((bundled_dir() / call["prompt"]).read_bytes())
    call["prompt"] = prompt.name
    if not dtmf:
        call["dtmf"] = []
    if patience_s is not None:
        call["patience_s"] = patience_s
    path = folder / "peak-copy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]


def seconds_between(first: dict, last: dict) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(last["at_utc"]) - datetime.fromisoformat(first["at_utc"])).total_seconds()


def assert_verdict(result, summary: dict, expected: str) -> None:
    """`expected`, or INVALID when the generator says it could not vouch for the run (a busy shared
    machine): what these tests hold is the end of the run, not that the machine was quiet."""
    codes = {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 4, "INVALID": 5}
    if summary["verdict"] == "INVALID":
        assert summary["generator"]["valid"] is False and summary["generator"]["problems"], summary["generator"]
    else:
        assert summary["verdict"] == expected, summary["verdict_reason"]
    assert result.returncode == codes[summary["verdict"]], result.stderr


def assert_every_call_recorded(out: Path) -> tuple[list[dict], dict]:
    calls = read_calls(out)
    summary = json.loads((out / "summary.json").read_text())
    health = [e for e in events(out) if e["kind"] == "health"]
    assert health[-1]["attempted"] == len(calls) == summary["calls"]["attempted"] > 0
    assert health[-1]["lost"] == 0 and health[-1]["in_flight"] == 0
    assert summary["verdict"] in ("PASS", "FAIL", "INCONCLUSIVE", "INVALID")
    return calls, summary


def test_peak_200_copy_against_a_plain_uas_ends_on_time_and_says_why(tmp_path, sipp_echo):
    out = tmp_path / "out"
    result = callproof("run", str(peak_copy(tmp_path)), "--target", sipp_echo.uri, "--out", str(out),
                       env=CREDENTIALS, timeout=180)
    assert "Traceback" not in result.stderr + result.stdout
    calls, summary = assert_every_call_recorded(out)
    assert_verdict(result, summary, "FAIL")  # the target took no DTMF, so no agent answered
    timeline = events(out)
    assert seconds_between(timeline[0], timeline[-1]) < DURATION_S + CALLS_END_GRACE_S + HANG_UP_WAIT_S + SLACK_S
    # Every load call ended by its own rule; only the control leg's (talking peak-200's 2 minutes) were hung up.
    assert all(e["calls"] == 0 for e in timeline if e["kind"] == "hang_up")
    for call in (c for c in calls if c["answer_ms"] is not None):
        assert call["failure"] == "dtmf_failed" and call["dtmf_failure_method"] == "rfc4733"
        assert "no telephone-event" in call["dtmf_failure_reason"]
        assert 4000 <= call["bye_ms"] - call["answer_ms"] < 5000  # the step's wait_s (4 s), then BYE
    answered = summary["calls"]["answered"]
    assert summary["verdict_reason"].startswith(
        f"{answered} of {answered} answered calls were hung up because a DTMF step could not be delivered "
        "(rfc4733: the target's answer offered no telephone-event (RFC 4733), so no DTMF can go in RTP)")


def test_calls_still_up_at_the_end_are_hung_up_and_recorded(tmp_path, sipp_echo):
    out = tmp_path / "out"
    path = peak_copy(tmp_path, dtmf=False, patience_s=15)  # longer than the grace: the last callers still wait
    result = callproof("run", str(path), "--target", sipp_echo.uri, "--out", str(out), env=CREDENTIALS, timeout=180)
    assert "Traceback" not in result.stderr + result.stdout
    calls, summary = assert_every_call_recorded(out)
    assert_verdict(result, summary, "FAIL")  # every decided caller abandoned
    timeline = events(out)
    [hang_up] = [e for e in timeline if e["kind"] == "hang_up"]
    assert hang_up["reason"] == "end" and hang_up["calls"] >= 1
    assert seconds_between(timeline[0], timeline[-1]) < DURATION_S + CALLS_END_GRACE_S + HANG_UP_WAIT_S + SLACK_S
    outcomes = {c["failure"] for c in calls if c["answer_ms"] is not None}
    assert outcomes <= {"abandoned", "stopped"} and "abandoned" in outcomes
    stopped = [c for c in calls if c["failure"] == "stopped"]
    assert len(stopped) == hang_up["calls"] == summary["calls"]["stopped"]
    assert all(c["hangup_by"] == "caller" and c["bye_response_ms"] is not None for c in stopped)
    # The queued callers the run cut short are no answer and no abandonment: left out.
    assert summary["call_center"]["offered"] == summary["calls"]["answered"] - len(stopped)
    assert summary["verdict_reason"].startswith(
        "no call reached an agent: the target never sent the agent marker *9; are callproof's agents the ones "
        "answering the queue?; ")


def test_signals_during_the_hang_up_still_record_every_call(tmp_path, sipp_echo):
    out = tmp_path / "out"
    path = peak_copy(tmp_path, dtmf=False)  # 90 s patience: every call is up until the signal
    run = start_callproof("run", str(path), "--target", sipp_echo.uri, "--out", str(out), env=CREDENTIALS)
    try:
        wait_for_lines(out / "events.jsonl", 12, 60)  # run_start, engine, agents?, health...: calls are up
        time.sleep(3)
        run.send_signal(signal.SIGINT)
        time.sleep(0.3)  # the hang-up is under way
        run.send_signal(signal.SIGINT)
        run.send_signal(signal.SIGTERM)
        stdout, stderr = run.communicate(timeout=90)
    finally:
        run.kill()
    assert "Traceback" not in stdout + stderr
    assert "callproof: already stopping; the calls still up are being hung up and recorded" in stderr
    calls, summary = assert_every_call_recorded(out)
    assert_verdict(run, summary, "INCONCLUSIVE")  # no caller's outcome was decided
    assert summary["run"]["stop_reason"] == "signal" and summary["run"]["interrupted"] is True
    assert all(c["failure"] == "stopped" for c in calls if c["answer_ms"] is not None)
    [hang_up] = [e for e in events(out) if e["kind"] == "hang_up"]
    assert hang_up["reason"] == "signal" and hang_up["calls"] == summary["calls"]["stopped"]


def test_smoke_against_a_uri_drops_its_agents_and_ends_in_a_verdict(tmp_path, sipp_echo):
    out = tmp_path / "out"
    result = callproof("run", "smoke", "--target", sipp_echo.uri, "--duration", "10", "--out", str(out), timeout=180)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode in (0, 1, 4, 5), result.stderr
    assert result.stderr.splitlines()[0] == (
        f"callproof: --target {sipp_echo.uri}: the scenario's agents section was dropped; its agents answer only "
        f"target.uri embedded, and the calls now go to {sipp_echo.uri}")
    _, summary = assert_every_call_recorded(out)
    assert summary["calls"]["answered"] > 0
    assert "# agents: dropped by --target" in (out / "scenario.yaml").read_text()
    assert not (out / "agents.jsonl").exists() or (out / "agents.jsonl").read_text() == ""


def test_signing_that_fails_after_the_load_keeps_the_figures_and_exits_3(tmp_path, sipp_echo):
    key = tmp_path / "key"
    assert callproof("keygen", "--out", str(key)).returncode == 0
    out = tmp_path / "out"
    path = scenario_file(tmp_path / "short.yaml", sipp_echo.uri, load={"duration_s": 6})
    run = start_callproof("run", str(path), "--out", str(out), "--key", str(key), "--quiet")
    try:
        wait_for_lines(out / "calls.jsonl", 1, 60)
        # The key breaks while the run goes: no matter, the run read it before it started (issue 14, section 1).
        key.write_text("garbage\n")
        (out / "report.html").mkdir()  # but the report cannot be written
        stdout, stderr = run.communicate(timeout=90)
    finally:
        run.kill()
    assert run.returncode == 3, stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stdout + stderr
    message = f"cannot write {out / 'report.html'} (Is a directory)"
    assert stderr.startswith(f"callproof: writing the reports and signing the bundle failed: {message}; "
                             "summary.json holds the measured figures")
    _, summary = assert_every_call_recorded(out)
    assert summary["calls"]["answered"] > 0 and summary["setup_ms"]["p50"] is not None
    assert summary["harness_errors"] == [{"step": "writing the reports and signing the bundle", "message": message}]
    assert "Traceback (most recent call last)" in (out / "logs" / "harness.log").read_text()
    (out / "report.html").rmdir()
    # Repaired, `callproof report` finishes the bundle from what was recorded.
    assert callproof("keygen", "--out", str(tmp_path / "key2")).returncode == 0
    assert callproof("report", str(out), "--key", str(tmp_path / "key2")).returncode == 0
    assert callproof("verify", str(out), "--pubkey", str(tmp_path / "key2.pub")).returncode == 0
