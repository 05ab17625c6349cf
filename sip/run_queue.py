"""How long this process's threads waited for a CPU: the share of the machine's load that reached us.

The kernel counts, per thread, the time it was runnable but waiting on a run queue
(/proc/self/task/TID/schedstat, second field, nanoseconds; CONFIG_SCHED_INFO, on in
Debian's kernels). A busy machine whose other programs never made our threads wait did
not touch our timing; one that made the media clock thread or the SIP pump wait did.
`worst_wait_pct` is the largest share of an interval that any one thread of ours spent
waiting: a single starved thread (the 20 ms media clock) is what spoils timing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_TASKS = Path("/proc/self/task")


def thread_waits(tasks: Path = _TASKS) -> dict[int, int] | None:
    """Run-queue wait (ns) of every thread of this process since it started; None where the kernel has none."""
    waits = {}
    try:
        tids = os.listdir(tasks)
    except OSError:
        return None
    for tid in tids:
        try:
            fields = (tasks / tid / "schedstat").read_text().split()
        except OSError:
            continue  # the thread ended meanwhile
        if len(fields) >= 2:
            waits[int(tid)] = int(fields[1])
    return waits or None


class RunQueueWait:
    """The most any thread of this process waited for a CPU between two `sample()` calls, in %."""

    def __init__(self, tasks: Path = _TASKS) -> None:
        self._tasks = tasks
        self._last = thread_waits(tasks)
        self._at = time.monotonic()

    def sample(self) -> float | None:
        waits, at = thread_waits(self._tasks), time.monotonic()
        worst = None
        if waits is not None and self._last is not None and at > self._at:
            # Threads born since the last sample count from 0; threads that ended are gone.
            worst_ns = max((ns - self._last.get(tid, 0) for tid, ns in waits.items()), default=0)
            worst = round(min(100.0, 100.0 * worst_ns / 1e9 / (at - self._at)), 1)
        self._last, self._at = waits, at
        return worst
