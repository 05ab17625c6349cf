"""RTCP sender and receiver reports (RFC 3550 6.4) and the round-trip time they give (6.4.1).

RTT = A - LSR - DLSR, in units of 1/65536 s modulo 2**32: A is when the receiver report
arrived, LSR the middle 32 bits of the NTP timestamp of the sender report it answers,
DLSR the reporter's delay since that sender report. In a capture, A and the sender
report's time are both taken from the capture clock (the sender report is found by its
NTP timestamp), so the round trip is measured from the capture point, with no
assumption about the endpoints' clocks.
"""

from __future__ import annotations

import dataclasses
import struct

NTP_UNIX_OFFSET_S = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
RTCP_SR = 200
RTCP_RR = 201


@dataclasses.dataclass(frozen=True)
class SenderReport:
    ssrc: int
    ntp_middle32: int  # what a receiver echoes as LSR


@dataclasses.dataclass(frozen=True)
class ReportBlock:
    reporter_ssrc: int
    source_ssrc: int  # the stream this block is about
    fraction_lost: int  # 8-bit fixed point
    cumulative_lost: int  # signed 24-bit
    highest_seq: int  # extended highest sequence number received
    jitter: int  # timestamp units
    lsr: int
    dlsr: int  # 1/65536 s


def ntp_middle32(unix_time_s: float) -> int:
    """The middle 32 bits of a 64-bit NTP timestamp (16.16 fixed point seconds), as LSR uses."""
    return int((unix_time_s + NTP_UNIX_OFFSET_S) * 65536.0) & 0xFFFFFFFF


def round_trip_ms(arrival_middle32: int, lsr: int, dlsr: int) -> float | None:
    """RTT = A - LSR - DLSR (all 16.16 seconds, modulo 2**32); None when the RR had no SR to echo.

    RFC 3550 6.4.1: LSR = 0 means no sender report has been received yet.
    """
    if lsr == 0:
        return None
    units = (arrival_middle32 - lsr - dlsr) & 0xFFFFFFFF
    return units * 1000.0 / 65536.0


def parse_compound(packet: bytes) -> tuple[list[SenderReport], list[ReportBlock]]:
    """Sender reports and report blocks of a compound RTCP packet; stops at anything malformed."""
    senders: list[SenderReport] = []
    blocks: list[ReportBlock] = []
    at = 0
    while at + 8 <= len(packet):
        first, kind, words, ssrc = struct.unpack_from("!BBHI", packet, at)
        end = at + 4 * (words + 1)
        if first >> 6 != 2 or end > len(packet):
            break
        count = first & 0x1F
        body = at + 8
        if kind == RTCP_SR and body + 20 <= end:
            ntp_seconds, ntp_fraction = struct.unpack_from("!II", packet, body)
            senders.append(SenderReport(ssrc, ((ntp_seconds & 0xFFFF) << 16) | (ntp_fraction >> 16)))
            body += 20
        if kind in (RTCP_SR, RTCP_RR):
            for i in range(count):
                start = body + 24 * i
                if start + 24 > end:
                    break
                source, lost_word, highest, jitter, lsr, dlsr = struct.unpack_from("!IIIIII", packet, start)
                cumulative = lost_word & 0xFFFFFF
                cumulative -= (1 << 24) if cumulative & 0x800000 else 0
                blocks.append(ReportBlock(ssrc, source, lost_word >> 24, cumulative, highest, jitter, lsr, dlsr))
        at = end
    return senders, blocks


def capture_round_trips(packets: list[tuple[float, bytes]]) -> dict[int, list[float]]:
    """RTT samples (ms) per reported-on SSRC, from RTCP packets seen at one capture point.

    `packets` are (capture time in ms, RTCP bytes) in capture order. Each report block
    whose LSR matches a sender report seen earlier gives RTT = (time of the block's
    packet - time of that sender report) - DLSR.
    """
    seen_sr: dict[tuple[int, int], float] = {}
    samples: dict[int, list[float]] = {}
    for time_ms, packet in packets:
        senders, blocks = parse_compound(packet)
        for block in blocks:
            sent_ms = seen_sr.get((block.source_ssrc, block.lsr))
            if block.lsr and sent_ms is not None:
                samples.setdefault(block.source_ssrc, []).append(time_ms - sent_ms - block.dlsr * 1000.0 / 65536.0)
        for sr in senders:
            seen_sr.setdefault((sr.ssrc, sr.ntp_middle32), time_ms)
    return samples
