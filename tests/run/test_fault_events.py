"""What a fired fault writes into events.jsonl names no local folder (issue 14, section 7): a pid file by its
path inside the scenario's folder, else by its name; an OS error by its words, not its absolute file name."""

from __future__ import annotations

import signal
import subprocess

from callproof.harness.run.faults import FaultInjector
from callproof.harness.scenario.model import Fault


def injector(base_dir) -> FaultInjector:
    return FaultInjector((), processes=None, events=None, base_dir=base_dir)


def test_a_signal_fault_names_its_pid_file_relative_to_the_scenario(tmp_path):
    scenario_dir = tmp_path / "scenario"
    (scenario_dir / "run").mkdir(parents=True)
    child = subprocess.Popen(["sleep", "30"])
    try:
        pid_file = scenario_dir / "run" / "backend.pid"
        pid_file.write_text(f"{child.pid}\n")
        fault = Fault(at_s=0.0, action="signal", command=None, pid_file=pid_file, signal=signal.SIGTERM, process=None)
        assert injector(scenario_dir).fire(fault) == (True, f"SIGTERM to PID {child.pid} from run/backend.pid", None)
        assert child.wait(timeout=10) == -signal.SIGTERM
        outside = tmp_path / "elsewhere.pid"
        fault = Fault(at_s=0.0, action="signal", command=None, pid_file=outside, signal=signal.SIGTERM, process=None)
        ok, detail, error = injector(scenario_dir).fire(fault)
        assert (ok, detail, error) == (False, "signal", "FileNotFoundError: No such file or directory")
        assert str(tmp_path) not in f"{detail} {error}"
        other = subprocess.Popen(["sleep", "30"])
        outside.write_text(str(other.pid))
        assert injector(scenario_dir).fire(fault)[1] == f"SIGTERM to PID {other.pid} from elsewhere.pid"
        assert other.wait(timeout=10) == -signal.SIGTERM
    finally:
        child.kill()
        child.wait(timeout=10)
