"""Processes a scenario starts itself (proxies, backends), and stops by PID.

They run only when the person running the scenario allowed it
(callproof.harness.run.scenario_commands). Each starts from the scenario's folder with
stdin on /dev/null, the environment without the run's secrets (scenario_environment),
and dies with us (PR_SET_PDEATHSIG). Its output goes to the run's logs/ folder, at most
MAX_OUTPUT_BYTES of it (CappedOutput): a log is part of the signed bundle. Whatever else
a process writes, wherever, is its own doing: callproof writes only inside the run folder.
A process with a `ready_port` counts as started once something has bound that port.
"""

from __future__ import annotations

import ctypes
import io
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from callproof.harness.errors import HarnessError
from callproof.harness.run.worker_auth import SECRET_ENV
from callproof.harness.scenario.model import ProcessSpec, Scenario

_PR_SET_PDEATHSIG = 1
_STOP_TIMEOUT_S = 10.0
MAX_OUTPUT_BYTES = 1 << 20  # of one program's output in the bundle: its first and its last 512 KiB


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def scenario_environment(scenario: Scenario) -> dict[str, str]:
    """The environment a scenario's programs get: ours, less the secrets the run reads from it (the SIP
    passwords and user names the scenario's *_env keys name, the master's shared secret)."""
    secrets = {SECRET_ENV}
    if scenario.target.credentials is not None:
        secrets |= {scenario.target.credentials.username_env, scenario.target.credentials.password_env}
    if scenario.agents.password_env:
        secrets.add(scenario.agents.password_env)
    return {name: value for name, value in os.environ.items() if name not in secrets}


class CappedOutput:
    """A program's output into `path`, at most `limit` bytes of it: the first half as it comes, the last half
    when the output ends, and between them one line saying how many bytes were left out."""

    def __init__(self, path: Path, limit: int = MAX_OUTPUT_BYTES) -> None:
        self.path = path
        self.head_limit = limit // 2
        self.tail_limit = limit - self.head_limit
        self.left_out = 0
        self._file = open(path, "wb")
        self._head = 0
        self._tail = bytearray()
        self._lock = threading.Lock()  # close() may come from the run while the copier still writes

    def write(self, chunk: bytes) -> None:
        with self._lock:
            if not self._file.closed:
                self._write(chunk)

    def _write(self, chunk: bytes) -> None:
        room = self.head_limit - self._head
        if room > 0:
            self._file.write(chunk[:room])
            self._file.flush()  # a killed run keeps what came
            self._head += min(room, len(chunk))
            chunk = chunk[room:]
        if chunk:
            self._tail += chunk
            excess = len(self._tail) - self.tail_limit
            if excess > 0:
                del self._tail[:excess]
                self.left_out += excess

    def close(self) -> None:
        """Write the last part and close the log; what comes after is dropped (a grandchild of the program
        may hold its output open after it ended: the log must not change once the run is signed)."""
        with self._lock:
            if not self._file.closed:
                self._close()

    def _close(self) -> None:
        if self.left_out:
            self._file.write(f"\n[callproof: {self.left_out:,} bytes of output left out here; a log keeps the "
                             f"first {self.head_limit:,} and the last {self.tail_limit:,}]\n".encode())
        self._file.write(self._tail)
        self._file.close()

    def copy(self, stream: io.BufferedReader) -> None:
        """Copy a pipe to its end, then close both (run in a thread: under gevent, a greenlet)."""
        try:
            while chunk := stream.read1(1 << 16):
                self.write(chunk)
        finally:
            stream.close()
            self.close()


class LoggedProgram:
    """A scenario's program, its output copied to a CappedOutput by a thread that ends when the output does."""

    def __init__(self, argv: list[str], log_path: Path, *, cwd: Path, env: dict[str, str] | None) -> None:
        self.output = CappedOutput(log_path)
        try:
            self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        except OSError:
            self.output.close()
            raise
        self._copier = threading.Thread(target=self.output.copy, args=(self.proc.stdout,), daemon=True,
                                        name=f"output of {log_path.name}")
        self._copier.start()

    def close_log(self, timeout_s: float = _STOP_TIMEOUT_S) -> None:
        """Once the program has ended: wait for the end of its output (at most `timeout_s`), close the log."""
        self._copier.join(timeout=timeout_s)
        self.output.close()


def _bound_ports(protocol: str) -> set[int]:
    ports = set()
    for name in (protocol, f"{protocol}6"):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            ports.add(int(line.split()[1].rsplit(":", 1)[1], 16))
    return ports


class ScenarioProcesses:
    def __init__(self, base_dir: Path, log_dir: Path, *, env: dict[str, str] | None = None) -> None:
        self.base_dir = base_dir
        self.log_dir = log_dir
        self.env = env
        self.running: dict[str, subprocess.Popen] = {}
        self._programs: list[LoggedProgram] = []

    def start_all(self, specs: tuple[ProcessSpec, ...]) -> None:
        for spec in specs:
            self.start(spec)

    def start(self, spec: ProcessSpec) -> None:
        try:
            program = LoggedProgram(list(spec.command), self.log_dir / f"process-{spec.name}.log",
                                    cwd=self.base_dir, env=self.env)
        except OSError as exc:
            raise HarnessError(f"cannot start process {spec.name} ({spec.command[0]}): {exc.strerror}") from None
        proc = program.proc
        self.running[spec.name] = proc
        self._programs.append(program)
        if spec.ready_port is None:
            return
        deadline = time.monotonic() + spec.ready_timeout_s
        while spec.ready_port not in _bound_ports(spec.ready_protocol):
            if proc.poll() is not None:
                raise HarnessError(f"process {spec.name} exited with code {proc.returncode} before it was ready "
                                   f"(see logs/process-{spec.name}.log)")
            if time.monotonic() > deadline:
                raise HarnessError(f"process {spec.name} did not bind {spec.ready_protocol} port "
                                   f"{spec.ready_port} within {spec.ready_timeout_s:g} s")
            time.sleep(0.05)

    def signal(self, name: str, signum: int) -> int:
        """Send `signum` to a process we started; its PID."""
        proc = self.running[name]
        if proc.poll() is None:
            proc.send_signal(signum)
        return proc.pid

    def pids(self) -> set[int]:
        """The PIDs of the processes we started that have not been reaped."""
        return {proc.pid for proc in self.running.values() if proc.returncode is None}

    def stop_all(self) -> None:
        stop_processes(list(self.running.values()))
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        for program in self._programs:  # the output's end, then the log's last part and its note
            program.close_log(max(0.0, deadline - time.monotonic()))


def stop_processes(procs: list[subprocess.Popen], timeout_s: float = _STOP_TIMEOUT_S) -> None:
    """SIGTERM to each process still running, then SIGKILL to those that outlast `timeout_s`."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
