"""A capture file in, one StreamReport per RTP stream out: Wireshark's figures beside RFC 3550's."""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import numpy as np

from callproof.rtp_analysis.jitter import interarrival_jitter, jitter_ms
from callproof.rtp_analysis.loss import loss_stats
from callproof.rtp_analysis.net import udp_datagrams
from callproof.rtp_analysis.payload import COMFORT_NOISE_TYPES
from callproof.rtp_analysis.pcap import read_frames
from callproof.rtp_analysis.quality import capture_quality
from callproof.rtp_analysis.rtcp import capture_round_trips
from callproof.rtp_analysis.sequence import extend_sequence
from callproof.rtp_analysis.streams import RtpStream, discover_streams, rtcp_packets
from callproof.rtp_analysis.wireshark import wireshark_stats


@dataclasses.dataclass(frozen=True)
class StreamReport:
    """One captured RTP stream. The first fields are `callproof analyze --json`'s documented keys."""

    src: str
    src_port: int
    dst: str
    dst_port: int
    ssrc: int
    payload_type: int  # the stream's main payload type (telephone-event and CN aside)
    packets: int  # packets captured (Wireshark "Pkts")
    lost: int  # Wireshark's count: expected from first/last seq and its cycle counter, minus packets
    lost_rfc3550: int  # RFC 3550 A.3: expected - received, duplicates included (may be negative)
    duplicates: int
    reordered: int
    max_delta_ms: float  # Wireshark: largest gap between consecutive regular packets
    mean_jitter_ms: float  # Wireshark's mean of its running jitter
    max_jitter_ms: float  # Wireshark's largest running jitter
    mos_cqe: float | None  # G.107 Annex B from the stream's loss (Ta = packetisation: an upper bound)
    # Beyond the documented keys:
    payload: str  # every payload format seen, e.g. "PCMU/8000, telephone-event/8000"
    found_by: str  # "sdp" or "heuristic"
    call_id: str | None
    start_s: float  # first packet, seconds after the capture's first frame
    end_s: float
    expected: int  # Wireshark's expected count
    sequence_errors: int  # Wireshark's sequence-error counter
    wrong_timestamps: int  # Wireshark: packets not in time sequence
    problem: bool  # tshark's "Problems?" column
    min_delta_ms: float
    mean_delta_ms: float
    min_jitter_ms: float
    expected_rfc3550: int
    lost_unique: int  # sequence numbers that never arrived (duplicates not netted off)
    loss_runs: int
    jitter_rfc3550_ms: float | None  # A.8 J after the last packet, as an RR would carry it
    jitter_rfc3550_mean_ms: float | None
    jitter_rfc3550_max_ms: float | None
    clock_rate_hz: int | None
    ptime_ms: float | None  # packetisation: the usual timestamp step of consecutive packets
    rtt_ms: float | None  # mean RFC 3550 6.4.1 round trip from RTCP about this SSRC, seen from the capture point
    one_way_delay_ms: float | None  # G.107 Ta used for mos_cqe
    delay_method: str
    burst_r: float
    r_factor: float | None
    mos_reason: str | None
    concealment: bool

    def to_json(self) -> dict[str, Any]:
        """The fields as JSON values: a figure that is not a finite number (undefined for this stream) is null."""
        return {k: None if isinstance(v, float) and not math.isfinite(v) else v
                for k, v in dataclasses.asdict(self).items()}


def analyze_capture(path: str | os.PathLike[str], *, concealment: bool = True) -> list[StreamReport]:
    """Every RTP stream in a pcap/pcapng file; CaptureError for a bad file."""
    name = os.fspath(path)
    frames = read_frames(name)
    datagrams = udp_datagrams(frames, name)
    round_trips = capture_round_trips(rtcp_packets(frames, datagrams))
    return [
        stream_report(stream, concealment=concealment, rtt_samples_ms=round_trips.get(stream.ssrc, []))
        for stream in discover_streams(frames, datagrams)
    ]


