"""The prober's schedule over the fake engine pool: one probe call per interval, whatever each takes.

Timing is asserted one way only: a probe is never early and never extra. How late one is
depends on the machine's load, which a test cannot control.
"""

from __future__ import annotations

import io
import socket
import threading
import time

import gevent
import gevent.socket
import pytest

from callproof.harness.run import probes as probes_module
from callproof.harness.run.probes import Prober, send_options
from callproof.harness.run.recorder import JsonLines
from callproof.sip.settings import CallSpec
from tests.fakes import Outcome, fake_pool, placed
from tests.waiting import json_lines, wait_until

URI = "sip:probe@127.0.0.1:5080"
INTERVAL_S = 0.05


@pytest.fixture
def probes(tmp_path):
    """probes.jsonl, closed after the test (and after any probe still writing to it)."""
    out = JsonLines(tmp_path / "probes.jsonl")
    yield out
    out.close()


def prober(pool, out: JsonLines, interval_s: float = INTERVAL_S) -> Prober:
    return Prober(pool=pool, make_spec=lambda: CallSpec(uri=URI), uri=URI, transport="udp",
                  call_interval_s=interval_s, options_interval_s=None, out=out)


def run_for(probing: Prober, seconds: float, *, grace_s: float = 10.0) -> float:
    """Probe for `seconds`, stop; how long the schedule really ran."""
    started = time.monotonic()
    probing.start()
    gevent.sleep(seconds)
    ran_s = time.monotonic() - started
    probing.stop(grace_s=grace_s, hang_up_wait_s=10.0)
    return ran_s


def test_one_probe_call_per_interval_on_a_fixed_grid(probes):
    pool = fake_pool(capacity=10, script=lambda spec: Outcome.answered(talk_s=0.0))
    ran_s = run_for(prober(pool, probes), 0.3)
    times = [at for at, _ in placed(pool)]
    assert 2 <= len(times) <= ran_s / INTERVAL_S + 1  # never more than one per interval
    for k, at in enumerate(times):  # due at t0 + k * interval: never early, and a late one shifts no other
        assert at - times[0] >= k * INTERVAL_S - 1e-3
    entries = json_lines(probes.path)
    assert len(entries) == len(times)
    assert all(e["kind"] == "call" and e["record"]["target"] == URI and "error" not in e for e in entries)


def test_a_slow_probe_never_delays_the_next(probes):
    pool = fake_pool(capacity=20, script=lambda spec: Outcome.answered(talk_s=0.2, setup_s=0.1))
    run_for(prober(pool, probes), 0.3)
    assert pool.processes[0].most_in_flight >= 2  # the next probe went while the slow one was still on
    times = [at for at, _ in placed(pool)]
    for k, at in enumerate(times):
        assert at - times[0] >= k * INTERVAL_S - 1e-3
    entries = json_lines(probes.path)
    assert len(entries) == len(times)  # stop() waited for the ones in progress (grace_s)
    assert all(e["record"] is not None for e in entries)


def test_a_busy_probe_engine_gives_a_not_placed_entry_at_once(probes):
    """Probes never wait for a slot: a late probe would misplace the outage it should see."""
    pool = fake_pool(capacity=1, script=lambda spec: Outcome.answered(talk_s=60.0))
    run_for(prober(pool, probes), 0.3, grace_s=0)
    entries = json_lines(probes.path)
    not_placed = [e for e in entries if e["record"] is None]
    assert len(placed(pool)) == 1 and len(not_placed) >= 1
    assert all(e["error"] == "no SIP engine slot became free in time" for e in not_placed)
    assert pool.waited_for_slot == len(not_placed)
    # The one placed probe was hung up by the stop, and recorded (issue 13: every call has its record).
    [hung_up] = [e for e in entries if e["record"] is not None]
    assert hung_up["record"]["failure"] == "stopped"


def test_a_probe_whose_engine_dies_says_so(probes):
    pool = fake_pool(capacity=5, script=lambda spec: Outcome.answered(talk_s=60.0))
    probing = prober(pool, probes, interval_s=60.0)
    probing.start()
    wait_until(lambda: placed(pool), 10, what="the first probe placed", poll_s=0.005)
    pool.processes[0].die(code=-11)
    probing.stop(grace_s=10, hang_up_wait_s=10)
    (entry,) = json_lines(probes.path)
    assert entry["record"] is None
    assert entry["error"] == "SIP engine process fake-1 exited (code -11) during a call"


@pytest.mark.parametrize(("grace_s", "failure"), [(0.0, "stopped"), (10.0, None)])
def test_stop_lets_probes_end_for_the_grace_then_hangs_them_up_and_records_them(probes, grace_s, failure):
    pool = fake_pool(capacity=5, script=lambda spec: Outcome.answered(talk_s=0.2))
    probing = prober(pool, probes, interval_s=60.0)
    probing.start()
    wait_until(lambda: placed(pool), 10, what="the first probe placed", poll_s=0.005)
    started = time.monotonic()
    probing.stop(grace_s=grace_s, hang_up_wait_s=10.0)
    assert time.monotonic() - started < 1.0  # an interrupted run (grace 0) hangs up at once
    (entry,) = json_lines(probes.path)
    assert entry["record"]["failure"] == failure


def test_options_to_a_server_that_hangs_up_says_so():
    """A TCP server that reads the OPTIONS and closes: one reason, not a loop on empty reads."""
    server = socket.create_server(("127.0.0.1", 0))

    def read_and_hang_up() -> None:
        conn, _ = server.accept()
        conn.recv(65535)
        conn.close()

    hanging_up = threading.Thread(target=read_and_hang_up)
    hanging_up.start()
    try:
        result = send_options(f"sip:probe@127.0.0.1:{server.getsockname()[1]}", "tcp", timeout_s=5.0)
    finally:
        hanging_up.join(5.0)
        server.close()
    assert result == {"code": None, "rtt_ms": None, "reason": "the server closed the connection"}


def test_an_options_probe_unanswered_at_the_stop_writes_nothing_after_it(tmp_path, monkeypatch):
    """The run closes probes.jsonl right after stop(): an OPTIONS still waiting then is dropped. (It
    used to write on its answer or its timeout, 2 s later, into the closed file: a traceback at the
    end of a run against a UAS that ignores OPTIONS, seen with SIPp 3.7.)"""
    errors = io.StringIO()
    monkeypatch.setattr(gevent.get_hub(), "exception_stream", errors)
    monkeypatch.setattr(probes_module, "socket", gevent.socket)  # as in a run, which Locust monkey-patches
    server = gevent.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(10.0)
    out = JsonLines(tmp_path / "probes.jsonl")
    probing = Prober(pool=None, make_spec=None, uri=f"sip:probe@127.0.0.1:{server.getsockname()[1]}",
                     transport="udp", call_interval_s=None, options_interval_s=60.0, out=out)
    try:
        probing.start()
        _, sender = server.recvfrom(65535)  # the OPTIONS, not answered yet
        started = time.monotonic()
        probing.stop(grace_s=0.1, hang_up_wait_s=1.0)
        assert time.monotonic() - started < 1.0  # the grace, not the OPTIONS' own 2 s timeout
        out.close()
        server.sendto(b"SIP/2.0 200 OK\r\n\r\n", sender)  # the answer comes after the run
        gevent.sleep(0.3)
    finally:
        server.close()
    assert errors.getvalue() == ""
    assert json_lines(out.path) == []
