"""Processes a scenario starts itself (proxies, backends), and stops by PID.

Each starts from the scenario's folder with stdin on /dev/null, its output in
the run's logs/ folder, and dies with us (PR_SET_PDEATHSIG). A process with a
`ready_port` counts as started once something has bound that port.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import time
from pathlib import Path

from callproof.harness.errors import HarnessError
from callproof.harness.scenario.model import ProcessSpec

_PR_SET_PDEATHSIG = 1
_STOP_TIMEOUT_S = 10.0


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


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
    def __init__(self, base_dir: Path, log_dir: Path) -> None:
        self.base_dir = base_dir
        self.log_dir = log_dir
        self.running: dict[str, subprocess.Popen] = {}

    def start_all(self, specs: tuple[ProcessSpec, ...]) -> None:
        for spec in specs:
            self.start(spec)

    def start(self, spec: ProcessSpec) -> None:
        log = open(self.log_dir / f"process-{spec.name}.log", "wb")
        try:
            proc = subprocess.Popen(list(spec.command), cwd=self.base_dir, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        except OSError as exc:
            raise HarnessError(f"cannot start process {spec.name} ({spec.command[0]}): {exc.strerror}") from None
        finally:
            log.close()
        self.running[spec.name] = proc
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

    def stop_all(self) -> None:
        stop_processes(list(self.running.values()))


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
