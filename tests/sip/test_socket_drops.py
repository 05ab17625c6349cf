"""The kernel's drop counter of our own UDP sockets, read two ways, against packets really lost."""

from __future__ import annotations

import socket

from callproof.sip.socket_drops import SocketDrops, descriptor_drops, descriptor_port, udp_sockets

SENT = 400


def overflow(receiver: socket.socket) -> int:
    """Send SENT datagrams to `receiver` without reading; read them back. The ground truth: sent - received."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for i in range(SENT):
            sender.sendto(i.to_bytes(4, "big") * 40, receiver.getsockname())  # loopback delivers at once
    receiver.setblocking(False)
    received = 0
    try:
        while True:
            receiver.recv(2048)
            received += 1
    except BlockingIOError:
        pass
    return SENT - received


def small_socket(family=socket.AF_INET, address="127.0.0.1") -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel doubles it: a few dozen datagrams
    sock.bind((address, 0))
    return sock


def test_proc_net_udp_and_so_meminfo_count_exactly_the_datagrams_lost():
    with small_socket() as receiver:
        lost = overflow(receiver)
        assert 0 < lost < SENT
        inode = __import__("os").fstat(receiver.fileno()).st_ino
        rows = udp_sockets({inode})
        assert [(r.port, r.drops) for r in rows] == [(receiver.getsockname()[1], lost)]
        assert descriptor_drops(receiver.fileno()) == lost
        assert descriptor_port(receiver.fileno()) == receiver.getsockname()[1]


def test_ipv6_sockets_are_read_from_udp6():
    try:
        receiver = small_socket(socket.AF_INET6, "::1")
    except OSError:
        import pytest

        pytest.skip("no IPv6 loopback here")
    with receiver, socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sender:
        for _ in range(SENT):
            sender.sendto(b"x" * 160, receiver.getsockname()[:2])
        receiver.setblocking(False)
        received = 0
        try:
            while True:
                receiver.recv(2048)
                received += 1
        except BlockingIOError:
            pass
        inode = __import__("os").fstat(receiver.fileno()).st_ino
        assert [r.drops for r in udp_sockets({inode})] == [SENT - received] and SENT - received > 0


def test_drops_are_kept_after_a_socket_closes_and_told_apart_by_port():
    with small_socket() as sip:
        watch = SocketDrops(sip_ports={sip.getsockname()[1]})
        before = watch.sample()
        media = small_socket()
        media_port = media.getsockname()[1]
        media_lost = overflow(media)
        sip_lost = overflow(sip)
        assert watch.final(media_port) == media_lost  # exact, read before the socket closes
        media.close()
        after = watch.sample()
        assert after["media"] - before["media"] == media_lost  # the closed socket keeps its count
        assert after["sip"] - before["sip"] == sip_lost
        assert watch.final(media_port) is None  # nothing open there any more
