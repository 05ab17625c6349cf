"""Competing CPU load that a test starts itself: busy processes, bounded in time, stopped by PID."""

from __future__ import annotations

import os
import subprocess
import sys

from callproof.harness.run.processes import stop_processes

_SPIN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


class CpuHogs:
    """`count` processes that keep a core busy for `seconds` (then end by themselves), at `nice`.

    A nice below 0 (a higher priority than ours) needs CAP_SYS_NICE: `start` raises
    PermissionError without it.
    """

    def __init__(self, count: int, *, nice: int = 0, seconds: float) -> None:
        self.count = count
        self.nice = nice
        self.seconds = seconds
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> "CpuHogs":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        if self.nice < 0 and os.geteuid() != 0:
            raise PermissionError("a higher priority than ours (nice < 0) needs root")
        increment = self.nice - os.nice(0)
        for _ in range(self.count):
            self.procs.append(subprocess.Popen(
                [sys.executable, "-c", _SPIN.format(seconds=self.seconds)], stdin=subprocess.DEVNULL,
                preexec_fn=(lambda: os.nice(increment)) if increment else None))

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        stop_processes(self.procs)
