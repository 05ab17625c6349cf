"""Packets the kernel dropped on this process's own UDP sockets: the generator's own loss.

A datagram that arrives at a UDP socket whose receive buffer is full is dropped and
counted on that socket (the kernel's sk_drops). Such a packet reached this machine and
was lost by us: not by the network, not by the target. The counter is per socket, and
the kernel shows it two ways:

- the `drops` column of /proc/net/udp and /proc/net/udp6 (`udp_sockets`), one row per
  socket of the whole network namespace, matched to a process by inode;
- getsockopt(SO_MEMINFO)[SK_MEMINFO_DROPS] on the socket's own descriptor.

An engine process reads the second, once a second for every socket it has open
(`SocketDrops.sample`), and for a call's RTP and RTCP sockets when pjsua destroys the
call's stream, just before it closes them (`SocketDrops.final`), so a call's drops are
exact to its last packet. The table is the oracle in the tests, not the hot path: it
lists every socket of the machine, and 50 wheel processes each reading 534 rows once a
second cost about 4 ms each (measured here), a fifth of a core; SO_MEMINFO on a
process's own descriptors costs a few microseconds per socket.

A socket closed between two samples keeps the last count seen (its final count, for a
call's media sockets). Sockets are told apart by their local port: the SIP transports'
ports are "sip", every other UDP socket of an engine process is a call's RTP or RTCP
("media").
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import socket
import stat
from pathlib import Path

SO_MEMINFO = 55  # linux/asm-generic/socket.h; not in Python's socket module
SK_MEMINFO_DROPS = 8  # index in the u32 array SO_MEMINFO fills (linux/sock_diag.h)
SK_MEMINFO_VARS = 9
_TABLES = (Path("/proc/net/udp"), Path("/proc/net/udp6"))
_FD_DIR = "/proc/self/fd"
_libc = ctypes.CDLL(None, use_errno=True)


@dataclasses.dataclass(frozen=True)
class UdpSocket:
    inode: int
    port: int
    drops: int


def own_socket_inodes(fd_dir: str = _FD_DIR) -> dict[int, int]:
    """inode -> descriptor of every socket this process has open (fstat: a third of readlink's cost)."""
    found: dict[int, int] = {}
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return found
    for name in names:
        try:
            status = os.fstat(int(name))
        except OSError:
            continue  # closed meanwhile (or the listing's own descriptor)
        if stat.S_ISSOCK(status.st_mode):
            found[status.st_ino] = int(name)
    return found


def udp_sockets(inodes: set[int] | dict[int, int], tables: tuple[Path, ...] = _TABLES) -> list[UdpSocket]:
    """The rows of /proc/net/udp and udp6 whose inode is one of `inodes` (IPv4 and IPv6)."""
    rows = []
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue  # no IPv6 in this kernel
        for line in lines:
            fields = line.split()
            # sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
            if len(fields) < 13 or int(fields[9]) not in inodes:
                continue
            rows.append(UdpSocket(inode=int(fields[9]), port=int(fields[1].rsplit(":", 1)[1], 16),
                                  drops=int(fields[12])))
    return rows


def descriptor_drops(fd: int) -> int | None:
    """sk_drops of the socket open on descriptor `fd` (SO_MEMINFO), or None when it is not a socket."""
    values = (ctypes.c_uint32 * SK_MEMINFO_VARS)()
    size = ctypes.c_uint32(ctypes.sizeof(values))
    if _libc.getsockopt(fd, socket.SOL_SOCKET, SO_MEMINFO, values, ctypes.byref(size)) != 0:
        return None
    return int(values[SK_MEMINFO_DROPS])


def descriptor_port(fd: int) -> int | None:
    """The local port of the UDP (IPv4 or IPv6) socket on descriptor `fd`, or None."""
    kind = ctypes.c_int(0)
    size = ctypes.c_uint32(ctypes.sizeof(kind))
    if (_libc.getsockopt(fd, socket.SOL_SOCKET, socket.SO_TYPE, ctypes.byref(kind), ctypes.byref(size)) != 0
            or kind.value != socket.SOCK_DGRAM):
        return None
    address = ctypes.create_string_buffer(128)
    size = ctypes.c_uint32(128)
    if _libc.getsockname(fd, address, ctypes.byref(size)) != 0:
        return None
    family = int.from_bytes(address.raw[0:2], "little")  # sa_family_t, host order (x86, arm: little)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return None
    return int.from_bytes(address.raw[2:4], "big")  # sin_port / sin6_port, network order


class SocketDrops:
    """Drops on this process's UDP sockets, cumulative since it started, SIP and media apart."""

    def __init__(self, sip_ports: set[int] | None = None) -> None:
        self.sip_ports = set(sip_ports or ())
        self._live: dict[int, tuple[int, int]] = {}  # inode -> (port, drops): last count seen
        self._closed = {"sip": 0, "media": 0}  # last counts of sockets closed since
        self._fds: dict[int, int] = {}  # port -> descriptor of a live socket
        self._other: set[int] = set()  # inodes of our sockets that are not UDP over IP
        self.sockets = 0  # UDP sockets open at the last sample

    def sample(self) -> dict[str, int]:
        """Read every socket of the process; {"sip": drops, "media": drops}, cumulative."""
        descriptors = own_socket_inodes()
        for inode in set(self._live) - set(descriptors):
            closed_port, closed_drops = self._live.pop(inode)
            self._closed[self._kind(closed_port)] += closed_drops
        self._other &= set(descriptors)
        self._fds = {}
        for inode, fd in descriptors.items():
            if inode in self._other:
                continue
            port = self._live[inode][0] if inode in self._live else descriptor_port(fd)
            drops = None if port is None else descriptor_drops(fd)
            if port is None or drops is None:
                self._other.add(inode)
                continue
            self._live[inode] = (port, max(drops, self._live.get(inode, (port, 0))[1]))
            self._fds[port] = fd
        self.sockets = len(self._fds)
        return self.totals()

    def totals(self) -> dict[str, int]:
        out = dict(self._closed)
        for port, drops in self._live.values():
            out[self._kind(port)] += drops
        return out

    def _kind(self, port: int) -> str:
        return "sip" if port in self.sip_ports else "media"

    def final(self, port: int) -> int | None:
        """Drops on the live socket bound to `port`, read now (exact); None when no such socket is open."""
        fd = self._fds.get(port)
        if fd is None or descriptor_port(fd) != port:
            fd = self._find(port)
            if fd is None:
                return None
        drops = descriptor_drops(fd)
        if drops is None:
            return None
        inode = os.fstat(fd).st_ino
        _, seen = self._live.get(inode, (port, 0))
        self._live[inode] = (port, max(seen, drops))
        return drops

    def _find(self, port: int) -> int | None:
        """The descriptor of our socket on `port` (a socket opened since the last sample)."""
        for fd in own_socket_inodes().values():
            if descriptor_port(fd) == port:
                self._fds[port] = fd
                return fd
        return None
