"""Packets the kernel dropped on this process's own UDP sockets: the generator's own loss.

A datagram that arrives at a UDP socket whose receive buffer is full is dropped and
counted on that socket (the kernel's sk_drops). Such a packet reached this machine and
was lost by us: not by the network, not by the target. The count is per socket, read
two ways that show the same counter:

- the `drops` column of /proc/net/udp and /proc/net/udp6, one row per socket of the
  network namespace, matched to this process by inode (the sockets in /proc/self/fd):
  read once a second for every socket of the process (`SocketDrops.sample`);
- getsockopt(SO_MEMINFO)[SK_MEMINFO_DROPS] on the socket's descriptor: read for a
  call's RTP and RTCP sockets when pjsua destroys the call's stream, just before it
  closes them (`SocketDrops.final`), so a call's own drops are exact to its last packet.

A socket closed between two samples keeps the last count seen (its final count, for a
call's media sockets). Sockets are told apart by their local port: the SIP transports'
ports are "sip", every other socket of an engine process is a call's RTP or RTCP ("media").
"""

from __future__ import annotations

import array
import dataclasses
import os
import socket
import stat
from pathlib import Path

SO_MEMINFO = 55  # linux/asm-generic/socket.h; not in Python's socket module
SK_MEMINFO_DROPS = 8  # index in the u32 array SO_MEMINFO fills (linux/sock_diag.h)
SK_MEMINFO_VARS = 9
_TABLES = (Path("/proc/net/udp"), Path("/proc/net/udp6"))
_FD_DIR = Path("/proc/self/fd")


@dataclasses.dataclass(frozen=True)
class UdpSocket:
    inode: int
    port: int
    drops: int


def own_socket_inodes(fd_dir: Path = _FD_DIR) -> dict[int, int]:
    """inode -> descriptor of every socket this process has open."""
    found = {}
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return found
    for name in names:
        try:
            target = os.readlink(fd_dir / name)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            found[int(target[8:-1])] = int(name)
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
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 4 * SK_MEMINFO_VARS)
    except OSError:
        return None
    finally:
        sock.detach()  # the descriptor belongs to pjsua: never close it
    return array.array("I", raw)[SK_MEMINFO_DROPS]


def descriptor_port(fd: int) -> int | None:
    """The local port of the UDP socket on descriptor `fd`, or None."""
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            return None
        sock = socket.socket(fileno=fd)
    except OSError:
        return None
    try:
        if sock.type != socket.SOCK_DGRAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
            return None
        return sock.getsockname()[1]
    except OSError:
        return None
    finally:
        sock.detach()


class SocketDrops:
    """Drops on this process's UDP sockets, cumulative since it started, SIP and media apart."""

    def __init__(self, sip_ports: set[int] | None = None) -> None:
        self.sip_ports = set(sip_ports or ())
        self._live: dict[int, tuple[int, int]] = {}  # inode -> (port, drops): last count seen
        self._closed = {"sip": 0, "media": 0}  # last counts of sockets closed since
        self._fds: dict[int, int] = {}  # port -> descriptor of a live socket
        self.sockets = 0  # UDP sockets open at the last sample

    def sample(self) -> dict[str, int]:
        """Read every socket of the process; {"sip": drops, "media": drops}, cumulative."""
        descriptors = own_socket_inodes()
        rows = {row.inode: row for row in udp_sockets(descriptors)}
        for inode in set(self._live) - set(rows):
            port, drops = self._live.pop(inode)
            self._closed[self._kind(port)] += drops
        self._fds = {}
        for row in rows.values():
            _, drops = self._live.get(row.inode, (row.port, 0))
            self._live[row.inode] = (row.port, max(drops, row.drops))
            self._fds[row.port] = descriptors[row.inode]
        self.sockets = len(rows)
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
