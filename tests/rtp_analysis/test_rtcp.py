"""RTCP: compound SR/RR parsing and the round trip a capture shows (RFC 3550 6.4.1)."""

from __future__ import annotations

import struct

import pytest

from callproof.rtp_analysis.capture import analyze_capture
from callproof.rtp_analysis.emodel import EModelInput, rating
from callproof.rtp_analysis.rtcp import ReportBlock, SenderReport, capture_round_trips, parse_compound
from tests.rtp_analysis import capgen

A, B = "10.0.0.1", "10.0.0.2"
SSRC_A, SSRC_B = 0xA0A0A0A0, 0xB0B0B0B0


def sender_report(ssrc: int, ntp_seconds: int, ntp_fraction: int) -> bytes:
    return struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc, ntp_seconds, ntp_fraction, 0, 0, 0)


def receiver_report(reporter: int, source: int, *, lost: int, lsr: int, dlsr: int) -> bytes:
    block = struct.pack("!IIIIII", source, (5 << 24) | (lost & 0xFFFFFF), 71000, 33, lsr, dlsr)
    return struct.pack("!BBHI", 0x81, 201, 7, reporter) + block


def test_compound_packet_parses_exactly():
    sr = sender_report(SSRC_A, 0x12345678, 0x9ABCDEF0)
    rr = receiver_report(SSRC_B, SSRC_A, lost=-3, lsr=0x56789ABC, dlsr=0x00018000)
    senders, blocks = parse_compound(sr + rr)
    assert senders == [SenderReport(SSRC_A, 0x56789ABC)]
    assert blocks == [ReportBlock(SSRC_B, SSRC_A, 5, -3, 71000, 33, 0x56789ABC, 0x00018000)]
    assert parse_compound(rr[:20]) == ([], [])  # cut short: nothing half-read


def test_round_trip_from_capture_times():
    sr = sender_report(SSRC_A, 1000, 0x80000000)  # middle 32 bits: 0x03E88000
    rr = receiver_report(SSRC_B, SSRC_A, lost=0, lsr=0x03E88000, dlsr=0x8000)  # DLSR 0.5 s
    samples = capture_round_trips([(1000.0, sr), (1000.0 + 80.0 + 500.0, rr)])
    assert samples == {SSRC_A: [pytest.approx(80.0)]}
    # An RR echoing an SR the capture never saw gives no sample.
    assert capture_round_trips([(1580.0, rr)]) == {}


def test_stream_mos_uses_the_captured_round_trip(tmp_path):
    stream, _ = capgen.rtp_stream(src=A, sport=40000, dst=B, dport=50000, ssrc=SSRC_A, count=300)
    sr = sender_report(SSRC_A, 3_900_000_000, 0)
    rtcp = [
        capgen.Datagram(1.0, A, 40001, B, 50001, sr),
        capgen.Datagram(1.0 + 0.240 + 1.0, B, 50001, A, 40001,
                        receiver_report(SSRC_B, SSRC_A, lost=0, lsr=(3_900_000_000 & 0xFFFF) << 16, dlsr=65536)),
    ]  # fmt: skip
    path = tmp_path / "rtcp.pcap"
    path.write_bytes(capgen.pcap_bytes(capgen.merge(stream, rtcp)))
    (report,) = analyze_capture(path)
    assert report.rtt_ms == pytest.approx(240.0, abs=1e-6)
    assert report.one_way_delay_ms == pytest.approx(140.0, abs=1e-6)  # 240 / 2 + 20 ms packets
    assert report.mos_cqe == pytest.approx(rating(EModelInput(bpl=25.1, ta_ms=140.0)).mos_cqe)
