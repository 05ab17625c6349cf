"""Media port ranges that no other engine process on this machine holds.

pjsua binds a call's RTP and RTCP sockets on a port pair inside its process's range
(EngineSettings.rtp_port, rtp_port_range): it starts at the range's first port, moves
up by 2 after each call, skips a pair it cannot bind, and after 100 failed pairs the
call fails at once with `Address already in use` (pjsua_media.c, create_rtp_rtcp_sock,
in 2.12.1 and 2.15.1). Its upper bound is inclusive: a process given (P, R) may bind
P + R and P + R + 1, the first pair of the next range.

Seen here (issue 13): two callproof runs at once on one machine (two test sessions; a
master and its workers on one host) each laid their ranges out from the same first
port, and a wheel process's 9 pairs fell inside a range where the other run's built
engine held every port: 55 of 355 calls were refused before any INVITE. Within one
run the layout never overlapped; between runs nothing kept them apart.

So a range is claimed, machine-wide, before a process is given it:
- an exclusive open-file-description lock (Linux F_OFD_SETLK) on the range's bytes of
  one lock file that every callproof process shares (byte n stands for port n); the
  kernel drops it when the run's process exits, however it exits;
- every port of the range is free when it is claimed (a test bind on the engines'
  address), so ports another program holds (a PBX, SIPp's -mp, a test's relay) are
  skipped;
- ranges stay out of the kernel's ephemeral ports (net.ipv4.ip_local_port_range),
  where SIP transports bound to port 0 and every outgoing connection land;
- pjsua is given the claimed width minus 2 (`pjsua_range`), so its inclusive bound
  stays inside the claim;
- a run starts looking at a random place in the span and wraps around: ports another
  run has just given back (whose peers may still be sending to them for a moment) are
  the last to be taken again. Seen here: a stream another run left behind reached one of
  our agents, and pjmedia, which follows the source of what it receives, answered it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import random
import socket
import struct
import tempfile
from pathlib import Path

from callproof.harness.errors import HarnessError

RTP_BASE = 16384
RTP_LIMIT = 32768
LOCK_PATH = Path(tempfile.gettempdir()) / "callproof-rtp-ports.lock"
_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
# struct flock on Linux (64-bit off_t): l_type, l_whence, l_start, l_len, l_pid, padding.
_FLOCK = struct.Struct("hhqqi4x")


def pjsua_range(width: int) -> int:
    """The port_range to give pjsua for a claimed range of `width` ports: its last pair stays inside."""
    return width - 2


def ephemeral_ports(path: Path = _EPHEMERAL) -> range | None:
    """The kernel's ephemeral ports (bind to port 0, outgoing connections), or None when unknown."""
    try:
        low, high = (int(v) for v in path.read_text().split())
    except (OSError, ValueError):
        return None
    return range(low, high + 1)


def usable_span(low: int, high: int, ephemeral: range | None) -> range:
    """The largest part of [low, high) outside the ephemeral ports (all of it when they do not overlap)."""
    if ephemeral is None or ephemeral.stop <= low or ephemeral.start >= high:
        return range(low, high)
    below = range(low, max(low, ephemeral.start))
    above = range(min(high, ephemeral.stop), high)
    return max(below, above, key=len)


def merged(ranges: list[range]) -> list[range]:
    """Ranges sorted, adjacent and overlapping ones joined."""
    out: list[range] = []
    for r in sorted(ranges, key=lambda r: r.start):
        if out and r.start <= out[-1].stop:
            out[-1] = range(out[-1].start, max(out[-1].stop, r.stop))
        else:
            out.append(r)
    return out


class PortRegistry:
    """Claims even-aligned port ranges for one run's engine processes; `close()` gives them back."""

    def __init__(self, bind_ip: str, *, lock_path: Path | None = LOCK_PATH, span: range | None = None,
                 first: int | None = None) -> None:
        """`span`: the ports to claim from (by default RTP_BASE-RTP_LIMIT outside the ephemeral ports);
        `first`: where to start looking (by default a random place in the span); `lock_path` None:
        no machine-wide lock, test binds only."""
        self.bind_ip = bind_ip
        self.span = span if span is not None else usable_span(RTP_BASE, RTP_LIMIT, ephemeral_ports())
        self.claimed: list[range] = []
        if first is None:
            first = random.randrange(self.span.start, max(self.span.start + 1, self.span.stop))
        self._next = first + first % 2
        self._family = socket.AF_INET6 if ":" in bind_ip else socket.AF_INET
        self._lock_fd = _open_lock(lock_path)

    def claim(self, width: int) -> range:
        """The first free range of `width` ports (even) after the last claim, wrapping around the span
        once; HarnessError when there is none."""
        width += width % 2
        for start in (self._next, self.span.start + self.span.start % 2):
            while start + width <= self.span.stop:
                busy = self._ours(start, width)
                if busy is None:
                    busy = self._locked_by_another(start, width)
                if busy is None:
                    busy = self._bound_port(range(start, start + width))
                    if busy is not None and self._lock_fd is not None:
                        self._lock(start, width, fcntl.F_UNLCK)
                if busy is None:
                    self.claimed.append(range(start, start + width))
                    self._next = start + width
                    return self.claimed[-1]
                start = busy + 1 + (busy + 1) % 2
        raise HarnessError(
            f"no free range of {width} media ports is left in {self.span.start}-{self.span.stop - 1} on "
            f"{self.bind_ip} (other callproof runs or programs hold the rest); use fewer SIP engine processes "
            "(a built engine holds more calls per process: callproof engine build)")

    def close(self) -> None:
        """Give every claimed range back (the kernel also does when the process exits)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _ours(self, start: int, width: int) -> int | None:
        """The last port of a range we claimed ourselves that overlaps this one (our own locks never
        conflict with each other), or None."""
        for claimed in self.claimed:
            if claimed.start < start + width and start < claimed.stop:
                return claimed.stop - 1
        return None

    # -- the lock file -------------------------------------------------------------

    def _lock(self, start: int, width: int, kind: int, command: int = fcntl.F_OFD_SETLK) -> bytes:
        request = _FLOCK.pack(kind, os.SEEK_SET, start, width, 0)
        assert self._lock_fd is not None, "locks are taken and read while the lock file is open"
        return fcntl.fcntl(self._lock_fd, command, request)

    def _locked_by_another(self, start: int, width: int) -> int | None:
        """None once the range is locked for us; else the last port of a range another process holds."""
        if self._lock_fd is None:
            return None
        try:
            self._lock(start, width, fcntl.F_WRLCK)
            return None
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        kind, _, held_start, held_len, _ = _FLOCK.unpack(self._lock(start, width, fcntl.F_WRLCK, fcntl.F_OFD_GETLK))
        if kind == fcntl.F_UNLCK:  # released meanwhile: try this start again
            return start - 1
        end = self.span.stop if held_len == 0 else held_start + held_len
        return max(start, end - 1)

    # -- other programs ---------------------------------------------------------------

    def _bound_port(self, ports: range) -> int | None:
        """The highest port in `ports` that something on this machine has bound on our address, or None."""
        busy = None
        for port in ports:
            with socket.socket(self._family, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind((self.bind_ip, port))
                except OSError:
                    busy = port
        return busy


def _open_lock(path: Path | None) -> int | None:
    """The shared lock file, opened for writing (never through a symlink); None when we may not."""
    if path is None:
        return None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError:
        return None  # another user's file: ranges are still test-bound, only not locked
    try:
        if os.fstat(fd).st_uid == os.geteuid():
            os.fchmod(fd, 0o666)  # every user's runs share it, whatever our umask
    except OSError:
        pass
    return fd
