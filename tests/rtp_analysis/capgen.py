"""Test captures written byte by byte, with the ground truth of what was injected.

Packets are built here from the protocol layouts (Ethernet, 802.1Q, Linux SLL/SLL2,
null loopback, IPv4/IPv6, UDP, RTP), independently of the reader under test.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import struct

import numpy as np

from tests.rtp_analysis.rtp_header import RtpHeader

ETHERNET, NULL, RAW, SLL, SLL2 = 1, 0, 101, 113, 276


@dataclasses.dataclass(frozen=True)
class Datagram:
    time_s: float
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes


@dataclasses.dataclass(frozen=True)
class Truth:
    """What a generated stream really holds, per RFC 3550 A.3 definitions."""

    sent: int
    lost: int  # sequence numbers never delivered
    duplicates: int
    reordered: int

    @property
    def lost_rfc3550(self) -> int:
        return self.lost - self.duplicates


def rtp_stream(
    *,
    src: str,
    sport: int,
    dst: str,
    dport: int,
    ssrc: int,
    count: int,
    payload_type: int = 0,
    first_seq: int = 1000,
    first_ts: int = 160_000,
    ts_step: int = 160,
    ptime_s: float = 0.020,
    start_s: float = 0.0,
    drop: frozenset[int] = frozenset(),
    duplicate: frozenset[int] = frozenset(),
    swap_after: frozenset[int] = frozenset(),
    jitter_ms: np.ndarray | None = None,
    payload_bytes: int = 160,
) -> tuple[list[Datagram], Truth]:
    """Packet k has seq first_seq+k and is due at start_s + k*ptime_s (+ jitter_ms[k]).

    drop: indices never sent; duplicate: indices sent twice (the copy right after);
    swap_after: index k is delivered after index k+1 (a one-place reorder).
    """
    order = [k for k in range(count) if k not in drop]
    for k in sorted(swap_after):
        i = order.index(k)
        order[i], order[i + 1] = order[i + 1], order[i]
    out: list[Datagram] = []
    previous_time = -1.0
    for k in order:
        due = start_s + k * ptime_s + (float(jitter_ms[k]) / 1000 if jitter_ms is not None else 0.0)
        # Delivery order is capture order: a swapped packet arrives just after its successor.
        at = max(due, previous_time + 0.0001)
        header = RtpHeader(payload_type, (first_seq + k) % 65536, (first_ts + k * ts_step) % (1 << 32), ssrc)
        payload = bytes(header) + bytes([0xFF]) * payload_bytes
        out.append(Datagram(at, src, sport, dst, dport, payload))
        previous_time = at
        if k in duplicate:
            previous_time = at + 0.0002
            out.append(Datagram(previous_time, src, sport, dst, dport, payload))
    reordered = len(swap_after)
    truth = Truth(sent=count, lost=len(drop), duplicates=len(duplicate), reordered=reordered)
    return out, truth


def merge(*streams: list[Datagram]) -> list[Datagram]:
    return sorted((d for s in streams for d in s), key=lambda d: d.time_s)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ip_udp(d: Datagram) -> bytes:
    src, dst = ipaddress.ip_address(d.src), ipaddress.ip_address(d.dst)
    length = 8 + len(d.payload)
    if src.version == 4:
        udp = struct.pack("!HHHH", d.sport, d.dport, length, 0) + d.payload
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, 0, 0x4000, 64, 17, 0, src.packed, dst.packed)
        header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
        return header + udp
    pseudo = src.packed + dst.packed + struct.pack("!I3xB", length, 17)
    udp = struct.pack("!HHHH", d.sport, d.dport, length, 0) + d.payload
    checksum = _checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", checksum) + udp[8:]
    return struct.pack("!IHBB16s16s", 0x60000000, length, 17, 64, src.packed, dst.packed) + udp


def link_frame(d: Datagram, linktype: int, vlan: int | None = None) -> bytes:
    ip = ip_udp(d)
    v6 = ipaddress.ip_address(d.src).version == 6
    ethertype = 0x86DD if v6 else 0x0800
    if linktype == ETHERNET:
        tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
        return b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + tag + struct.pack("!H", ethertype) + ip
    if linktype == SLL:
        return struct.pack("!HHH8sH", 4, 1, 6, b"\x02\0\0\0\0\x01\0\0", ethertype) + ip
    if linktype == SLL2:
        return struct.pack("!HHIHBB8s", ethertype, 0, 2, 1, 4, 6, b"\x02\0\0\0\0\x01\0\0") + ip
    if linktype == NULL:
        return struct.pack("<I", 24 if v6 else 2) + ip  # BSD AF_INET6 = 24
    if linktype == RAW:
        return ip
    raise ValueError(linktype)


def pcap_bytes(
    datagrams: list[Datagram], linktype: int = ETHERNET, vlan: int | None = None, nanoseconds: bool = False
) -> bytes:
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    out = [struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)]
    base = 1_700_000_000
    for d in datagrams:
        frame = link_frame(d, linktype, vlan)
        ticks = round(d.time_s * (1e9 if nanoseconds else 1e6))
        per_second = 10**9 if nanoseconds else 10**6
        out.append(struct.pack("<IIII", base + ticks // per_second, ticks % per_second, len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


def pcapng_bytes(datagrams: list[Datagram], linktype: int = ETHERNET, vlan: int | None = None) -> bytes:
    def block(kind: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        length = 12 + len(body)
        return struct.pack("<II", kind, length) + body + struct.pack("<I", length)

    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    # if_tsresol = 9: nanoseconds, to exercise the option.
    idb = block(1, struct.pack("<HHI", linktype, 0, 65535) + struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0))
    out = [shb, idb]
    for d in datagrams:
        frame = link_frame(d, linktype, vlan)
        ticks = (1_700_000_000 * 10**9) + round(d.time_s * 1e9)
        out.append(block(6, struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)) + frame))
    return b"".join(out)


def sip_with_sdp(
    *,
    time_s: float,
    src: str,
    dst: str,
    call_id: str,
    first_line: str,
    media_address: str,
    media_port: int,
    formats: str,
) -> Datagram:
    """A SIP INVITE or 200 OK over UDP 5060 whose SDP offers `formats` ("96 101") with rtpmaps."""
    family = "IP6" if ipaddress.ip_address(media_address).version == 6 else "IP4"
    sdp = (
        "v=0\r\n"
        f"o=- 1 1 IN {family} {media_address}\r\n"
        "s=callproof\r\n"
        f"c=IN {family} {media_address}\r\n"
        "t=0 0\r\n"
        f"m=audio {media_port} RTP/AVP {formats}\r\n"
        "a=rtpmap:96 opus/48000/2\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=sendrecv\r\n"
    )
    is_request = first_line.startswith("INVITE")
    headers = (
        f"{first_line}\r\n"
        f"Via: SIP/2.0/UDP {src if is_request else dst}:5060;branch=z9hG4bK-1\r\n"
        "From: <sip:caller@example.invalid>;tag=a\r\n"
        f"To: <sip:callee@example.invalid>{'' if is_request else ';tag=b'}\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:{'caller' if is_request else 'callee'}@{src}:5060>\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(sdp)}\r\n\r\n"
    )
    return Datagram(time_s, src, 5060, dst, 5060, (headers + sdp).encode())
