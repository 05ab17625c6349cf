"""200 concurrent two-way G.711 calls held for 12 s against SIPp's echo, probes beside them, on the
machine as it is and with competing CPU load the test starts itself.

What the harness guarantees, and what is asserted: PASS when its own sockets dropped nothing and
its control leg stayed clean; otherwise INVALID with reasons the measurements back; never FAIL,
because nothing of the target's lost anything. The echo stands in for a PBX on a machine of its
own: it runs at a real-time priority, so the machine's load reaches only the generator, and its
own sockets' drop counters prove it lost nothing. No assertion depends on the machine being idle.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli import callproof, start_callproof
from tests.peers import sipp
from tests.peers.cpu_hogs import CpuHogs
from tests.run.helpers import read_calls, records_mentioning, scenario_file, unexplained_problems
from tests.waiting import json_lines, wait_until

pytestmark = [pytest.mark.peers, pytest.mark.e2e, pytest.mark.heavy]  # SIPp and `callproof run` (tests/markers.py)

CALLS = 200
HOLD_S = 12  # long enough for every call to be up at once, with probes and the control leg beside them
PACKETS = HOLD_S * 50
LOADS = {  # busy processes bounded in time (they end by themselves), stopped by PID
    "quiet": None,
    "busy-at-our-priority": {"count": 2, "nice": 0},
    "busy-at-a-higher-priority": {"count": 2, "nice": -10},
}


def run_beside(busy: dict | None, scenario: Path, out: Path) -> subprocess.CompletedProcess:
    """`callproof run` with the busy processes beside it from before its engines start until they
    have stopped (the own_sockets event): the summary and the report after that are not the load's
    (with them under busy processes at a higher priority, the test took 120-130 s on the wheel; 82 s
    without)."""
    args = ("run", str(scenario), "--out", str(out), "--quiet")
    if busy is None:
        return callproof(*args, timeout=400)
    events = out / "events.jsonl"
    with CpuHogs(**busy, seconds=120):
        run = start_callproof(*args)

        def engines_stopped() -> bool:
            return run.poll() is not None or any(e.get("kind") == "own_sockets" for e in json_lines(events))

        try:
            wait_until(engines_stopped, 400, what="the run's engines stopped", poll_s=0.5)
        except TimeoutError:
            run.kill()
            raise
    try:
        stdout, stderr = run.communicate(timeout=400)
    except subprocess.TimeoutExpired:
        run.kill()  # stopped by PID, like the busy processes
        raise
    return subprocess.CompletedProcess(run.args, run.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def echo(run_dir):
    if not sipp.can_run_realtime():
        pytest.skip("the echo needs a real-time priority (root) to stand in for a PBX on a machine of its own")
    peer = sipp.echo_uas(run_dir, realtime=True)  # one echo holds 200 calls (field notes: up to ~400)
    yield peer
    peer.stop()


@pytest.mark.sip_engine  # on the wheel and on the built engine
@pytest.mark.parametrize("load", LOADS)
def test_200_calls_and_probes_pass_or_are_invalid_with_the_reason_never_fail(tmp_path, echo, load):
    out = tmp_path / "out"
    path = scenario_file(tmp_path / "scale.yaml", echo.uri,
                         load={"peak_concurrent": CALLS, "duration_s": HOLD_S + 1, "max_cps": 100,
                               "max_concurrent": CALLS},
                         call={"ring_timeout_s": 10, "talk_time": {"distribution": "fixed", "value_s": HOLD_S}},
                         probes={"call_interval_s": 3, "options_interval_s": None, "call_talk_s": 2},
                         sla={"answer_rate_min": 0.95, "loss_p95_max": 0.01})
    far_before = echo.socket_drops()
    result = run_beside(LOADS[load], path, out)
    assert (out / "summary.json").is_file(), (result.returncode, result.stderr)
    summary = json.loads((out / "summary.json").read_text())
    generator = summary["generator"]
    calls = read_calls(out)

    # Every media port unique across every engine process of the run (callers, probes, control).
    assert records_mentioning(out, "Address already in use") == []
    assert generator["refused_calls"] == 0
    probes = [json.loads(line) for line in (out / "probes.jsonl").read_text().splitlines()]
    assert sum(p["kind"] == "call" for p in probes) >= 3
    # The target lost nothing: its own sockets dropped nothing, so every lost packet is ours.
    assert echo.socket_drops() == far_before
    lost = sum(c["media"]["rx_lost"] for c in calls if c["media"])
    if summary["verdict"] != "INVALID":
        # A run the generator vouches for lost nothing it did not count on its own sockets. (Seen
        # in a run it did not vouch for, an engine stalled 0.9 s under busy processes at our
        # priority: 432 packets missing in 118 of 298 calls, 2-6 each, all sent, counted by
        # neither side's sockets: where they went is not known yet. That run said INVALID.)
        assert lost <= (generator["socket_drops_media"] or 0)

    assert summary["verdict"] != "FAIL", summary["verdict_reason"]
    if summary["verdict"] == "PASS":
        assert result.returncode == 0 and generator["valid"] is True
        assert generator["socket_drops_media"] == generator["socket_drops_sip"] == 0
        assert generator["control"]["calls"] >= 4 and not generator["control"]["degraded"]
        held = [c for c in calls if c["answer_ms"] is not None and c["bye_ms"] - c["answer_ms"] >= HOLD_S * 1000 - 100]
        assert len(held) >= CALLS
        for call in held:
            media = call["media"]
            assert media["rx_lost"] == 0 and media["socket_drops"] == 0
            assert PACKETS - 10 <= media["rx_packets"] <= PACKETS + 10  # HOLD_S of 20 ms packets
            assert PACKETS - 10 <= media["tx_packets"] <= PACKETS + 10
    else:
        assert summary["verdict"] == "INVALID" and result.returncode == 5
        assert generator["valid"] is False and generator["problems"]
        assert unexplained_problems(summary) == [], summary["verdict_reason"]
    if load == "busy-at-a-higher-priority":
        # The busy processes did take the machine: the health record says so, beside our own CPU.
        assert generator["machine_busy_pct_max"] >= 95
