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

from callproof.rtp_analysis.net import Datagrams, address_bytes, address_text
from callproof.rtp_analysis.packet import FIXED_HEADER_BYTES, RTP_VERSION, rtp_columns
from callproof.rtp_analysis.payload import PayloadFormat, static_format
from callproof.rtp_analysis.pcap import Frames
from callproof.rtp_analysis.sdp import SdpMedia, looks_like_sip, sdp_media

MIN_HEURISTIC_PACKETS = 8
MIN_FORWARD_SHARE = 0.8  # of sequence steps in 1..100
_RTCP_CONFLICT_TYPES = (72, 73, 74, 75, 76)  # SR..APP with the marker bit set (RFC 5761 4)


@dataclasses.dataclass(frozen=True, eq=False)
class RtpStream:
    """One RTP stream's packets, in capture order."""

    src: str
    src_port: int
    dst: str
    dst_port: int
    ssrc: int
    found_by: str  # "sdp" or "heuristic"
    call_id: str | None  # SIP Call-ID of the SDP that announced it
    formats: dict[int, PayloadFormat]  # every payload type seen in the stream
    time_ms: np.ndarray  # float64: Wireshark's frame time, ms after the capture's first frame
    seq: np.ndarray  # uint16
    timestamp: np.ndarray  # uint32
    payload_type: np.ndarray  # uint8
    marker: np.ndarray  # bool


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


def discover_streams(frames: Frames, datagrams: Datagrams) -> list[RtpStream]:
    """Every RTP stream of the capture, in order of its first packet."""
    announced = {(m.address, m.port): m for m in sdp_announcements(datagrams)}
    long_enough = datagrams.payload_length >= FIXED_HEADER_BYTES
    rtp = rtp_columns(datagrams.payload_head)
    candidate = long_enough & (rtp.version == RTP_VERSION) & ~np.isin(rtp.payload_type, _RTCP_CONFLICT_TYPES)
    idx = np.flatnonzero(candidate)
    if idx.size == 0:
        return []
    src_hi, src_lo = datagrams.src_hi[idx], datagrams.src_lo[idx]
    dst_hi, dst_lo = datagrams.dst_hi[idx], datagrams.dst_lo[idx]
    sport, dport = datagrams.src_port[idx], datagrams.dst_port[idx]
    ssrc = rtp.ssrc[idx]
    ports_ssrc = (sport.astype(np.uint64) << np.uint64(48)) | (dport.astype(np.uint64) << np.uint64(32)) | ssrc
    # The high address halves are zero in IPv4-only captures: leave them out of the sort then.
    keys = [ports_ssrc, dst_lo, src_lo] + ([dst_hi, src_hi] if (src_hi.any() or dst_hi.any()) else [])
    order = np.lexsort(keys)  # stable: packets of a stream stay in capture order
    boundary = np.zeros(order.size, dtype=bool)
    boundary[0] = True
    for key in keys:
        ordered = key[order]
        boundary[1:] |= ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(boundary)
    ends = np.append(starts[1:], order.size)
    # Streams in order of first appearance, as a reader of the capture meets them.
    starts_order = np.argsort(order[starts], kind="stable")

    # Every per-packet column in stream order once; each stream is then a slice.
    packets = idx[order]
    time_ms = relative_time_ms(frames)[datagrams.frame[packets]]
    seq_all, ts_all = rtp.sequence_number[packets], rtp.timestamp[packets]
    pt_all, marker_all = rtp.payload_type[packets], rtp.marker[packets]
    streams = []
    for g in starts_order.tolist():
        span = slice(starts[g], ends[g])
        first = order[starts[g]]
        seq = seq_all[span]
        src_key = address_bytes(src_hi[first], src_lo[first])
        dst_key = address_bytes(dst_hi[first], dst_lo[first])
        media = announced.get((dst_key, int(dport[first]))) or announced.get((src_key, int(sport[first])))
        if media is None and not _looks_like_rtp_flow(seq):
            continue
        pts = pt_all[span]
        formats = {}
        for pt in np.flatnonzero(np.bincount(pts, minlength=128)).tolist():
            formats[pt] = media.formats[pt] if media and pt in media.formats else static_format(pt)
        streams.append(
            RtpStream(
                src=address_text(src_hi[first], src_lo[first]),
                src_port=int(sport[first]),
                dst=address_text(dst_hi[first], dst_lo[first]),
                dst_port=int(dport[first]),
                ssrc=int(ssrc[first]),
                found_by="sdp" if media else "heuristic",
                call_id=media.call_id if media else None,
                formats=formats,
                time_ms=time_ms[span],
                seq=seq,
                timestamp=ts_all[span],
                payload_type=pts,
                marker=marker_all[span],
            )
        )
    return streams


def _looks_like_rtp_flow(seq: np.ndarray) -> bool:
    if seq.size < MIN_HEURISTIC_PACKETS:
        return False
    diff: np.ndarray = np.diff(seq.astype(np.int64))  # annotated: numpy's stub says timedelta64
    steps = diff % 65536
    return float(np.mean((steps >= 1) & (steps <= 100))) >= MIN_FORWARD_SHARE
