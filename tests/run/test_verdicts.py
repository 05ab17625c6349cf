"""Verdicts that hold up: RFC 6076 ratios equal SIPp's own record; the target is never
blamed for the generator's trouble, nor the generator for a dead target."""

from __future__ import annotations

import json
import re
import socket
from collections import Counter

import pytest

from callproof.sip.engine.info import probe_in_subprocess
from tests.cli import callproof
from tests.peers import sipp
from tests.run.helpers import assert_verdict, read_calls, scenario_file


def run(tmp_path, uri, *, concurrent=4, duration=8, processes=None):
    load = {"peak_concurrent": concurrent, "duration_s": duration, "max_cps": 30, "max_concurrent": 40}
    if processes is not None:
        load["processes"] = processes
    path = scenario_file(tmp_path / "verdicts.yaml", uri, load=load, call={"ring_timeout_s": 2},
                         sla={"answer_rate_min": 0.95, "isa_max": 0.03})
    out = tmp_path / "out"
    result = callproof("run", str(path), "--out", str(out), "--quiet")
    return result, json.loads((out / "summary.json").read_text()), read_calls(out)


@pytest.mark.peers
@pytest.mark.e2e
def test_ser_seer_and_isa_are_what_sipp_was_told_to_do(tmp_path):
    peer = sipp.start_sipp(tmp_path, "-sf", str(_mixed(tmp_path)), "-rtp_echo", "-trace_msg")
    try:
        result, summary, calls = run(tmp_path, peer.uri, duration=10)
    finally:
        peer.stop()
    # Ground truth: the final response SIPp sent to each INVITE, from its own message trace.
    trace = next(tmp_path.glob(f"*{peer.proc.pid}_messages.log")).read_text()
    sent: dict[str, int] = {}
    for block in re.split(r"(?=----------------------------------------------- )", trace):
        status = re.search(r"message sent.*\n\nSIP/2\.0 (\d{3}) ", block)
        if status and re.search(r"CSeq: \d+ INVITE", block) and int(status.group(1)) >= 200:
            sent.setdefault(re.search(r"Call-ID: (\S+)", block).group(1), int(status.group(1)))
    assert sorted(sent) == sorted(c["call_id"] for c in calls)
    told = Counter(sent.values())
    assert told[486] >= 3 and told[503] >= 3 and told[200] >= 10  # the mix really happened

    invites, redirected = len(sent), 0
    connect = summary["connect"]
    # RFC 6076 4.4 SER, 4.5 SEER (200, 480, 486, 600, 603), 4.6 ISA (408, 500, 503, 504).
    assert connect["ser_pct"] == pytest.approx(100 * told[200] / (invites - redirected), abs=1e-3)
    assert connect["seer_pct"] == pytest.approx(100 * (told[200] + told[486]) / (invites - redirected), abs=1e-3)
    assert connect["isa_pct"] == pytest.approx(100 * told[503] / invites, abs=1e-3)
    assert_verdict(summary, result.returncode, "FAIL")


@pytest.mark.e2e
def test_a_silent_target_fails_and_is_not_invalid(tmp_path):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        result, summary, calls = run(tmp_path, f"sip:x@127.0.0.1:{silent.getsockname()[1]}")
    finally:
        silent.close()
    assert calls and all(c["failure"] == "timeout" for c in calls)
    # pjsua holds an INVITE nobody answered past our ring timeout: each record says when it let go.
    assert all(c["released_ms"] >= c["cancel_ms"] for c in calls)
    if assert_verdict(summary, result.returncode, "FAIL"):  # never INVALID for a dead target's silence
        assert summary["generator"]["valid"] is True
    isa = next(line for line in summary["sla"] if line["name"] == "isa")
    assert isa["verdict"] == "FAIL" and isa["observed"] == pytest.approx(100.0) and isa["unit"] == "%"


@pytest.mark.peers
@pytest.mark.e2e
@pytest.mark.sip_engine  # it probes which pjsua2 loads
def test_a_starved_generator_is_invalid_not_a_failure_of_the_target(tmp_path, run_dir):
    capacity = probe_in_subprocess()["max_calls_per_process"]
    if capacity > 4:
        pytest.skip(f"this pjsua2 holds {capacity} calls per process: one process is not starved by 12 calls")
    peer = sipp.echo_uas(tmp_path)
    try:
        # 12 concurrent calls asked of one engine process that holds 4 (the wheel).
        result, summary, calls = run(tmp_path, peer.uri, concurrent=12, processes=1)
    finally:
        peer.stop()
    assert calls and all(c["failure"] is None for c in calls)  # the target answered everything
    assert summary["generator"]["valid"] is False
    assert summary["verdict"] == "INVALID" and result.returncode == 5
    assert summary["verdict_reason"]


def _mixed(folder):
    text = (sipp.SCENARIOS / "uas_mixed.xml").read_text()
    path = folder / "uas_mixed.xml"
    path.write_text(text.replace("@busy@", "0.2").replace("@busy_or_unavailable@", "0.4"))
    return path
