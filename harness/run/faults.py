"""Faults fired at set times during a run (issue 5): the ground truth of a failover test.

They run only when the person running the scenario allowed it
(callproof.harness.run.scenario_commands). `command` runs an argv (no shell) from the
scenario's folder, its output in logs/fault-N.log (capped, as a process's);
`stop` signals a process the scenario started; `signal` signals the PID written in a
file, but only a process this run started (or one of their descendants), unless the
person running it named that file with --allow-pid-file. The file is read as a PID
and nothing else: its content never reaches events.jsonl, whatever it holds. Every
fault is written to events.jsonl with the instant it fired.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import gevent

from callproof.harness.run.processes import LoggedProgram, ScenarioProcesses
from callproof.harness.run.recorder import EventLog
from callproof.harness.scenario.model import Fault

_COMMAND_TIMEOUT_S = 60.0
_PID_FILE_BYTES = 64  # "1234\n" and some room; a PID file is no longer
_PID = re.compile(rb"\s*([1-9][0-9]{0,9})\s*")


class FaultError(Exception):
    """Why a fault did not fire, in words fit for events.jsonl (no file content, no absolute path)."""


class FaultInjector:
    def __init__(self, faults: tuple[Fault, ...], *, processes: ScenarioProcesses | None, events: EventLog,
                 base_dir: Path, log_dir: Path, env: dict[str, str] | None = None,
                 pid_files: frozenset[Path] = frozenset()) -> None:
        self.faults = sorted(enumerate(faults), key=lambda item: item[1].at_s)  # (index in the scenario, fault)
        self.processes = processes
        self.events = events
        self.base_dir = base_dir
        self.log_dir = log_dir
        self.env = env
        self.pid_files = pid_files

    def run(self, start_mono: float) -> None:
        """Fire each fault at its time after `start_mono` (run this in a greenlet)."""
        for index, fault in self.faults:
            delay = start_mono + fault.at_s - time.monotonic()
            if delay > 0:
                gevent.sleep(delay)
            at_s = time.monotonic() - start_mono
            ok, detail, error = self.fire(fault, index)
            self.events.event("fault", at_s=round(at_s, 3), action=fault.action, detail=detail, ok=ok, error=error)

    def fire(self, fault: Fault, index: int = 0) -> tuple[bool, str, str | None]:
        try:
            if fault.action == "command":
                return self._command(fault, index)
            if fault.action == "signal":
                return True, self._signal_pid_file(fault), None
            assert fault.process is not None, "scenarios/schema.json requires a process for stop"
            pid = self.processes.signal(fault.process, fault.signal) if self.processes else None
            if pid is None:
                raise FaultError(f"process {fault.process} was not started")
            return True, f"{fault.signal.name} to {fault.process} (PID {pid})", None
        except FaultError as exc:
            return False, fault.action, str(exc)
        except OSError as exc:  # its str() carries the absolute file name: events.jsonl names files relatively
            return False, fault.action, f"{type(exc).__name__}: {exc.strerror}"

    def _command(self, fault: Fault, index: int) -> tuple[bool, str, str | None]:
        argv = list(fault.command or ())
        name = f"fault-{index}.log"
        program = LoggedProgram(argv, self.log_dir / name, cwd=self.base_dir, env=self.env)
        try:
            code = program.proc.wait(timeout=_COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            program.proc.kill()
            program.proc.wait()
            program.close_log()
            return False, " ".join(argv), f"did not end within {_COMMAND_TIMEOUT_S:g} s, killed (logs/{name})"
        program.close_log()
        return code == 0, " ".join(argv), None if code == 0 else f"exit code {code} (logs/{name})"

    def _signal_pid_file(self, fault: Fault) -> str:
        assert fault.pid_file is not None, "scenarios/schema.json requires a pid_file for signal"
        shown = _shareable(fault.pid_file, self.base_dir)
        pid = read_pid(fault.pid_file, shown)
        # pidfd: the process the check below looks at is the one that gets the signal, even if its PID is reused.
        try:
            handle = os.pidfd_open(pid)
        except ProcessLookupError:
            raise FaultError(f"no process has the PID in {shown}") from None
        try:
            vouched = Path(fault.pid_file).resolve() in self.pid_files
            started = self.processes.pids() if self.processes else set()
            if not vouched and not _descends_from(pid, started):
                raise FaultError(f"the PID in {shown} is not a process this run started; name the file with "
                                 "--allow-pid-file to signal it")
            signal.pidfd_send_signal(handle, fault.signal)
        finally:
            os.close(handle)
        return f"{fault.signal.name} to PID {pid} from {shown}"


def read_pid(path: Path, shown: str) -> int:
    """The PID a PID file holds: a regular file of a few bytes, a number and blanks; otherwise one sentence
    that quotes nothing of what the file holds."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FaultError(f"{shown} does not exist") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FaultError(f"{shown} is not a regular file")
    with os.fdopen(fd, "rb") as stream:
        data = stream.read(_PID_FILE_BYTES + 1)
    match = _PID.fullmatch(data) if len(data) <= _PID_FILE_BYTES else None
    if match is None:
        raise FaultError(f"{shown} does not hold a process ID")
    return int(match.group(1))


def _descends_from(pid: int, ancestors: set[int]) -> bool:
    """Whether `pid` is one of `ancestors` or a descendant of one (parents read from /proc)."""
    seen = set()
    while pid > 1 and pid not in seen:
        if pid in ancestors:
            return True
        seen.add(pid)
        try:
            stat_line = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            return False
        pid = int(stat_line.rsplit(b")", 1)[1].split()[1])  # after the name, which may hold ")": state, ppid
    return False


def _shareable(path: Path, base_dir: Path) -> str:
    """A file as events.jsonl names it: relative to the scenario's folder, else by its name alone
    (no absolute local path goes into a bundle: callproof.reports.layout)."""
    try:
        return Path(path).relative_to(base_dir).as_posix()
    except ValueError:
        return Path(path).name
