"""Frames to UDP datagrams: link layer, IPv4/IPv6 and UDP headers, all frames at once.

Link types (tcpdump.org LINKTYPE_* values): Ethernet with up to two 802.1Q/802.1ad
tags, Linux cooked SLL and SLL2 (`tcpdump -i any`), raw IP, BSD null/loopback.
IPv4 fragments are skipped (RTP is never fragmented; a fragmented SIP message is
left to the RTP heuristics). IPv6 extension headers are not followed.

Addresses travel as two uint64 halves of the 16-byte IPv6 form (IPv4 as ::ffff:a.b.c.d),
so a million packets never need a per-byte address matrix.
"""

from __future__ import annotations

import dataclasses
import ipaddress

import numpy as np

from callproof.rtp_analysis.errors import CaptureError
from callproof.rtp_analysis.packet import be16, be32
from callproof.rtp_analysis.pcap import Frames

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
SUPPORTED_LINKTYPES = {
    LINKTYPE_NULL: "BSD loopback",
    LINKTYPE_ETHERNET: "Ethernet",
    LINKTYPE_RAW: "raw IP",
    LINKTYPE_LOOP: "OpenBSD loopback",
    LINKTYPE_LINUX_SLL: "Linux cooked (SLL)",
    LINKTYPE_IPV4: "raw IPv4",
    LINKTYPE_IPV6: "raw IPv6",
    LINKTYPE_LINUX_SLL2: "Linux cooked v2 (SLL2)",
}
_ETHERTYPE_IPV4 = 0x0800
_ETHERTYPE_IPV6 = 0x86DD
_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
_IPPROTO_UDP = 17
# AF_INET6 differs by OS in the null/loopback header: Linux 10, BSDs 24, 28, 30.
_AF_INET6_VALUES = (10, 24, 28, 30)
_V4_MAPPED = np.uint64(0xFFFF << 32)


@dataclasses.dataclass(frozen=True)
class Datagrams:
    """UDP datagrams of a capture; index i of each array is datagram i, in capture order."""

    data: np.ndarray  # uint8, the capture file (shared with Frames)
    frame: np.ndarray  # int64 index into Frames
    src_hi: np.ndarray  # uint64: bytes 0-7 of the 16-byte address (0 for IPv4)
    src_lo: np.ndarray  # uint64: bytes 8-15 (::ffff:a.b.c.d for IPv4)
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    src_port: np.ndarray  # uint16
    dst_port: np.ndarray  # uint16
    payload_offset: np.ndarray  # int64 into data
    payload_length: np.ndarray  # int64, bytes of UDP payload present in the capture
    payload_head: np.ndarray  # (n, 12) uint8: the payload's first 12 bytes (an RTP header?), zero-padded

    def __len__(self) -> int:
        return len(self.frame)


def address_bytes(hi: int, lo: int) -> bytes:
    return int(hi).to_bytes(8, "big") + int(lo).to_bytes(8, "big")


def address_text(hi: int, lo: int) -> str:
    """Printable form of one address (IPv4-mapped shown as a dotted quad)."""
    if hi == 0 and lo >> 32 == 0xFFFF:  # the usual case, without ipaddress's objects
        return f"{(lo >> 24) & 0xFF}.{(lo >> 16) & 0xFF}.{(lo >> 8) & 0xFF}.{lo & 0xFF}"
    address = ipaddress.IPv6Address(address_bytes(hi, lo))
    return str(address.ipv4_mapped) if address.ipv4_mapped else str(address)


def at_offsets(head: np.ndarray, row: np.ndarray | None, offset: np.ndarray, width: int) -> np.ndarray:
    """head[row[i], offset[i] : offset[i] + width] for every i (all rows if `row` is None),
    zero-padded past the head.

    Offsets take a handful of values (link header sizes, IPv4 option lengths), so the
    bytes are copied one offset group at a time, by column slices.
    """
    size = head.shape[1]
    values = _distinct(offset)
    if values.size == 1 and values[0] + width <= size:
        value = int(values[0])
        return head[:, value : value + width] if row is None else head[row, value : value + width]
    out = np.zeros((offset.size, width), dtype=np.uint8)
    for value in values.tolist():
        mine = slice(None) if values.size == 1 else offset == value
        source = mine if row is None else row[mine]
        take = max(0, min(width, size - value))
        out[mine, :take] = head[source, value : value + take]
    return out


def _distinct(values: np.ndarray) -> np.ndarray:
    """np.unique, with a shortcut for the usual case of a single value."""
    if values.size == 0 or values.min() == values.max():
        return values[:1]
    return np.unique(values)


