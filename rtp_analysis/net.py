"""Frames to UDP datagrams: link layer, IPv4/IPv6 and UDP headers, all frames at once.

Link types (tcpdump.org LINKTYPE_* values): Ethernet with up to two 802.1Q/802.1ad
tags, Linux cooked SLL and SLL2 (`tcpdump -i any`), raw IP, BSD null/loopback.
IPv4 fragments are skipped (RTP is never fragmented; a fragmented SIP message is
left to the RTP heuristics). IPv6 extension headers are not followed.
"""

from __future__ import annotations

import dataclasses
import ipaddress

import numpy as np

from rtp_analysis.errors import CaptureError
from rtp_analysis.packet import be16
from rtp_analysis.pcap import Frames

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


@dataclasses.dataclass(frozen=True)
class Datagrams:
    """UDP datagrams of a capture; index i of each array is datagram i, in capture order."""

    data: np.ndarray  # uint8, the capture file (shared with Frames)
    frame: np.ndarray  # int64 index into Frames
    src: np.ndarray  # (n, 16) uint8: IPv6 address, or IPv4 as ::ffff:a.b.c.d
    dst: np.ndarray  # (n, 16) uint8
    src_port: np.ndarray  # uint16
    dst_port: np.ndarray  # uint16
    payload_offset: np.ndarray  # int64 into data
    payload_length: np.ndarray  # int64, bytes of UDP payload present in the capture

    def __len__(self) -> int:
        return len(self.frame)


def address_text(address16: np.ndarray) -> str:
    """Printable form of one 16-byte address (IPv4-mapped shown as dotted quad)."""
    address = ipaddress.IPv6Address(bytes(address16))
    return str(address.ipv4_mapped) if address.ipv4_mapped else str(address)


def udp_datagrams(frames: Frames, name: str) -> Datagrams:
    """Every complete-header UDP datagram over IPv4 or IPv6 in the capture's frames."""
    unknown = sorted(set(np.unique(frames.linktype).tolist()) - set(SUPPORTED_LINKTYPES))
    if unknown:
        supported = ", ".join(f"{v} ({n})" for v, n in SUPPORTED_LINKTYPES.items())
        raise CaptureError(f"{name} uses link type {unknown[0]}, which callproof cannot read (it reads {supported}).")
    data = frames.data
    # Pad so that fixed-size header reads past a short frame stay inside the buffer;
    # every read is then masked by the frame's captured length.
    padded = np.concatenate([data, np.zeros(64, dtype=np.uint8)])
    frame_end = frames.offset + frames.caplen
    l3, ethertype = _network_offsets(padded, frames)
    is_v4 = (ethertype == _ETHERTYPE_IPV4) & (l3 + 20 <= frame_end) & (padded[l3] >> 4 == 4)
    is_v6 = (ethertype == _ETHERTYPE_IPV6) & (l3 + 40 <= frame_end) & (padded[l3] >> 4 == 6)

    v4 = np.flatnonzero(is_v4)
    a4 = l3[v4]
    ihl = (padded[a4] & 0x0F).astype(np.int64) * 4
    fragment = be16(padded, a4 + 6) & 0x3FFF  # MF flag and fragment offset
    ok4 = (padded[a4 + 9] == _IPPROTO_UDP) & (ihl >= 20) & (fragment == 0)
    v4, a4, ihl = v4[ok4], a4[ok4], ihl[ok4]
    ip_end4 = a4 + be16(padded, a4 + 2).astype(np.int64)
    udp4 = a4 + ihl

    v6 = np.flatnonzero(is_v6)
    a6 = l3[v6]
    ok6 = padded[a6 + 6] == _IPPROTO_UDP
    v6, a6 = v6[ok6], a6[ok6]
    ip_end6 = a6 + 40 + be16(padded, a6 + 4).astype(np.int64)
    udp6 = a6 + 40

    index = np.concatenate([v4, v6])
    order = np.argsort(index, kind="stable")
    index = index[order]
    udp = np.concatenate([udp4, udp6])[order]
    ip_end = np.concatenate([ip_end4, ip_end6])[order]
    src = np.concatenate([_mapped_v4(padded, a4 + 12), _v6(padded, a6 + 8)])[order]
    dst = np.concatenate([_mapped_v4(padded, a4 + 16), _v6(padded, a6 + 24)])[order]

    has_header = udp + 8 <= frame_end[index]
    index, udp, ip_end, src, dst = index[has_header], udp[has_header], ip_end[has_header], src[has_header], dst[has_header]
    udp_end = udp + be16(padded, udp + 4).astype(np.int64)
    end = np.minimum(np.minimum(udp_end, ip_end), frame_end[index])
    return Datagrams(
        data=data,
        frame=index,
        src=src,
        dst=dst,
        src_port=be16(padded, udp),
        dst_port=be16(padded, udp + 2),
        payload_offset=udp + 8,
        payload_length=np.maximum(end - (udp + 8), 0),
    )


def _network_offsets(data: np.ndarray, frames: Frames) -> tuple[np.ndarray, np.ndarray]:
    """Offset of the IP header and its ethertype, per frame (ethertype 0: not IP)."""
    start = frames.offset
    lt = frames.linktype
    l3 = np.zeros(len(frames), dtype=np.int64)
    ethertype = np.zeros(len(frames), dtype=np.int64)

    eth = lt == LINKTYPE_ETHERNET
    et = be16(data, start + 12).astype(np.int64)
    at = start + 14
    for _ in range(2):  # 802.1Q / QinQ: skip up to two tags
        tagged = np.isin(et, _VLAN_TAGS)
        et = np.where(tagged, be16(data, at + 2).astype(np.int64), et)
        at = np.where(tagged, at + 4, at)
    l3[eth], ethertype[eth] = at[eth], et[eth]

    sll = lt == LINKTYPE_LINUX_SLL
    l3[sll], ethertype[sll] = start[sll] + 16, be16(data, start[sll] + 14)
    sll2 = lt == LINKTYPE_LINUX_SLL2
    l3[sll2], ethertype[sll2] = start[sll2] + 20, be16(data, start[sll2])

    raw = np.isin(lt, (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6))
    version = data[start] >> 4
    l3[raw] = start[raw]
    ethertype[raw] = np.where(version[raw] == 4, _ETHERTYPE_IPV4, np.where(version[raw] == 6, _ETHERTYPE_IPV6, 0))

    for linktype, big_endian in ((LINKTYPE_NULL, None), (LINKTYPE_LOOP, True)):
        sel = lt == linktype
        little = data[start] | (data[start + 1].astype(np.int64) << 8)  # values are < 256 in practice
        big = data[start + 3].astype(np.int64) | (data[start + 2].astype(np.int64) << 8)
        # DLT_NULL is in the capturing host's byte order: accept either.
        family = big if big_endian else np.where(little != 0, little, big)
        l3[sel] = start[sel] + 4
        ethertype[sel] = np.where(
            family[sel] == 2, _ETHERTYPE_IPV4, np.where(np.isin(family[sel], _AF_INET6_VALUES), _ETHERTYPE_IPV6, 0)
        )
    return l3, ethertype


_V4_MAPPED_PREFIX = np.array([0] * 10 + [0xFF, 0xFF], dtype=np.uint8)


def _mapped_v4(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    out = np.empty((at.size, 16), dtype=np.uint8)
    out[:, :12] = _V4_MAPPED_PREFIX
    out[:, 12:] = data[at[:, None] + np.arange(4)]
    return out


def _v6(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    return data[at[:, None] + np.arange(16)]
