"""Stopping a run: signals, SIGKILL, a target that answers nothing, the breaker, exit codes."""

from __future__ import annotations

import contextlib
import datetime
import json
import re
import signal
import time
from pathlib import Path

import pytest

from callproof.harness.errors import HarnessError
from callproof.harness.run import ports
from callproof.reports.records import read_jsonl
from tests.cli import callproof, start_callproof
from tests.peers import sipp
from tests.run.helpers import assert_verdict, read_calls, scenario_file
from tests.waiting import json_lines, wait_for_lines, wait_until


def scenario(tmp_path: Path, uri: str, *, concurrent=4, duration=30, talk=3, floor=0, window=30) -> Path:
    return scenario_file(tmp_path / "control.yaml", uri,
                         load={"peak_concurrent": concurrent, "duration_s": duration,
                               "breaker": {"min_answer_rate": floor, "window_s": window, "min_calls": 5}},
                         call={"talk_time": {"distribution": "fixed", "value_s": talk}, "record_fraction": 0})


@pytest.fixture(scope="module")
def traced_echo(run_dir):
    """SIPp echo that logs every message it sends, with timestamps (the SIGKILL oracle)."""
    peer = sipp.start_sipp(run_dir, "-sn", "uas", "-rtp_echo", "-trace_msg")
    yield peer
    peer.stop()


def talking(out: Path, calls: int) -> bool:
    """`calls` in flight in the run's last two health events (a health interval apart): answered and talking."""
    in_flight = [e["in_flight"] for e in json_lines(out / "events.jsonl") if e["kind"] == "health"][-2:]
    return len(in_flight) == 2 and min(in_flight) >= calls


@pytest.mark.sip_engine  # hanging up live calls at stop once aborted the built engine (an assert)
@pytest.mark.peers
@pytest.mark.e2e
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_hangs_up_calls_in_progress_and_writes_the_summary(tmp_path, traced_echo, signum):
    out = tmp_path / "out"
    run = start_callproof("run", str(scenario(tmp_path, traced_echo.uri, talk=20)), "--out", str(out))
    try:
        wait_until(lambda: talking(out, 4), 30, what="4 calls in progress for a whole health interval")
        run.send_signal(signum)
        stdout, stderr = run.communicate(timeout=30)
    finally:
        run.kill()
    assert run.returncode == 4, stderr  # INCONCLUSIVE: a few calls cannot decide the default SLA lines
    summary = json.loads((out / "summary.json").read_text())
    calls = read_calls(out)
    assert summary["verdict"] == "INCONCLUSIVE"
    assert summary["run"]["interrupted"] is True and summary["run"]["stop_reason"] == "signal"
    assert summary["calls"]["attempted"] == len(calls) >= 4
    for call in calls:  # hung up by us long before their 20 s talk time
        assert call["hangup_by"] == "caller"
        assert call["bye_ms"] - call["answer_ms"] < 15000


@pytest.mark.peers
@pytest.mark.e2e
def test_sigkill_loses_no_finished_call(tmp_path):
    echo = sipp.start_sipp(tmp_path, "-sn", "uas", "-rtp_echo", "-trace_msg")  # this run's calls only
    try:
        out = tmp_path / "out"
        run = start_callproof("run", str(scenario(tmp_path, echo.uri, talk=1, concurrent=4)), "--out", str(out))
        # 20 calls recorded, then 20 more: 4 at a time, 1 s each, those took at least 5 s, so the
        # first 20 ended well before the kill (the oracle below gives their records 5 s to arrive).
        wait_for_lines(out / "calls.jsonl", 20, 60)
        wait_for_lines(out / "calls.jsonl", 40, 60)
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=10)
        killed_at = time.time()
    finally:
        echo.stop()

    recorded = {c["call_id"] for c in read_calls(out)}
    recorded |= {p["record"]["call_id"] for p in read_jsonl(out / "probes.jsonl") if p.get("record")}
    # SIPp's own trace: every 200 OK it sent to a BYE, with the time it sent it.
    trace = next(tmp_path.glob(f"*{echo.proc.pid}_messages.log")).read_text()
    finished = set()
    for block in re.split(r"(?=----------------------------------------------- )", trace):
        if "SIP/2.0 200 OK" in block and re.search(r"CSeq: \d+ BYE", block):
            stamp = block.split("\n", 1)[0].split(" ", 1)[1].strip()
            sent = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()  # SIPp: local time
            # Well before the kill: the record had ample time to reach the parent and be flushed.
            if sent < killed_at - 5:
                finished.add(re.search(r"Call-ID: (\S+)", block).group(1))
    assert len(finished) >= 10
    assert finished <= recorded, f"finished calls missing from the records: {finished - recorded}"


