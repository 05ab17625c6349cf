"""Failover RTO against Kamailio and two SIPp backends, one killed at a known time.

The scenario starts the proxy (docker/kamailio/kamailio.cfg) and the backends itself,
kills backend A with its `faults` section, and measures the RTO with its probes.
A SIPp caller placing calls through the same proxy the whole time is the independent
observer: the first of its calls begun after the fault that sets up within the probes'
setup cap is the moment service came back, as the test sees it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess

import pytest

from callproof.reports import keys
from tests.cli import start_callproof
from tests.peers.kamailio import KAMAILIO_CFG
from tests.peers.net import free_port
from tests.peers.sipp import SCENARIOS
from tests.run.helpers import assert_verdict, read_calls, sla_yaml, write_scenario

pytestmark = [pytest.mark.peers, pytest.mark.e2e]  # Kamailio, SIPp and `callproof run` (tests/markers.py)

FAULT_AT_S = 8
PROBE_INTERVAL_S = 1.0
SETUP_CAP_MS = 1000  # a call failing over to the survivor (Kamailio's 2 s timer) counts as down
FR_TIMER_S = 2.0

SCENARIO = """\
name: failover-test
description: "Kamailio before two SIPp backends; backend-a is killed {fault} s in."
seed: 21
target:
  uri: sip:600@127.0.0.1:{proxy}
load:
  mode: concurrency
  peak_concurrent: 4
  ramp_up_s: 0
  duration_s: 24
  ramp_down_s: 0
  max_cps: 10
  max_concurrent: 8
  breaker: {{min_answer_rate: 0}}
call:
  codecs: [PCMU]
  ring_timeout_s: 5
  talk_time: {{distribution: uniform, min_s: 2, max_s: 3}}
  media_timeout_s: 2
probes:
  call_interval_s: {interval}
  options_interval_s: 1
  setup_cap_ms: {cap}
  consecutive_ok: 3
  call_talk_s: 1
processes:
  - name: backend-a
    command: sipp -sf {uas} -i 127.0.0.1 -p {a} -mi 127.0.0.1 -mp {a_media} -rtp_echo -nostdin
    ready_port: {a}
  - name: backend-b
    command: sipp -sf {uas} -i 127.0.0.1 -p {b} -mi 127.0.0.1 -mp {b_media} -rtp_echo -nostdin
    ready_port: {b}
  - name: proxy
    command: >-
      kamailio -f {cfg} -DD -E -Y {runtime} -m 32 -M 4 -A LISTEN=udp:127.0.0.1:{proxy}
      -A 'DS_LIST="{dispatcher}"' -A DS_PROBING_MODE=0
    ready_port: {proxy}
faults:
  - at_s: {fault}
    action: stop
    process: backend-a
    signal: SIGKILL
{sla}"""


def test_rto_matches_an_independent_observer_and_calls_go_on_through_the_survivor(tmp_path):
    a, b, proxy = free_port(), free_port(), free_port()
    dispatcher = tmp_path / "dispatcher.list"
    dispatcher.write_text(f"1 sip:127.0.0.1:{a}\n1 sip:127.0.0.1:{b}\n")
    runtime = tmp_path / "kamailio"
    runtime.mkdir()
    text = SCENARIO.format(proxy=proxy, a=a, b=b, a_media=free_port(pair=True), b_media=free_port(pair=True),
                           uas=SCENARIOS / "uas_behind_proxy.xml", cfg=KAMAILIO_CFG, runtime=runtime,
                           dispatcher=dispatcher, fault=FAULT_AT_S, interval=PROBE_INTERVAL_S, cap=SETUP_CAP_MS,
                           sla=sla_yaml(rto_s_max=10))
    scenario = write_scenario(tmp_path / "failover.yaml", text)
    out = tmp_path / "out"
    keys.generate(tmp_path / "key")  # a scenario that starts programs signs with a key kept for it (issue 14)
    run = start_callproof("run", str(scenario), "--out", str(out), "--quiet", "--allow-scenario-commands",
                          "--key", str(tmp_path / "key"))
    observer = None
    try:
        _wait_bound(proxy, run)
        observer = subprocess.Popen(  # 4 calls a second through the proxy, each logged with its times
            ["sipp", "-sf", str(SCENARIOS / "uac_through_proxy.xml"), f"127.0.0.1:{proxy}", "-s", "600",
             "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port(pair=True)), "-r", "4",
             "-m", "80", "-d", "200", "-trace_msg", "-nostdin"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
        _, stderr = run.communicate(timeout=120)
    finally:
        run.kill()
        if observer is not None:
            observer.terminate()
            observer.wait(timeout=10)
    summary = json.loads((out / "summary.json").read_text())
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    (fault,) = [e for e in events if e["kind"] == "fault"]
    assert fault["ok"] and fault["detail"].startswith("SIGKILL to backend-a")
    fault_at = _utc(fault["at_utc"])

    truth_s = _first_fast_call_after(next(tmp_path.glob(f"*{observer.pid}_messages.log")).read_text(), fault_at)
    assert summary["rto_s"] is not None, summary["verdict_reason"]
    assert abs(summary["rto_s"] - truth_s) <= PROBE_INTERVAL_S + FR_TIMER_S, (summary["rto_s"], truth_s)
    assert any(_utc(o["start_utc"]) <= fault_at + dt.timedelta(seconds=PROBE_INTERVAL_S + FR_TIMER_S)
               and (o["end_utc"] is None or _utc(o["end_utc"]) > fault_at) for o in summary["outages"])
    # The load goes on through the survivor: calls begun well after the fault are answered.
    later = [c for c in read_calls(out)
             if _utc(c["invite_utc"]) > fault_at + dt.timedelta(seconds=FR_TIMER_S + 2)]
    assert len(later) >= 8 and all(c["answer_ms"] is not None for c in later)
    assert_verdict(summary, run.returncode, "PASS")


def _first_fast_call_after(trace: str, fault_at: dt.datetime) -> float:
    """Seconds from the fault to the first observer call begun after it that set up within the cap."""
    sent, answered = {}, {}
    for block in re.split(r"(?=----------------------------------------------- )", trace):
        if not block.strip():
            continue
        stamp = _local(block.split("\n", 1)[0].split(" ", 1)[1].strip())
        call_id = re.search(r"Call-ID: (\S+)", block)
        if call_id is None or not re.search(r"CSeq: \d+ INVITE", block):
            continue
        if "message sent" in block and "\n\nINVITE " in block:
            sent.setdefault(call_id.group(1), stamp)
        elif "message received" in block and "\n\nSIP/2.0 200 " in block:
            answered.setdefault(call_id.group(1), stamp)
    fast = sorted(t for c, t in sent.items() if t > fault_at and c in answered
                  and (answered[c] - t).total_seconds() * 1000 <= SETUP_CAP_MS)
    assert fast, "the observer saw no call set up after the fault"
    return (fast[0] - fault_at).total_seconds()


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _local(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").astimezone(dt.timezone.utc)  # SIPp: local time


def _wait_bound(port: int, run: subprocess.Popen) -> None:
    from tests.peers.net import wait_bound

    try:
        wait_bound(port, "udp", 30)
    except TimeoutError:
        run.kill()
        pytest.fail(f"the scenario's proxy never bound port {port}: {run.communicate()[1]}")
