"""Ports on 127.0.0.1 for test peers, and waiting for a socket to be bound."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.waiting import wait_until


def free_port(kind: int = socket.SOCK_DGRAM, *, pair: bool = False) -> int:
    """A port free on 127.0.0.1 (with `pair`, the port + 2 is free too: SIPp's echo binds mp+2)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if pair and (port % 2 or port > 60000):
            continue
        if not pair or _is_free(port + 2, kind):
            return port
    raise RuntimeError("no free port pair on 127.0.0.1")


def _is_free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _bound_ports(proto: str) -> set[int]:
    ports = set()
    for line in Path(f"/proc/net/{proto}").read_text().splitlines()[1:]:
        local = line.split()[1]
        ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def wait_bound(port: int, proto: str = "udp", timeout_s: float = 10.0) -> None:
    """Wait until something on this machine has bound `port` (udp or tcp)."""
    wait_until(lambda: port in _bound_ports(proto), timeout_s, what=f"{proto} port {port} bound")
