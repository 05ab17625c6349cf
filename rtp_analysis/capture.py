"""A capture file in, one StreamReport per RTP stream out: Wireshark's figures beside RFC 3550's."""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Iterator

import numpy as np

from callproof.rtp_analysis import groups as g
from callproof.rtp_analysis.jitter import interarrival_jitter_groups, jitter_ms
from callproof.rtp_analysis.loss import loss_columns
from callproof.rtp_analysis.net import address_text, udp_datagrams
from callproof.rtp_analysis.payload import COMFORT_NOISE_TYPES, PayloadFormat, static_format
from callproof.rtp_analysis.pcap import read_frames
from callproof.rtp_analysis.quality import capture_quality
from callproof.rtp_analysis.rtcp import capture_round_trips
from callproof.rtp_analysis.sequence import extend_sequence_groups
from callproof.rtp_analysis.streams import StreamTable, discover_streams, rtcp_packets
from callproof.rtp_analysis.wireshark import wireshark_columns


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
        # Every field is a scalar: a shallow copy is the JSON object (asdict's deep copy cost
        # more than the whole analysis on 100,000 streams).
        out = dict(self.__dict__)
        for k, v in out.items():
            if v.__class__ is float and not math.isfinite(v):
                out[k] = None
        return out


def analyze_capture(path: str | os.PathLike[str], *, concealment: bool = True) -> list[StreamReport]:
    """Every RTP stream in a pcap/pcapng file; CaptureError for a bad file."""
    return list(iter_capture(path, concealment=concealment))


def iter_capture(path: str | os.PathLike[str], *, concealment: bool = True) -> Iterator[StreamReport]:
    """analyze_capture's reports one at a time (a capture of 100,000 streams need not hold them all)."""
    name = os.fspath(path)
    frames = read_frames(name)
    datagrams = udp_datagrams(frames, name)
    round_trips = capture_round_trips(rtcp_packets(frames, datagrams))
    table = discover_streams(frames, datagrams)
    del frames, datagrams
    return iter_stream_reports(table, concealment=concealment, round_trips=round_trips)


_SLICE = 4096  # streams whose columns are turned into Python values at a time
_BATCH_PACKETS = 1 << 18  # packets whose figures are computed together (2 MB a float column)


@dataclasses.dataclass(frozen=True, eq=False)
class _Formats:
    """The payload formats of every stream: one entry per (stream, payload type) seen."""

    stream: np.ndarray  # int64, ascending; payload types ascending inside a stream
    payload_type: np.ndarray  # int64
    count: np.ndarray  # int64 packets of this type in the stream
    format: list[PayloadFormat]
    of_packet: np.ndarray  # int64: the entry of every packet
    main: np.ndarray  # int64: each stream's main entry, its most frequent media format


def _stream_formats(table: StreamTable) -> _Formats:
    """Every payload type of every stream, named by the stream's SDP or by RFC 3551."""
    # A stream's payload type changes rarely: sort the runs of one type, not every packet.
    groups = table.groups
    pt = table.payload_type
    run_start = groups.first_mask()
    run_start[1:] |= pt[1:] != pt[:-1]
    runs = np.flatnonzero(run_start)
    del run_start
    run_length = np.diff(np.append(runs, pt.size))
    entries, of_run = np.unique(groups.ids()[runs] * 128 + pt[runs], return_inverse=True)
    counts = np.bincount(of_run, weights=run_length, minlength=entries.size).astype(np.int64)
    of_packet = np.repeat(of_run.ravel(), run_length)
    stream, payload_type = entries // 128, entries % 128
    static = [static_format(number) for number in range(128)]
    formats = [static[pt] for pt in payload_type.tolist()]
    media_index = table.media_index[stream]
    for e in np.flatnonzero(media_index >= 0).tolist():
        number = int(payload_type[e])
        formats[e] = table.media[media_index[e]].formats.get(number, static[number])
    media = np.array([not f.is_telephone_event and f.payload_type not in COMFORT_NOISE_TYPES for f in formats],
                     dtype=bool)  # fmt: skip
    # The most frequent payload format that is media (not telephone-event or comfort
    # noise), the lower payload type on a tie; the most frequent of all if none is media.
    ranked = np.lexsort((payload_type, -counts, ~media, stream))
    leads = np.ones(ranked.size, dtype=bool)
    leads[1:] = stream[ranked][1:] != stream[ranked][:-1]
    return _Formats(stream, payload_type, counts, formats, of_packet, ranked[leads])


