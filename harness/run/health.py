"""The generator watching itself: CPU of its processes, the whole machine's, lag of its event loop.

CPU is user + system time (psutil) of this process and every SIP engine
process, as a share of one core over each interval (so 2 cores fully busy is
200%); the whole machine's busy share and CPU pressure sit beside it
(callproof.harness.run.machine), and how long this process's threads waited for
a CPU (callproof.sip.run_queue; the engines report their own). Loop lag is how
late a 100 ms gevent sleep wakes up: the delay every greenlet of this process
(users, probes, timers) suffers. A stalled loop takes no sample: the sample
after it carries the whole stall, both as its loop lag and as its `interval_s`
(the time it covers, normally 1 s).
"""

from __future__ import annotations

import os
import time
from typing import Iterable

import gevent
import psutil

from callproof.harness.run.machine import MachineCpu
from callproof.sip.run_queue import RunQueueWait

_LAG_PROBE_S = 0.1


def cpu_seconds(pid: int) -> float | None:
    """CPU time the process has used so far (user + system, its children not included); None once it is gone."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return times.user + times.system


class HealthSampler:
    def __init__(self) -> None:
        self.cores = os.cpu_count() or 1
        self.restart()
        self._lag = gevent.spawn(self._measure_lag)

    def restart(self, pids: Iterable[int] = ()) -> None:
        """Start the measured window now: what came before (starting engine processes) is left out."""
        self._last_cpu = {pid: seconds for pid in pids if (seconds := cpu_seconds(pid)) is not None}
        self._last_at = time.monotonic()
        self._lag_ms_max = 0.0
        self._machine = MachineCpu()
        self._waits = RunQueueWait()

    def _measure_lag(self) -> None:
        while True:
            before = time.monotonic()
            gevent.sleep(_LAG_PROBE_S)
            late_ms = (time.monotonic() - before - _LAG_PROBE_S) * 1000.0
            self._lag_ms_max = max(self._lag_ms_max, late_ms)

    def sample(self, pids: Iterable[int]) -> dict[str, float | None]:
        """CPU % (of one core) of `pids` since the last sample, the machine's, and the loop's worst lag."""
        now = time.monotonic()
        interval = max(now - self._last_at, 1e-6)
        used = 0.0
        current: dict[int, float] = {}
        for pid in pids:
            seconds = cpu_seconds(pid)
            if seconds is None:
                continue
            current[pid] = seconds
            used += seconds - self._last_cpu.get(pid, seconds)
        self._last_cpu, self._last_at = current, now
        lag, self._lag_ms_max = self._lag_ms_max, 0.0
        return {"cpu_pct": round(100.0 * used / interval, 1), "cpu_cores": self.cores,
                **self._machine.sample(), "cpu_wait_pct_max": self._waits.sample(),
                "loop_lag_ms_max": round(lag, 3), "interval_s": round(interval, 3)}

    def stop(self) -> None:
        self._lag.kill()
