"""Faults fired at set times during a run (issue 5): the ground truth of a failover test.

`command` runs an argv (no shell) from the scenario's folder, `signal` sends a
signal to the PID in a file, `stop` signals a process the scenario started.
Every fault is written to events.jsonl with the instant it fired.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import gevent

from callproof.harness.run.processes import ScenarioProcesses
from callproof.harness.run.recorder import EventLog
from callproof.harness.scenario.model import Fault

_COMMAND_TIMEOUT_S = 60.0


class FaultInjector:
    def __init__(self, faults: tuple[Fault, ...], *, processes: ScenarioProcesses, events: EventLog,
                 base_dir) -> None:
        self.faults = sorted(faults, key=lambda f: f.at_s)
        self.processes = processes
        self.events = events
        self.base_dir = base_dir

    def run(self, start_mono: float) -> None:
        """Fire each fault at its time after `start_mono` (run this in a greenlet)."""
        for fault in self.faults:
            delay = start_mono + fault.at_s - time.monotonic()
            if delay > 0:
                gevent.sleep(delay)
            at_s = time.monotonic() - start_mono
            ok, detail, error = self.fire(fault)
            self.events.event("fault", at_s=round(at_s, 3), action=fault.action, detail=detail, ok=ok, error=error)

    def fire(self, fault: Fault) -> tuple[bool, str, str | None]:
        try:
            if fault.action == "command":
                argv = list(fault.command or ())
                done = subprocess.run(argv, cwd=self.base_dir, stdin=subprocess.DEVNULL, capture_output=True,
                                      timeout=_COMMAND_TIMEOUT_S)
                error = None if done.returncode == 0 else done.stderr.decode(errors="replace").strip()[-500:]
                return done.returncode == 0, " ".join(argv), error
            if fault.action == "signal":
                pid = int(fault.pid_file.read_text().split()[0])
                os.kill(pid, fault.signal)
                return True, f"{fault.signal.name} to PID {pid} from {_shareable(fault.pid_file, self.base_dir)}", None
            pid = self.processes.signal(fault.process, fault.signal)
            return True, f"{fault.signal.name} to {fault.process} (PID {pid})", None
        except OSError as exc:  # its str() carries the absolute file name: events.jsonl names files relatively
            return False, fault.action, f"{type(exc).__name__}: {exc.strerror}"
        except (ValueError, subprocess.TimeoutExpired, KeyError) as exc:
            return False, fault.action, f"{type(exc).__name__}: {exc}"


def _shareable(path: Path, base_dir: Path) -> str:
    """A file as events.jsonl names it: relative to the scenario's folder, else by its name alone
    (no absolute local path goes into a bundle: callproof.reports.layout)."""
    try:
        return Path(path).relative_to(base_dir).as_posix()
    except ValueError:
        return Path(path).name
