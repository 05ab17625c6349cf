"""Capture files: formats, record walking, and one exact sentence for every bad file."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from callproof.harness.cli import main as cli_main
from callproof.rtp_analysis.capture import analyze_capture
from callproof.rtp_analysis.errors import CaptureError
from callproof.rtp_analysis.net import udp_datagrams
from callproof.rtp_analysis.pcap import parse_frames, read_frames
from tests.rtp_analysis import capgen


def _datagrams(sizes):
    return [
        capgen.Datagram(0.02 * i, "10.0.0.1", 4000, "10.0.0.2", 5000, bytes([0x80, 0, 0, i % 256]) + b"\0" * (size - 4))
        for i, size in enumerate(sizes)
    ]


def test_record_chain_handles_every_mix_of_lengths(tmp_path):
    rng = np.random.default_rng(3)
    # Runs of equal lengths, single odd records, and alternation: all must be walked exactly.
    sizes = [172] * 300 + [33] + [172] * 5 + list(rng.integers(12, 1400, 200)) + [60, 61] * 50 + [172] * 70
    path = tmp_path / "mixed.pcap"
    path.write_bytes(capgen.pcap_bytes(_datagrams(sizes)))
    frames = read_frames(path)
    datagrams = udp_datagrams(frames, str(path))
    assert len(frames) == len(sizes)
    assert datagrams.payload_length.tolist() == sizes
    assert (np.diff(frames.ts_sec * 10**9 + frames.ts_nsec) > 0).all()


def test_big_endian_pcap_reads_like_little_endian(tmp_path):
    little = capgen.pcap_bytes(_datagrams([100, 200, 300]))
    header = struct.unpack("<IHHiIII", little[:24])
    records, at = [], 24
    while at < len(little):
        ts, us, incl, orig = struct.unpack("<IIII", little[at : at + 16])
        records.append(struct.pack(">IIII", ts, us, incl, orig) + little[at + 16 : at + 16 + incl])
        at += 16 + incl
    big = struct.pack(">IHHiIII", *header) + b"".join(records)
    a = parse_frames(np.frombuffer(little, np.uint8), "little")
    b = parse_frames(np.frombuffer(big, np.uint8), "big")
    assert a.caplen.tolist() == b.caplen.tolist()
    assert a.ts_nsec.tolist() == b.ts_nsec.tolist()


def _bad(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


GOOD = capgen.pcap_bytes(_datagrams([172, 172]))  # 24 + 2 * (16 + 214) bytes
GOOD_NG = capgen.pcapng_bytes(_datagrams([172]))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "{path} is empty (0 bytes), not a pcap or pcapng capture."),
        (b"\x01\x02", "{path} is not a pcap or pcapng capture (only 2 bytes)."),
        (
            b"hello, world\n",
            "{path} is not a pcap or pcapng capture (it starts with bytes 68656c6c, no capture magic number).",
        ),
        (GOOD[:20], "{path} is truncated: its pcap file header needs 24 bytes, the file has 20."),
        (GOOD[:24], "{path} is a valid capture but holds no packets."),
        (GOOD[:30], "{path} is truncated: record 1 at byte 24 needs a 16-byte header but the file ends at byte 30."),
        (
            GOOD[:-1],
            "{path} is truncated: record 2 at byte 254 claims 214 bytes of packet data but the file ends at byte 483.",
        ),
        (GOOD_NG[:-3], "{path} is truncated: block 3 at byte 60 claims 248 bytes but the file ends at byte 305."),
        (
            GOOD[:20] + struct.pack("<I", 147) + GOOD[24:],
            "{path} uses link type 147, which callproof cannot read (it reads "
            "0 (BSD loopback), 1 (Ethernet), 101 (raw IP), 108 (OpenBSD loopback), 113 (Linux cooked (SLL)), "
            "228 (raw IPv4), 229 (raw IPv6), 276 (Linux cooked v2 (SLL2))).",
        ),
    ],  # fmt: skip
    ids=[
        "empty",
        "two_bytes",
        "text",
        "short_header",
        "no_packets",
        "cut_record_header",
        "cut_record_data",
        "cut_pcapng_block",
        "unknown_linktype",
    ],  # fmt: skip
)
def test_bad_capture_exits_2_with_one_sentence(tmp_path, capsys, data, message):
    path = _bad(tmp_path, "bad.pcap", data)
    assert cli_main(["analyze", path]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "callproof: " + message.format(path=path) + "\n"


def test_missing_file_exits_2(tmp_path, capsys):
    assert cli_main(["analyze", str(tmp_path / "nope.pcap")]) == 2
    assert capsys.readouterr().err == f"callproof: {tmp_path / 'nope.pcap'} does not exist.\n"


def test_capture_without_rtp_says_so(tmp_path, capsys):
    sip_only = [capgen.Datagram(0.0, "10.0.0.1", 5060, "10.0.0.2", 5060, b"OPTIONS sip:x@y SIP/2.0\r\n\r\n")]
    path = _bad(tmp_path, "sip.pcap", capgen.pcap_bytes(sip_only))
    assert cli_main(["analyze", path]) == 0
    assert capsys.readouterr().out == "No RTP streams found.\n"


def test_capture_error_is_a_value_error_with_the_sentence():
    with pytest.raises(CaptureError, match=r"^x is empty \(0 bytes\), not a pcap or pcapng capture\.$"):
        parse_frames(np.zeros(0, np.uint8), "x")


def _raw_pcap(frames: list[bytes]) -> bytes:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, capgen.ETHERNET)]
    for i, frame in enumerate(frames):
        out.append(struct.pack("<IIII", 1_700_000_000, 20_000 * i, len(frame), len(frame)) + frame)
    return b"".join(out)


def test_non_udp_fragments_and_short_frames_are_skipped_not_fatal(tmp_path):
    stream, _ = capgen.rtp_stream(src="10.0.0.1", sport=4000, dst="10.0.0.2", dport=5000, ssrc=7, count=20)
    rtp = [capgen.link_frame(d, capgen.ETHERNET) for d in stream]
    arp = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + b"\0" * 28
    fragment = bytearray(rtp[0])
    fragment[14 + 6] |= 0x20  # IPv4 "more fragments": not a whole UDP datagram
    tcp = bytearray(rtp[1])
    tcp[14 + 9] = 6
    cut_short = rtp[2][:30]  # captured length ends inside the IPv4 header
    frames = read_frames(
        _bad(tmp_path, "mixed.pcap", _raw_pcap([arp, bytes(fragment), bytes(tcp), cut_short] + rtp + [b"\x01"]))
    )
    datagrams = udp_datagrams(frames, "mixed.pcap")
    assert len(frames) == 4 + 20 + 1
    assert datagrams.frame.tolist() == list(range(4, 24))
    assert (datagrams.payload_length == 172).all()


def test_longest_headers_still_reach_the_rtp_header(tmp_path):
    """Two VLAN tags and a 60-byte IPv4 header (40 bytes of options): RTP ends at byte 102."""
    stream, _ = capgen.rtp_stream(src="10.0.0.1", sport=4000, dst="10.0.0.2", dport=5000, ssrc=9, count=12)
    frames = []
    for d in stream:
        ip = capgen.ip_udp(d)
        options = b"\x01" * 40  # NOP options
        header = bytearray(ip[:20])
        header[0] = 0x4F
        header[2:4] = struct.pack("!H", len(ip) + 40)
        frames.append(
            b"\x02" * 12 + struct.pack("!HHHH", 0x88A8, 1, 0x8100, 2) + b"\x08\x00" + bytes(header) + options + ip[20:]
        )
    path = _bad(tmp_path, "long.pcap", _raw_pcap(frames))
    (report,) = analyze_capture(path)
    assert (report.ssrc, report.packets, report.lost) == (9, 12, 0)