def iter_stream_reports(
    table: StreamTable, *, concealment: bool, round_trips: dict[int, list[float]]
) -> Iterator[StreamReport]:
    """The StreamReport of each stream of the table in turn.

    Every figure is computed for many streams at once, a batch of about _BATCH_PACKETS
    packets at a time: the columns of a batch stay in the processor's cache through the
    dozens of passes over them, which a million packets at once would not.
    """
    for first, end in table.batches(_BATCH_PACKETS):
        yield from _batch_reports(table.streams(first, end), concealment=concealment, round_trips=round_trips)


def _batch_reports(
    table: StreamTable, *, concealment: bool, round_trips: dict[int, list[float]]
) -> Iterator[StreamReport]:
    groups = table.groups
    if len(groups) == 0:
        return iter(())
    formats = _stream_formats(table)
    entry_clock = np.array([f.wireshark_clock_rate for f in formats.format], dtype=np.int64)
    ws = wireshark_columns(table.time_ms, table.seq, table.timestamp, table.payload_type, table.marker,
                           entry_clock[formats.of_packet], groups)  # fmt: skip
    loss = loss_columns(extend_sequence_groups(table.seq, groups), groups)

    main = [formats.format[e] for e in formats.main.tolist()]
    rate = np.array([f.clock_rate_hz or 0 for f in main], dtype=np.int64)
    main_pt = formats.payload_type[formats.main]
    stream_of = groups.ids()
    audio_at, audio = groups.select((table.payload_type == main_pt[stream_of]) & (rate[stream_of] > 0))
    del stream_of
    # RFC 3550 A.8 jitter over the main format's packets, for streams with two of them or more.
    j = interarrival_jitter_groups(table.time_ms[audio_at] / 1000.0, table.timestamp[audio_at],
                                   np.repeat(rate, audio.size), audio)  # fmt: skip
    rated = audio.size >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        jitter_last = jitter_ms(g.reduce(np.add, np.where(audio.last_mask(), j, 0.0), audio, 0.0), rate)
        jitter_mean = jitter_ms(g.reduce(np.add, j, audio, 0.0) / (audio.size - 1), rate)
        jitter_max = jitter_ms(g.reduce(np.maximum, j, audio, 0.0), rate)
    # Packetisation: the median timestamp step between consecutive sequence numbers.
    steps = g.diff(table.timestamp[audio_at].astype(np.int64), audio) % (1 << 32)
    consecutive = (g.diff(table.seq[audio_at].astype(np.int64), audio) % 65536) == 1
    consecutive &= ~audio.first_mask()
    consecutive_at, consecutive_groups = audio.select(consecutive)
    with np.errstate(divide="ignore", invalid="ignore"):
        ptime = g.median(steps[consecutive_at], consecutive_groups) * 1000.0 / rate
    del j, steps, consecutive, audio_at

    start_ms, end_ms = table.time_ms[groups.start], table.time_ms[groups.last]
    bounds = np.searchsorted(formats.stream, np.arange(len(groups) + 1)).tolist()
    payload = [", ".join(f.name for f in formats.format[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return _reports(table, ws, loss, main, payload, start_ms, end_ms, rated, jitter_last, jitter_mean, jitter_max,
                    ptime, round_trips, concealment)  # fmt: skip


def _reports(table, ws, loss, main, payload, start_ms, end_ms, rated, jitter_last, jitter_mean, jitter_max, ptime,
             round_trips, concealment) -> Iterator[StreamReport]:  # fmt: skip
    """The per-stream records, from columns read a slice of streams at a time."""
    texts: dict[tuple[int, int], str] = {}

    def address(hi: int, lo: int) -> str:
        text = texts.get((hi, lo))
        if text is None:
            text = texts[(hi, lo)] = address_text(hi, lo)
        return text

    has_ptime = ~np.isnan(ptime)

    def rows(part: slice):
        def column(values: np.ndarray, defined: np.ndarray | None = None) -> list:
            out = values[part].tolist()
            if defined is not None:
                out = [v if ok else None for v, ok in zip(out, defined[part].tolist(), strict=True)]
            return out

        return zip(
            column(table.src_hi), column(table.src_lo), column(table.src_port),
            column(table.dst_hi), column(table.dst_lo), column(table.dst_port), column(table.ssrc),
            main[part], payload[part], column(table.media_index), column(start_ms / 1000.0), column(end_ms / 1000.0),
            column(ws.packets), column(ws.lost), column(ws.max_delta_ms), column(ws.mean_jitter_ms),
            column(ws.max_jitter_ms), column(ws.expected), column(ws.sequence_errors), column(ws.wrong_timestamps),
            column(ws.problem), column(ws.min_delta_ms), column(ws.mean_delta_ms), column(ws.min_jitter_ms),
            column(loss.received), column(loss.lost), column(loss.lost_unique), column(loss.expected),
            column(loss.loss_runs), column(loss.duplicates), column(loss.reordered),
            column(jitter_last, rated), column(jitter_mean, rated), column(jitter_max, rated),
            column(ptime, has_ptime),
            strict=True,
        )  # fmt: skip

    for first in range(0, len(table), _SLICE):
        yield from _slice_reports(rows(slice(first, first + _SLICE)), table, address, round_trips, concealment)


def _slice_reports(rows, table, address, round_trips, concealment) -> Iterator[StreamReport]:
    for (src_hi, src_lo, src_port, dst_hi, dst_lo, dst_port, ssrc, fmt, payload_names, media_k, start_s, end_s,
         packets, lost, max_delta, mean_jitter, max_jitter, expected, sequence_errors, wrong_timestamps, problem,
         min_delta, mean_delta, min_jitter, received, lost_rfc3550, lost_unique, expected_rfc3550, loss_runs,
         duplicates, reordered, jitter_last_ms, jitter_mean_ms, jitter_max_ms, ptime_ms) in rows:  # fmt: skip
        samples = round_trips.get(ssrc)
        rtt = float(np.mean(samples)) if samples else None
        quality = capture_quality(
            encoding=fmt.encoding,
            clock_rate_hz=fmt.clock_rate_hz,
            packets=received,
            lost=lost_unique,
            expected=expected_rfc3550,
            loss_runs=loss_runs,
            jitter_ms=jitter_mean_ms,
            jitter_max_ms=jitter_max_ms,
            ptime_ms=ptime_ms,
            rtt_ms=rtt,
            concealment=concealment,
        )
        yield StreamReport(
            src=address(src_hi, src_lo),
            src_port=src_port,
            dst=address(dst_hi, dst_lo),
            dst_port=dst_port,
            ssrc=ssrc,
            payload_type=fmt.payload_type,
            packets=packets,
            lost=lost,
            lost_rfc3550=lost_rfc3550,
            duplicates=duplicates,
            reordered=reordered,
            max_delta_ms=max_delta,
            mean_jitter_ms=mean_jitter,
            max_jitter_ms=max_jitter,
            mos_cqe=quality.mos_cqe,
            payload=payload_names,
            found_by="sdp" if media_k >= 0 else "heuristic",
            call_id=table.media[media_k].call_id if media_k >= 0 else None,
            start_s=start_s,
            end_s=end_s,
            expected=expected,
            sequence_errors=sequence_errors,
            wrong_timestamps=wrong_timestamps,
            problem=problem,
            min_delta_ms=min_delta,
            mean_delta_ms=mean_delta,
            min_jitter_ms=min_jitter,
            expected_rfc3550=expected_rfc3550,
            lost_unique=lost_unique,
            loss_runs=loss_runs,
            jitter_rfc3550_ms=jitter_last_ms,
            jitter_rfc3550_mean_ms=jitter_mean_ms,
            jitter_rfc3550_max_ms=jitter_max_ms,
            clock_rate_hz=fmt.clock_rate_hz,
            ptime_ms=ptime_ms,
            rtt_ms=rtt,
            one_way_delay_ms=quality.one_way_delay_ms,
            delay_method=quality.delay_method,
            burst_r=quality.burst_r,
            r_factor=quality.r_factor,
            mos_reason=quality.mos_reason,
            concealment=concealment,
        )
