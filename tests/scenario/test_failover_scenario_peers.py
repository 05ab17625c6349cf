"""failover.yaml's own processes, started as the scenario says: Kamailio really
answers OPTIONS, dispatches calls to both SIPp backends, and keeps answering
through backend-b after backend-a is killed the way the scenario's fault does."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from callproof.harness.run.processes import stop_processes
from callproof.harness.scenario.loader import load_scenario
from callproof.harness.scenario.model import Scenario
from tests.peers.net import free_port, wait_bound

pytestmark = [pytest.mark.peers, pytest.mark.any_engine]

UAC = Path(__file__).resolve().parent / "uac_route_set.xml"


@pytest.fixture(scope="module")
def failover(run_dir):
    """The scenario and its running processes by name; always stopped by PID."""
    scenario = load_scenario("failover")
    for spec in scenario.processes:
        if shutil.which(spec.command[0]) is None:
            pytest.fail(f"{spec.command[0]} is not installed (.ci/debian-packages installs it)")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", spec.ready_port))
            except OSError:
                pytest.fail(f"UDP port {spec.ready_port} that failover.yaml uses for {spec.name} is taken")
    procs: dict[str, subprocess.Popen] = {}
    try:
        for spec in scenario.processes:
            with open(run_dir / f"failover-{spec.name}.log", "wb") as log:
                procs[spec.name] = subprocess.Popen(
                    spec.command, cwd=scenario.base_dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
                )
            wait_bound(spec.ready_port, spec.ready_protocol, spec.ready_timeout_s)
        yield scenario, procs
    finally:
        stop_processes(list(procs.values()))


def _calls(scenario: Scenario, run_dir: Path, count: int, tag: str) -> tuple[int, str]:
    """Place `count` short calls through the proxy with SIPp; (exit code, its statistics)."""
    host_port = scenario.target.uri.split("@", 1)[1]
    stats = run_dir / f"uac-{tag}.log"
    done = subprocess.run(
        ["sipp", "-sf", str(UAC), host_port, "-s", "600", "-i", "127.0.0.1", "-p", str(free_port()),
         "-mp", str(free_port(pair=True)), "-m", str(count), "-r", "10", "-d", "300", "-timeout", "20s",
         "-nostdin", "-trace_screen", "-screen_file", str(stats)],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=40, cwd=run_dir,
    )  # fmt: skip
    return done.returncode, stats.read_text() if stats.exists() else done.stdout.decode(errors="replace")


def test_the_proxy_answers_options_itself(failover):
    scenario, _ = failover
    proxy = next(p for p in scenario.processes if p.name == "proxy")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        request = (
            f"OPTIONS sip:127.0.0.1:{proxy.ready_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-options-1\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@127.0.0.1:{port}>;tag=1\r\n"
            f"To: <sip:127.0.0.1:{proxy.ready_port}>\r\n"
            "Call-ID: options-1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        sock.sendto(request.encode(), ("127.0.0.1", proxy.ready_port))
        reply = sock.recv(4096).decode()
    assert reply.startswith("SIP/2.0 200 OK\r\n")


def test_calls_survive_the_scenarios_fault(failover, run_dir):
    scenario, procs = failover
    code, stats = _calls(scenario, run_dir, 10, "before")
    assert code == 0, stats

    (fault,) = scenario.faults
    os.kill(procs[fault.process].pid, fault.signal)
    procs[fault.process].wait(timeout=5)

    # Half the new calls are first sent to the dead backend; Kamailio's 2 s timer
    # then marks it inactive and sends them to backend-b. Every call is answered.
    code, stats = _calls(scenario, run_dir, 10, "after")
    assert code == 0, stats
    # Kamailio's own view: the killed backend is marked inactive, the other stays active.
    runtime_dir = next(a for a in scenario_argv(scenario, "proxy") if a.startswith("/tmp/"))
    listing = subprocess.run(["kamcmd", "-s", f"unix:{runtime_dir}/kamailio_ctl", "dispatcher.list"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    flags = dict(re.findall(r"URI:\s*(\S+)\s+FLAGS:\s*(\S+)", listing))
    dead = next(p for p in scenario.processes if p.name == fault.process).ready_port
    assert flags.pop(f"sip:127.0.0.1:{dead}").startswith("I")
    assert [f[0] for f in flags.values()] == ["A"]


def scenario_argv(scenario: Scenario, name: str) -> tuple[str, ...]:
    return next(p.command for p in scenario.processes if p.name == name)
