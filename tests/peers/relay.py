"""A UDP relay in the media path of a call that loses a seeded share of packets.

Both parties announce the relay's address in their SDP (EngineSettings.rtp_public_address)
while their sockets stay on 127.0.0.1 with the same port numbers. A packet for party X
arrives at the relay's socket of X's port and leaves from the socket of the sender's
port, so each party sees its peer's announced address and keeps sending there
(pjmedia follows the source address of what it receives). RTP towards the `lossy`
party is dropped with probability `loss` from `random.Random(seed)`: the ground truth
of the lossy path. RTCP (port + 1) passes untouched.

With a `SourceSwitch`, the RTP towards the lossy party changes source mid-call the way a
PBX's native bridge switches a caller from its own stream (prompt, hold music) to the
agent's: from a chosen packet on it carries another SSRC, its sequence numbers and
timestamps shifted by chosen offsets (RFC 3550 8.2: a new source, its own random
sequence space).
"""

from __future__ import annotations

import dataclasses
import random
import select
import socket
import struct
import threading

REAL_IP = "127.0.0.1"
_RTP_HEADER = struct.Struct("!HHII")  # V/P/X/CC/M/PT, sequence number, timestamp, SSRC (RFC 3550 5.1)


@dataclasses.dataclass(frozen=True)
class SourceSwitch:
    """From the `after`-th RTP packet towards the lossy party (counting from 0) on, rewrite it as another source."""

    after: int
    ssrc: int
    seq_offset: int  # added to the sequence number (mod 2**16)
    ts_offset: int  # added to the RTP timestamp (mod 2**32)


class LossyRelay:
    def __init__(self, *, relay_ip: str, ports: tuple[int, int], lossy: int, loss: float, seed: int,
                 switch: SourceSwitch | None = None, rtp_limit: int | None = None) -> None:
        """`ports`: the two parties' RTP ports; `lossy`: the one whose incoming RTP loses packets.

        `rtp_limit`: pass only that many RTP packets towards the lossy party (the rest are held back,
        not counted as dropped), so every packet the relay dropped is followed by one that arrived
        long before the call ends: the receiver can count each drop (RFC 3550 A.3 counts a gap only
        once a later packet shows it).
        """
        self.loss = loss
        self.lossy = lossy
        self.switch = switch
        self.rtp_limit = rtp_limit
        self._random = random.Random(seed)
        self.seen = 0  # RTP packets towards the lossy party, before the limit
        self.forwarded = 0
        self.dropped = 0
        self.old_ssrc: int | None = None  # the SSRC the sender used (before the switch)
        self._fates: dict[str, list[bool]] = {"before": [], "after": []}  # dropped?, per packet, by side of the switch
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

    def lost(self, side: str) -> int:
        """Drops `side` ("before" or "after" the switch) that its receiver can count (RFC 3550 A.3): those
        between the source's first and last forwarded packet (expected runs from the first to the highest
        sequence number received)."""
        fates = self._fates[side]
        forwarded = [i for i, dropped in enumerate(fates) if not dropped]
        return sum(fates[forwarded[0]:forwarded[-1]]) if forwarded else 0

    def dropped_on(self, side: str) -> int:
        return sum(self._fates[side])

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
                    data = self._towards_lossy(data)
                    if data is None:
                        continue
                outgoing.sendto(data, (REAL_IP, to_port))

    def _towards_lossy(self, data: bytes) -> bytes | None:
        """The packet as the lossy party gets it, or None when it is dropped or held back."""
        if self.rtp_limit is not None and self.seen >= self.rtp_limit:
            return None
        index = self.seen
        self.seen += 1
        switched = self.switch is not None and index >= self.switch.after
        dropped = self._random.random() < self.loss
        self._fates["after" if switched else "before"].append(dropped)
        if dropped:
            self.dropped += 1
            return None
        self.forwarded += 1
        if self.switch is None or len(data) < _RTP_HEADER.size:
            return data
        flags, seq, timestamp, ssrc = _RTP_HEADER.unpack_from(data)
        if not switched:
            self.old_ssrc = ssrc
            return data
        header = _RTP_HEADER.pack(flags, (seq + self.switch.seq_offset) & 0xFFFF,
                                  (timestamp + self.switch.ts_offset) & 0xFFFFFFFF, self.switch.ssrc)
        return header + data[_RTP_HEADER.size:]
