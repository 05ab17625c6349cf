"""A UDP relay in the media path of a call that loses a seeded share of packets.

Both parties announce the relay's address in their SDP (EngineSettings.rtp_public_address)
while their sockets stay on 127.0.0.1 with the same port numbers. A packet for party X
arrives at the relay's socket of X's port and leaves from the socket of the sender's
port, so each party sees its peer's announced address and keeps sending there
(pjmedia follows the source address of what it receives). RTP towards the `lossy`
party is dropped with probability `loss` from `random.Random(seed)`: the ground truth
of the lossy path. RTCP (port + 1) passes untouched.
"""

from __future__ import annotations

import random
import select
import socket
import threading

REAL_IP = "127.0.0.1"


class LossyRelay:
    def __init__(self, *, relay_ip: str, ports: tuple[int, int], lossy: int, loss: float, seed: int) -> None:
        """`ports`: the two parties' RTP ports; `lossy`: the one whose incoming RTP loses packets."""
        self.loss = loss
        self.lossy = lossy
        self._random = random.Random(seed)
        self.forwarded = 0
        self.dropped = 0
        self._by_port: dict[int, socket.socket] = {}
        for port in ports:
            for offset in (0, 1):  # RTP, RTCP
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.bind((relay_ip, port + offset))
                self._by_port[port + offset] = sock
        self._port_of = {sock: port for port, sock in self._by_port.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lossy-relay", daemon=True)

    def __enter__(self) -> "LossyRelay":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for sock in self._by_port.values():
            sock.close()

    def _run(self) -> None:
        sockets = list(self._by_port.values())
        while not self._stop.is_set():
            ready, _, _ = select.select(sockets, [], [], 0.1)
            for sock in ready:
                data, (_, sender_port) = sock.recvfrom(65535)
                to_port = self._port_of[sock]
                outgoing = self._by_port.get(sender_port)
                if outgoing is None:
                    continue  # not one of the two parties
                if to_port == self.lossy:  # RTP towards the lossy party
                    if self._random.random() < self.loss:
                        self.dropped += 1
                        continue
                    self.forwarded += 1
                outgoing.sendto(data, (REAL_IP, to_port))
