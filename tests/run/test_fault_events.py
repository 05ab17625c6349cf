"""Faults (issue 14, sections 1 and 7): a `signal` fault signals only a process the run started (or one of
their descendants), or the PID in a file the person running it named with --allow-pid-file; a PID file is read
as a PID and nothing else, and its content never reaches events.jsonl; what a fired fault writes names no local
folder; a `command` fault's output goes to a capped log, not to events.jsonl."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from callproof.harness.run.faults import FaultInjector
from callproof.harness.run.processes import ScenarioProcesses
from callproof.harness.scenario.model import Fault, ProcessSpec
from tests.waiting import wait_until

SECRET = b"hunter2-the-first-word-of-a-private-file"


def injector(base_dir, *, processes=None, pid_files=frozenset(), log_dir=None) -> FaultInjector:
    return FaultInjector((), processes=processes, events=None, base_dir=base_dir, log_dir=log_dir or base_dir,
                         pid_files=frozenset(pid_files))


def signal_fault(pid_file, signum=signal.SIGTERM) -> Fault:
    return Fault(at_s=0.0, action="signal", command=None, pid_file=pid_file, signal=signum, process=None)


@pytest.fixture
def bystander():
    """A process of someone else's on this machine (the test's own child, not the run's)."""
    child = subprocess.Popen(["sleep", "60"])
    yield child
    child.kill()
    child.wait(timeout=10)


@pytest.fixture
def scenario_dir(tmp_path):
    folder = tmp_path / "scenario"
    (folder / "run").mkdir(parents=True)
    return folder


def test_a_signal_goes_to_a_process_the_run_did_not_start_only_when_its_pid_file_is_named(scenario_dir, bystander):
    pid_file = scenario_dir / "run" / "backend.pid"
    pid_file.write_text(f"{bystander.pid}\n")
    ok, detail, error = injector(scenario_dir).fire(signal_fault(pid_file))
    assert (ok, detail, error) == (False, "signal", "the PID in run/backend.pid is not a process this run started; "
                                                    "name the file with --allow-pid-file to signal it")
    time.sleep(0.2)
    assert bystander.poll() is None  # untouched
    vouched = injector(scenario_dir, pid_files={pid_file.resolve()})
    assert vouched.fire(signal_fault(pid_file)) == (True, f"SIGTERM to PID {bystander.pid} from run/backend.pid",
                                                    None)
    assert bystander.wait(timeout=10) == -signal.SIGTERM


def test_a_signal_goes_to_a_process_the_run_started_and_to_its_descendants(scenario_dir, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = ScenarioProcesses(scenario_dir, logs)
    # The process writes its child's PID, as a daemon writes its worker's: both are the run's.
    command = ("sh", "-c", "sleep 60 & echo $! > run/child.pid; exec sleep 61")
    processes.start(ProcessSpec(name="backend", command=command, ready_port=None, ready_protocol="udp",
                                ready_timeout_s=1))
    try:
        wait_until(lambda: (scenario_dir / "run" / "child.pid").read_text().strip() if
                   (scenario_dir / "run" / "child.pid").exists() else None, 10, what="the child's PID file")
        child_pid = int((scenario_dir / "run" / "child.pid").read_text())
        (scenario_dir / "run" / "main.pid").write_text(str(processes.running["backend"].pid))
        fault = signal_fault(scenario_dir / "run" / "child.pid", signal.SIGKILL)
        assert injector(scenario_dir, processes=processes).fire(fault) == (
            True, f"SIGKILL to PID {child_pid} from run/child.pid", None)
        wait_until(lambda: not os.path.exists(f"/proc/{child_pid}") or
                   b") Z" in open(f"/proc/{child_pid}/stat", "rb").read(), 10, what="the child's end")
        main = signal_fault(scenario_dir / "run" / "main.pid")
        assert injector(scenario_dir, processes=processes).fire(main)[0] is True
        assert processes.running["backend"].wait(timeout=10) == -signal.SIGTERM
    finally:
        processes.stop_all()


@pytest.mark.parametrize("content", [
    SECRET + b" 123\n",  # the case: its first word went into events.jsonl
    b"123 " + SECRET + b"\n",
    b"\x1b[31m123\n",
    b"1" * 100,
    b"0\n",
    b"-1\n",
    b"",
])
def test_a_pid_file_that_holds_no_pid_is_named_and_never_quoted(scenario_dir, content):
    pid_file = scenario_dir / "run" / "x.pid"
    pid_file.write_bytes(content)
    ok, detail, error = injector(scenario_dir, pid_files={pid_file.resolve()}).fire(signal_fault(pid_file))
    assert (ok, detail, error) == (False, "signal", "run/x.pid does not hold a process ID")


def test_a_pid_file_that_is_a_fifo_a_folder_or_missing_is_one_sentence_and_nothing_blocks(scenario_dir, tmp_path):
    fifo = scenario_dir / "run" / "fifo.pid"
    os.mkfifo(fifo)
    started = time.monotonic()
    assert injector(scenario_dir).fire(signal_fault(fifo)) == (False, "signal", "run/fifo.pid is not a regular file")
    assert time.monotonic() - started < 5
    assert injector(scenario_dir).fire(signal_fault(scenario_dir / "run")) == (
        False, "signal", "run is not a regular file")
    outside = tmp_path / "elsewhere.pid"  # named by its name alone: no local folder in a bundle
    ok, detail, error = injector(scenario_dir).fire(signal_fault(outside))
    assert (ok, detail, error) == (False, "signal", "elsewhere.pid does not exist")
    assert str(tmp_path) not in f"{detail} {error}"


def test_a_command_faults_output_goes_to_its_log_not_to_the_event(scenario_dir, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    fault = Fault(at_s=0.0, action="command", command=("sh", "-c", f"echo {SECRET.decode()}; exit 3"),
                  pid_file=None, signal=signal.SIGTERM, process=None)
    ok, detail, error = injector(scenario_dir, log_dir=logs).fire(fault, 2)
    assert (ok, error) == (False, "exit code 3 (logs/fault-2.log)")
    assert (logs / "fault-2.log").read_bytes() == SECRET + b"\n"
