"""The whole machine's CPU, beside our own processes': every program's busy time, and CPU pressure.

busy      /proc/stat's `cpu` line (proc(5)): the share of all cores' time over the interval
          that was neither idle nor waiting for I/O, summed over every process, steal
          included (a virtual machine's CPU the host gave to someone else is CPU we did not
          get). 100% is every core busy.
pressure  /proc/pressure/cpu `some total=` (Linux PSI, 4.20+): the microseconds in which at
          least one runnable task waited for a CPU, as a share of the interval. None where
          the kernel has no PSI (CONFIG_PSI off, or psi=0 on its command line).

Our own processes' CPU comes from callproof.harness.run.health; the difference is the
other programs' load.
"""

from __future__ import annotations

import time
from pathlib import Path

_STAT = Path("/proc/stat")
_PRESSURE = Path("/proc/pressure/cpu")


def cpu_times(path: Path = _STAT) -> tuple[int, int] | None:
    """(busy, total) clock ticks of all cores since boot; guest time is already inside user and nice."""
    try:
        first = path.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not first or first[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice]
    ticks = [int(v) for v in first[1:9]]
    total = sum(ticks)
    return total - ticks[3] - ticks[4], total


def pressure_us(path: Path = _PRESSURE) -> int | None:
    """Microseconds since boot in which some runnable task waited for a CPU (PSI `some total`)."""
    try:
        line = path.read_text().split("\n", 1)[0]
    except OSError:
        return None
    for field in line.split():
        if field.startswith("total="):
            return int(field[6:])
    return None


class MachineCpu:
    """Busy share and CPU pressure of the whole machine between two `sample()` calls."""

    def __init__(self) -> None:
        self._times = cpu_times()
        self._pressure = pressure_us()
        self._at = time.monotonic()

    def sample(self) -> dict[str, float | None]:
        times, pressure, at = cpu_times(), pressure_us(), time.monotonic()
        busy = None
        if times is not None and self._times is not None and times[1] > self._times[1]:
            busy = round(100.0 * (times[0] - self._times[0]) / (times[1] - self._times[1]), 1)
        waited = None
        if pressure is not None and self._pressure is not None and at > self._at:
            waited = round(min(100.0, (pressure - self._pressure) / 1e4 / (at - self._at)), 1)
        self._times, self._pressure, self._at = times, pressure, at
        return {"machine_busy_pct": busy, "cpu_pressure_pct": waited}