@pytest.mark.peers
@pytest.mark.e2e
def test_a_target_rejecting_every_call_is_a_completed_run_with_zero_answered(tmp_path, sipp_reject_503):
    out = tmp_path / "out"
    result = callproof("run", str(scenario(tmp_path, sipp_reject_503.uri, duration=4, concurrent=2)), "--out", str(out))
    calls = read_calls(out)
    summary = json.loads((out / "summary.json").read_text())
    # FAIL: the target's doing, not the generator's (INVALID only for what a busy machine did to us)
    if assert_verdict(summary, result.returncode, "FAIL"):
        assert summary["generator"]["valid"] is True
    assert len(calls) >= 10
    assert all(c["failure"] == "rejected" and c["final_code"] == 503 for c in calls)
    assert summary["calls"]["answered"] == 0 and summary["failures"]["rejected"] == len(calls)
    assert summary["rejected_codes"] == {"503": len(calls)}


@pytest.mark.peers
@pytest.mark.e2e
def test_the_breaker_stops_a_run_whose_target_answers_too_little(tmp_path, sipp_reject_503):
    out = tmp_path / "out"
    path = scenario(tmp_path, sipp_reject_503.uri, duration=60, concurrent=2, floor=0.5, window=3)
    started = time.monotonic()
    result = callproof("run", str(path), "--out", str(out))
    assert_verdict(json.loads((out / "summary.json").read_text()), result.returncode, "FAIL")  # nothing answered
    assert time.monotonic() - started < 30  # not the scenario's 60 s
    assert "circuit breaker" in result.stderr
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    (trip,) = [e for e in events if e["kind"] == "breaker"]
    assert trip["answer_rate"] == 0.0 and trip["calls"] >= 5
    assert json.loads((out / "summary.json").read_text())["run"]["stop_reason"] == "breaker"


@pytest.mark.e2e
def test_bad_input_exits_2_with_one_sentence(tmp_path):
    missing = callproof("run", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and missing.stderr.startswith("callproof: ")
    bad_arg = callproof("run", "smoke", "--duration", "-3")
    assert bad_arg.returncode == 2
    assert bad_arg.stderr == ("callproof: --duration must be a number of seconds greater than 0 and at most 604,800 "
                              "(got -3)\n")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    not_empty = callproof("run", "smoke", "--out", str(tmp_path / "full"))
    assert not_empty.returncode == 2
    assert not_empty.stderr == f"callproof: output folder {tmp_path / 'full'} is not empty; choose another with --out\n"


@pytest.mark.peers
@pytest.mark.e2e
def test_a_harness_that_cannot_start_its_processes_exits_3(tmp_path, traced_echo):
    """Every media port range already claimed by another callproof run (here the test's own
    registry, through the machine-wide lock of harness/run/ports.py): the run cannot give its
    engine a range and exits 3."""
    path = scenario_file(tmp_path / "control.yaml", traced_echo.uri)
    hog = ports.PortRegistry("127.0.0.1")
    try:
        for width in (1024, 64, 2):  # whatever other runs on this machine leave free, in big pieces first
            with contextlib.suppress(HarnessError):
                while True:
                    hog.claim(width)
        result = callproof("run", str(path), "--out", str(tmp_path / "out"))
    finally:
        hog.close()
    assert result.returncode == 3
    assert re.match(r"callproof: no free range of \d+ media ports is left in 16384-32767 on 127\.0\.0\.1 ",
                    result.stderr), result.stderr
    assert result.stderr.count("\n") == 1