def udp_datagrams(frames: Frames, name: str) -> Datagrams:
    """Every complete-header UDP datagram over IPv4 or IPv6 in the capture's frames."""
    present = _distinct(frames.linktype).tolist()
    unknown = sorted(set(present) - set(SUPPORTED_LINKTYPES))
    if unknown:
        supported = ", ".join(f"{v} ({n})" for v, n in SUPPORTED_LINKTYPES.items())
        raise CaptureError(f"{name} uses link type {unknown[0]}, which callproof cannot read (it reads {supported}).")
    head, caplen = frames.head, frames.caplen
    l3, ethertype = _network_offsets(head, frames.linktype, present)
    h = at_offsets(head, None, l3, 40)  # the IP header (IPv4 options aside)
    version = h[:, 0] >> 4
    v4 = (ethertype == _ETHERTYPE_IPV4) & (version == 4)
    v6 = (ethertype == _ETHERTYPE_IPV6) & (version == 6)
    if v6.any():
        header = np.where(v4, (h[:, 0] & 0x0F).astype(np.int64) * 4, 40)
        protocol = np.where(v4, h[:, 9], h[:, 6])
        ip_end = l3 + np.where(v4, be16(h, 2).astype(np.int64), 40 + be16(h, 4).astype(np.int64))
    else:
        header = (h[:, 0] & 0x0F).astype(np.int64) * 4
        protocol = h[:, 9]
        ip_end = l3 + be16(h, 2).astype(np.int64)
    whole = ~v4 | ((be16(h, 6) & 0x3FFF) == 0)  # not an IPv4 fragment (MF flag, fragment offset)
    udp = l3 + header
    ok = (v4 | v6) & (protocol == _IPPROTO_UDP) & (header >= 20) & whole & (udp + 8 <= caplen)
    if not ok.all():
        ip = np.flatnonzero(ok)
        h, v4, v6, ip_end, udp = h[ip], v4[ip], v6[ip], ip_end[ip], udp[ip]
    else:
        ip = np.arange(ok.size)

    src_hi, src_lo = _address(h, v4, v6, v4_at=12, v6_at=8)
    dst_hi, dst_lo = _address(h, v4, v6, v4_at=16, v6_at=24)
    u = at_offsets(head, ip, udp, 20)  # UDP header and what may be an RTP header
    udp_end = udp + be16(u, 4).astype(np.int64)
    end = np.minimum(np.minimum(udp_end, ip_end), caplen[ip])
    length = np.maximum(end - (udp + 8), 0)
    payload_head = u[:, 8:20]
    short = length < 12
    if short.any():
        payload_head[short] *= np.arange(12) < length[short, None]
    return Datagrams(
        data=frames.data,
        frame=ip,
        src_hi=src_hi,
        src_lo=src_lo,
        dst_hi=dst_hi,
        dst_lo=dst_lo,
        src_port=be16(u, 0),
        dst_port=be16(u, 2),
        payload_offset=frames.offset[ip] + udp + 8,
        payload_length=length,
        payload_head=payload_head,
    )


def _address(h: np.ndarray, v4: np.ndarray, v6: np.ndarray, *, v4_at: int, v6_at: int) -> tuple[np.ndarray, np.ndarray]:
    if not v6.any():
        return np.zeros(h.shape[0], dtype=np.uint64), _V4_MAPPED | be32(h, v4_at).astype(np.uint64)
    hi = np.zeros(h.shape[0], dtype=np.uint64)
    lo = _V4_MAPPED | be32(h, v4_at).astype(np.uint64)
    high = (be32(h, v6_at).astype(np.uint64) << np.uint64(32)) | be32(h, v6_at + 4)
    low = (be32(h, v6_at + 8).astype(np.uint64) << np.uint64(32)) | be32(h, v6_at + 12)
    hi[v6], lo[v6] = high[v6], low[v6]
    return hi, lo


def _network_offsets(head: np.ndarray, linktype: np.ndarray, present: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Offset of the IP header inside each frame and its ethertype (0: not IP)."""
    n = head.shape[0]
    l3 = np.zeros(n, dtype=np.int64)
    ethertype = np.zeros(n, dtype=np.int64)
    for kind in present:
        sel = slice(None) if len(present) == 1 else linktype == kind
        h = head[sel]
        if kind == LINKTYPE_ETHERNET:
            et = be16(h, 12).astype(np.int64)
            at = np.full(et.size, 14, dtype=np.int64)
            for tag_at in (12, 16):  # 802.1Q / QinQ: up to two tags, each 4 bytes
                tagged = np.isin(et, _VLAN_TAGS)
                if not tagged.any():
                    break
                et = np.where(tagged, be16(h, tag_at + 4), et)
                at = np.where(tagged, at + 4, at)
            l3[sel], ethertype[sel] = at, et
        elif kind == LINKTYPE_LINUX_SLL:
            l3[sel], ethertype[sel] = 16, be16(h, 14)
        elif kind == LINKTYPE_LINUX_SLL2:
            l3[sel], ethertype[sel] = 20, be16(h, 0)
        elif kind in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
            version = h[:, 0] >> 4
            l3[sel] = 0
            ethertype[sel] = np.where(version == 4, _ETHERTYPE_IPV4, np.where(version == 6, _ETHERTYPE_IPV6, 0))
        else:  # null / loop: a 4-byte address family
            little = h[:, 0] | (h[:, 1].astype(np.int64) << 8)  # the values are < 256
            big = h[:, 3] | (h[:, 2].astype(np.int64) << 8)
            # DLT_NULL is in the capturing host's byte order (accept either); LOOP is big-endian.
            family = big if kind == LINKTYPE_LOOP else np.where(little != 0, little, big)
            l3[sel] = 4
            ethertype[sel] = np.where(
                family == 2, _ETHERTYPE_IPV4, np.where(np.isin(family, _AF_INET6_VALUES), _ETHERTYPE_IPV6, 0)
            )
    return l3, ethertype