def stream_report(stream: RtpStream, *, concealment: bool, rtt_samples_ms: list[float]) -> StreamReport:
    pts = stream.payload_type
    clocks = np.zeros(pts.size, dtype=np.int64)
    for pt, fmt in stream.formats.items():
        clocks[pts == pt] = fmt.wireshark_clock_rate
    ws = wireshark_stats(stream.time_ms, stream.seq, stream.timestamp, pts, stream.marker, clocks)

    sequence = extend_sequence(stream.seq)
    loss = loss_stats(sequence)

    main = _main_format(stream)
    audio = pts == main.payload_type
    rate = main.clock_rate_hz
    jitter_last = jitter_mean = jitter_max = ptime = None
    if rate and audio.sum() >= 2:
        j = interarrival_jitter(stream.time_ms[audio] / 1000.0, stream.timestamp[audio], rate)
        jitter_last, jitter_mean, jitter_max = (float(jitter_ms(v, rate)) for v in (j[-1], j[1:].mean(), j.max()))
        steps = np.diff(stream.timestamp[audio].astype(np.int64)) % (1 << 32)
        consecutive = (np.diff(stream.seq[audio].astype(np.int64)) % 65536) == 1
        if consecutive.any():
            ptime = float(np.median(steps[consecutive])) * 1000.0 / rate
    rtt = float(np.mean(rtt_samples_ms)) if rtt_samples_ms else None
    quality = capture_quality(
        encoding=main.encoding,
        clock_rate_hz=rate,
        packets=loss.received,
        lost=loss.lost_unique,
        expected=loss.expected,
        loss_runs=loss.loss_runs,
        jitter_ms=jitter_mean,
        jitter_max_ms=jitter_max,
        ptime_ms=ptime,
        rtt_ms=rtt,
        concealment=concealment,
    )
    return StreamReport(
        src=stream.src,
        src_port=stream.src_port,
        dst=stream.dst,
        dst_port=stream.dst_port,
        ssrc=stream.ssrc,
        payload_type=main.payload_type,
        packets=ws.packets,
        lost=ws.lost,
        lost_rfc3550=loss.lost,
        duplicates=loss.duplicates,
        reordered=loss.reordered,
        max_delta_ms=ws.max_delta_ms,
        mean_jitter_ms=ws.mean_jitter_ms,
        max_jitter_ms=ws.max_jitter_ms,
        mos_cqe=quality.mos_cqe,
        payload=", ".join(fmt.name for fmt in stream.formats.values()),
        found_by=stream.found_by,
        call_id=stream.call_id,
        start_s=float(stream.time_ms[0]) / 1000.0,
        end_s=float(stream.time_ms[-1]) / 1000.0,
        expected=ws.expected,
        sequence_errors=ws.sequence_errors,
        wrong_timestamps=ws.wrong_timestamps,
        problem=ws.problem,
        min_delta_ms=ws.min_delta_ms,
        mean_delta_ms=ws.mean_delta_ms,
        min_jitter_ms=ws.min_jitter_ms,
        expected_rfc3550=loss.expected,
        lost_unique=loss.lost_unique,
        loss_runs=loss.loss_runs,
        jitter_rfc3550_ms=jitter_last,
        jitter_rfc3550_mean_ms=jitter_mean,
        jitter_rfc3550_max_ms=jitter_max,
        clock_rate_hz=rate,
        ptime_ms=ptime,
        rtt_ms=rtt,
        one_way_delay_ms=quality.one_way_delay_ms,
        delay_method=quality.delay_method,
        burst_r=quality.burst_r,
        r_factor=quality.r_factor,
        mos_reason=quality.mos_reason,
        concealment=concealment,
    )


def _main_format(stream: RtpStream):
    """The most frequent payload format that is media (not telephone-event or comfort noise)."""
    counts = np.bincount(stream.payload_type, minlength=128)
    ranked = [int(v) for v in np.argsort(-counts, kind="stable") if counts[v]]
    for pt in ranked:
        fmt = stream.formats[pt]
        if not fmt.is_telephone_event and pt not in COMFORT_NOISE_TYPES:
            return fmt
    return stream.formats[ranked[0]]
