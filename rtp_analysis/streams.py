"""RTP stream discovery: which UDP datagrams are RTP, grouped into streams.

A stream is Wireshark's: (source address and port, destination address and port,
SSRC). Every UDP payload that carries an RTP version-2 header (not an RTCP packet
type) is a candidate, vectorised. A candidate stream whose address:port was announced
in an SDP body of a SIP message in the capture is RTP by signalling and takes its
payload names and clock rates from that SDP ("sdp"). Others are kept by heuristics
("heuristic") only if they look like a real RTP flow: at least MIN_HEURISTIC_PACKETS
packets and most sequence steps small and forward.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from callproof.rtp_analysis import groups as g
from callproof.rtp_analysis.groups import Groups
from callproof.rtp_analysis.net import Datagrams, address_bytes
from callproof.rtp_analysis.packet import FIXED_HEADER_BYTES, RTP_VERSION, rtp_columns
from callproof.rtp_analysis.pcap import Frames
from callproof.rtp_analysis.sdp import SdpMedia, looks_like_sip, sdp_media

MIN_HEURISTIC_PACKETS = 8
MIN_FORWARD_SHARE = 0.8  # of sequence steps in 1..100
_RTCP_CONFLICT_TYPES = (72, 73, 74, 75, 76)  # SR..APP with the marker bit set (RFC 5761 4)


@dataclasses.dataclass(frozen=True, eq=False)
class StreamTable:
    """Every RTP stream of a capture, side by side: no Python object per stream or per packet.

    Per stream (index k, streams in order of their first packet): addresses, ports, SSRC
    and how the stream was found. Per packet, in capture order inside each stream and
    stream after stream (`groups` says where stream k's packets are): the RTP columns.
    """

    groups: Groups
    src_hi: np.ndarray  # uint64 address halves (see Datagrams)
    src_lo: np.ndarray
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    src_port: np.ndarray  # uint16
    dst_port: np.ndarray  # uint16
    ssrc: np.ndarray  # uint32
    media_index: np.ndarray  # int64 index into `media` of the SDP that announced the stream, -1: heuristic
    media: list[SdpMedia]
    time_ms: np.ndarray  # float64: Wireshark's frame time, ms after the capture's first frame
    seq: np.ndarray  # uint16
    timestamp: np.ndarray  # uint32
    payload_type: np.ndarray  # uint8
    marker: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.groups)

    def streams(self, first: int, end: int) -> StreamTable:
        """Streams first..end-1 alone (views, no copy)."""
        lo = int(self.groups.start[first]) if first < len(self) else self.groups.total
        hi = int(self.groups.start[end - 1] + self.groups.size[end - 1]) if end > first else lo
        part, packets = slice(first, end), slice(lo, hi)
        return StreamTable(
            groups=Groups(self.groups.start[part] - lo, self.groups.size[part]),
            src_hi=self.src_hi[part], src_lo=self.src_lo[part], dst_hi=self.dst_hi[part], dst_lo=self.dst_lo[part],
            src_port=self.src_port[part], dst_port=self.dst_port[part], ssrc=self.ssrc[part],
            media_index=self.media_index[part], media=self.media,
            time_ms=self.time_ms[packets], seq=self.seq[packets], timestamp=self.timestamp[packets],
            payload_type=self.payload_type[packets], marker=self.marker[packets],
        )  # fmt: skip

    def batches(self, packets: int) -> list[tuple[int, int]]:
        """(first, end) ranges of whole streams of about `packets` packets each (a longer stream alone)."""
        ends = self.groups.start + self.groups.size
        cuts = np.searchsorted(ends, np.arange(packets, self.groups.total + packets, packets), side="right")
        bounds = [0]
        for cut in cuts.tolist() + [len(self)]:
            if cut > bounds[-1]:
                bounds.append(cut)
        return list(zip(bounds[:-1], bounds[1:], strict=True))


def relative_time_ms(frames: Frames) -> np.ndarray:
    """Each frame's time after the first frame, as Wireshark's nstime_delta + nstime_to_msec."""
    secs = frames.ts_sec - frames.ts_sec[0]
    nsecs = frames.ts_nsec - frames.ts_nsec[0]
    # nstime_delta keeps seconds and nanoseconds of the same sign.
    fix_up = (secs > 0) & (nsecs < 0)
    fix_down = (secs < 0) & (nsecs > 0)
    secs = secs - fix_up + fix_down
    nsecs = nsecs + 1_000_000_000 * fix_up - 1_000_000_000 * fix_down
    return secs.astype(np.float64) * 1000 + nsecs.astype(np.float64) / 1000000


def sdp_announcements(datagrams: Datagrams) -> list[SdpMedia]:
    """Media of every SDP body in SIP-over-UDP messages, in capture order."""
    data = datagrams.data
    first = datagrams.payload_head[:, 0]
    # SIP starts with an upper-case method or "SIP/2.0"; RTP's first byte is 0x80-0xBF.
    candidates = np.flatnonzero((first >= ord("A")) & (first <= ord("Z")) & (datagrams.payload_length >= 12))
    media: list[SdpMedia] = []
    for i in candidates.tolist():
        start = int(datagrams.payload_offset[i])
        payload = data[start : start + int(datagrams.payload_length[i])].tobytes()
        if looks_like_sip(payload):
            media.extend(sdp_media(payload))
    return media


def rtcp_packets(frames: Frames, datagrams: Datagrams) -> list[tuple[float, bytes]]:
    """(capture time in ms, bytes) of every datagram that starts with an RTCP SR or RR."""
    head = datagrams.payload_head
    rtcp = np.flatnonzero((head[:, 0] >> 6 == 2) & np.isin(head[:, 1], (200, 201)) & (datagrams.payload_length >= 8))
    time_ms = relative_time_ms(frames)
    out = []
    for i in rtcp.tolist():
        start = int(datagrams.payload_offset[i])
        out.append(
            (
                float(time_ms[datagrams.frame[i]]),
                datagrams.data[start : start + int(datagrams.payload_length[i])].tobytes(),
            )
        )
    return out


def discover_streams(frames: Frames, datagrams: Datagrams) -> StreamTable:
    """Every RTP stream of the capture, in order of its first packet."""
    media = sdp_announcements(datagrams)
    long_enough = datagrams.payload_length >= FIXED_HEADER_BYTES
    rtp = rtp_columns(datagrams.payload_head)
    candidate = long_enough & (rtp.version == RTP_VERSION) & ~np.isin(rtp.payload_type, _RTCP_CONFLICT_TYPES)
    idx = np.flatnonzero(candidate)
    del candidate, long_enough
    src_hi, src_lo = datagrams.src_hi[idx], datagrams.src_lo[idx]
    dst_hi, dst_lo = datagrams.dst_hi[idx], datagrams.dst_lo[idx]
    sport, dport = datagrams.src_port[idx], datagrams.dst_port[idx]
    ssrc = rtp.ssrc[idx]
    ports_ssrc = (sport.astype(np.uint64) << np.uint64(48)) | (dport.astype(np.uint64) << np.uint64(32)) | ssrc
    # The high address halves are zero in IPv4-only captures: leave them out of the sort then.
    keys = [ports_ssrc, dst_lo, src_lo] + ([dst_hi, src_hi] if (src_hi.any() or dst_hi.any()) else [])
    order = np.lexsort(keys)  # stable: packets of a stream stay in capture order
    boundary = np.zeros(order.size, dtype=bool)
    boundary[:1] = True
    for key in keys:
        ordered = key[order]
        boundary[1:] |= ordered[1:] != ordered[:-1]
    del ordered, keys, ports_ssrc
    by_key = Groups(np.flatnonzero(boundary), np.diff(np.append(np.flatnonzero(boundary), order.size)))
    del boundary
    first = order[by_key.start]  # each stream's first packet, an index into idx

    found = _announced_by(media, src_hi[first], src_lo[first], sport[first], dst_hi[first], dst_lo[first], dport[first])
    seq_by_key = rtp.sequence_number[idx[order]]
    keep = (found >= 0) | _looks_like_rtp_flow(seq_by_key, by_key)
    del seq_by_key
    # Streams in order of first appearance, as a reader of the capture meets them; the
    # packets of the kept ones are laid out stream after stream in that order.
    streams = np.flatnonzero(keep)
    streams = streams[np.argsort(first[streams], kind="stable")]
    groups = Groups.of_sizes(by_key.size[streams])
    layout = np.repeat(by_key.start[streams] - groups.start, groups.size) + np.arange(groups.total)
    packets = idx[order[layout]]
    del layout, order
    first = first[streams]
    return StreamTable(
        groups=groups,
        src_hi=src_hi[first],
        src_lo=src_lo[first],
        dst_hi=dst_hi[first],
        dst_lo=dst_lo[first],
        src_port=sport[first],
        dst_port=dport[first],
        ssrc=ssrc[first],
        media_index=found[streams],
        media=media,
        time_ms=relative_time_ms(frames)[datagrams.frame[packets]],
        seq=rtp.sequence_number[packets],
        timestamp=rtp.timestamp[packets],
        payload_type=rtp.payload_type[packets],
        marker=rtp.marker[packets],
    )


def _announced_by(media: list[SdpMedia], src_hi, src_lo, sport, dst_hi, dst_lo, dport) -> np.ndarray:
    """Per stream, the index of the SDP media that announced its destination (else its
    source) address and port, or -1."""
    found = np.full(src_hi.size, -1, dtype=np.int64)
    if not media:
        return found
    announced: dict[tuple[bytes, int], int] = {}
    for i, m in enumerate(media):
        announced[(m.address, m.port)] = i  # the last announcement of an address:port wins
    columns = zip(src_hi.tolist(), src_lo.tolist(), sport.tolist(), dst_hi.tolist(), dst_lo.tolist(), dport.tolist(),
                  strict=True)  # fmt: skip
    for k, (shi, slo, sp, dhi, dlo, dp) in enumerate(columns):
        hit = announced.get((address_bytes(dhi, dlo), dp))
        if hit is None:
            hit = announced.get((address_bytes(shi, slo), sp))
        if hit is not None:
            found[k] = hit
    return found


def _looks_like_rtp_flow(seq: np.ndarray, groups: Groups) -> np.ndarray:
    """Per group: enough packets, and most sequence steps small and forward."""
    steps = g.diff(seq.astype(np.int64), groups) % 65536
    forward = (steps >= 1) & (steps <= 100)
    share = g.count(forward, groups) / np.maximum(groups.size - 1, 1)
    return (groups.size >= MIN_HEURISTIC_PACKETS) & (share >= MIN_FORWARD_SHARE)
