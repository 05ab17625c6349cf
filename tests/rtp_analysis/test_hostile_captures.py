"""Hostile captures: each crafted file ends in one sentence and exit 2, or in a documented result; never a
traceback, never a hang, and --json is always JSON (issue 14, section 6).

The last test is a bounded fuzz pass: a few thousand seeded mutations of pcap and pcapng
headers, each read in-process, where only CaptureError may come out.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
import time

import pytest

from callproof.rtp_analysis.capture import analyze_capture
from callproof.rtp_analysis.errors import CaptureError
from callproof.rtp_analysis.pcap import parse_frames
from tests.rtp_analysis import capgen

# Its live tests run the CLI on files and load no pjsua2 (make test runs them once, in the built engine's pass).
pytestmark = pytest.mark.any_engine

A, B = "192.0.2.10", "198.51.100.20"


def analyze(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The CLI as a user runs it, in a child (a traceback or a hang cannot hide)."""
    return subprocess.run([sys.executable, "-P", "-m", "callproof.harness.cli", "analyze", *args],
                          capture_output=True, text=True, timeout=timeout)


def pcapng_with_tsresol(tsresol: int, datagrams: list[capgen.Datagram]) -> bytes:
    """capgen's pcapng, its interface's if_tsresol byte replaced (capgen writes 9: nanoseconds)."""
    data = bytearray(capgen.pcapng_bytes(datagrams))
    option = data.index(struct.pack("<HHB", 9, 1, 9))  # code 9, length 1, value 9
    data[option + 4] = tsresol
    return bytes(data)


def stream(count: int = 60) -> list[capgen.Datagram]:
    datagrams, _ = capgen.rtp_stream(src=A, sport=40000, dst=B, dport=50000, ssrc=0xC0FFEE, count=count)
    return datagrams


@pytest.mark.e2e  # the CLI in a child process (tests/markers.py)
@pytest.mark.parametrize("tsresol, shown", [(20, "10^-20"), (255, "2^-127"), (0x80 | 64, "2^-64")])
def test_a_timestamp_resolution_beyond_64_bits_is_one_sentence(tmp_path, tsresol, shown):
    path = tmp_path / "fine.pcapng"
    path.write_bytes(pcapng_with_tsresol(tsresol, stream()))
    result = analyze(str(path))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (f"callproof: {path} is corrupt: interface 1 claims a timestamp resolution of {shown} s, "
                             "finer than its 64-bit timestamps can count.\n")


@pytest.mark.e2e  # the CLI in a child process (tests/markers.py)
@pytest.mark.parametrize("tsresol", [19, 0x80 | 63, 0])
def test_the_finest_resolutions_that_fit_are_read(tmp_path, tsresol):
    path = tmp_path / "fine.pcapng"
    path.write_bytes(pcapng_with_tsresol(tsresol, stream()))
    result = analyze(str(path), "--json")
    assert result.returncode == 0, result.stderr
    assert [s["packets"] for s in json.loads(result.stdout)] == [60]


@pytest.mark.e2e  # the CLI in a child process (tests/markers.py)
def test_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "capture.pcap"
    os.mkfifo(fifo)
    started = time.monotonic()
    result = analyze(str(fifo), timeout=20)  # it used to wait for a writer forever
    assert time.monotonic() - started < 20
    assert (result.returncode, result.stderr) == (
        2, f"callproof: {fifo} is not a regular file (a FIFO, a device or a socket); save the capture to a file "
           "first.\n")


@pytest.mark.e2e  # the CLI in a child process (tests/markers.py)
def test_a_device_is_refused(tmp_path):
    result = analyze("/dev/zero", timeout=20)
    assert (result.returncode, result.stderr) == (
        2, "callproof: /dev/zero is not a regular file (a FIFO, a device or a socket); save the capture to a file "
           "first.\n")


def sip_invite(sdp_media: str, rtpmap: str) -> capgen.Datagram:
    """An INVITE over UDP whose SDP says where A expects RTP: `sdp_media` is the m= line, `rtpmap` the a= line."""
    sdp = (f"v=0\r\no=- 1 1 IN IP4 {B}\r\ns=x\r\nc=IN IP4 {B}\r\nt=0 0\r\n"
           f"m={sdp_media}\r\na={rtpmap}\r\n")
    head = (f"INVITE sip:b@{B} SIP/2.0\r\nVia: SIP/2.0/UDP {A}:5060;branch=z9hG4bK-1\r\n"
            "From: <sip:a@example.invalid>;tag=a\r\nTo: <sip:b@example.invalid>\r\nCall-ID: hostile-1\r\n"
            "CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(sdp.encode())}\r\n\r\n")
    # Latin-1, as the reader decodes SIP: "²" is the one byte 0xB2, which str.isdigit() calls a digit.
    return capgen.Datagram(0.0, A, 5060, B, 5060, (head + sdp).encode("latin-1"))


@pytest.mark.e2e  # the CLI in a child process (tests/markers.py)
@pytest.mark.parametrize(
    "media, rtpmap, found_by, payload",
    [
        # RFC 4566 9: ASCII digits only. str.isdigit() took the superscripts "¹²³"; int() of them raised.
        ("audio 5\u00b2000 RTP/AVP 0", "rtpmap:0 PCMU/8000", "heuristic", "PCMU/8000"),
        ("audio 50000 RTP/AVP 9\u00b3", "rtpmap:9\u00b3 opus/48000", "sdp", "PT96"),
        ("audio 50000 RTP/AVP 96", "rtpmap:96 opus/4\u00b9000", "sdp", "opus"),
        # A rate of 30 digits, and one below 1000 Hz (Wireshark's jitter divides by rate // 1000): ignored.
        ("audio 50000 RTP/AVP 96", "rtpmap:96 opus/" + "9" * 30, "sdp", "opus"),
        ("audio 50000 RTP/AVP 96", "rtpmap:96 opus/500", "sdp", "opus"),
        ("audio 50000 RTP/AVP 96", "rtpmap:96 L16/999", "sdp", "L16"),
        ("audio 99999 RTP/AVP 96", "rtpmap:96 opus/48000", "heuristic", "PT96"),  # no such port
    ],
)
def test_hostile_sdp_gives_valid_json_and_a_documented_result(tmp_path, media, rtpmap, found_by, payload):
    payload_type = 0 if "RTP/AVP 0" in media else 96
    rtp, _ = capgen.rtp_stream(src=A, sport=40000, dst=B, dport=50000, ssrc=0xC0FFEE, count=60,
                               payload_type=payload_type, start_s=0.1)
    path = tmp_path / "sdp.pcap"
    path.write_bytes(capgen.pcap_bytes(capgen.merge([sip_invite(media, rtpmap)], rtp)))
    result = analyze(str(path), "--json")
    assert result.returncode == 0, result.stderr
    assert "NaN" not in result.stdout and "Infinity" not in result.stdout
    streams = json.loads(result.stdout)  # strict JSON
    assert [(s["found_by"], s["payload"], s["packets"]) for s in streams] == [(found_by, payload, 60)]
    table = analyze(str(path))
    assert table.returncode == 0 and "Traceback" not in table.stderr


@pytest.mark.e2e  # the CLI in a child process (tests/markers.py)
def test_sdp_names_reach_the_table_escaped(tmp_path):
    rtp, _ = capgen.rtp_stream(src=A, sport=40000, dst=B, dport=50000, ssrc=1, count=60, payload_type=96)
    path = tmp_path / "sdp.pcap"
    invite = sip_invite("audio 50000 RTP/AVP 96", "rtpmap:96 \x1b[2J\x1b[32mOK/8000")
    path.write_bytes(capgen.pcap_bytes(capgen.merge([invite], rtp)))
    result = analyze(str(path))
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\\x1b[2J\\x1b[32mOK/8000" in result.stdout


def _mutations(seed: int, cases: int, budget_s: float):
    """Seeded mutations of valid pcap and pcapng files: header bytes, lengths, options, truncations."""
    rng = random.Random(seed)
    sdp = [sip_invite("audio 50000 RTP/AVP 96", "rtpmap:96 opus/48000")]
    bases = [capgen.pcap_bytes(stream(12)), capgen.pcap_bytes(stream(12), nanoseconds=True),
             capgen.pcapng_bytes(stream(12)), capgen.pcapng_bytes(capgen.merge(sdp, stream(12)))]
    swapped = bytearray(bases[0])  # big-endian magic: the other branch of the reader
    swapped[:4] = swapped[3::-1]
    bases.append(bytes(swapped))
    deadline = time.monotonic() + budget_s
    for case in range(cases):
        if time.monotonic() > deadline:
            return
        data = bytearray(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            how = rng.random()
            # Mostly the headers: pcap's file header and first record, pcapng's SHB, IDB and its options
            # (if_tsresol is byte 48), the first packet blocks.
            at = rng.randrange(min(len(data), 64 if rng.random() < 0.6 else 160))
            if how < 0.55:
                data[at] = rng.choice([0, 1, 9, 19, 20, 63, 64, 0x7F, 0x80, 0xBF, 0xC0, 0xFF, rng.randrange(256)])
            elif how < 0.8:
                data[at:at + 4] = struct.pack("<I", rng.choice([0, 1, 3, 4, 8, 12, 28, 0xFFFF, 1 << 18, 0x7FFFFFFF,
                                                                0xFFFFFFFF, rng.randrange(1 << 32)]))
            elif how < 0.9:
                del data[rng.randrange(1, len(data)):]
            else:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        yield case, bytes(data)


def test_fuzzed_capture_headers_never_raise_anything_but_a_capture_error():
    import numpy as np

    seen = errors = 0
    for case, data in _mutations(seed=14, cases=4000, budget_s=90):
        seen += 1
        try:
            parse_frames(np.frombuffer(data, np.uint8), f"case-{case}.pcap")
        except CaptureError:
            errors += 1
    assert seen >= 1000, f"only {seen} cases in the time budget"
    assert 0 < errors < seen  # both outcomes happen: the mutations reach past the magic numbers


def test_fuzzed_captures_analyze_without_a_traceback(tmp_path):
    """The whole of analyze (frames, datagrams, SDP, streams, figures) on a share of the mutations."""
    path = tmp_path / "case.pcap"
    for _, data in _mutations(seed=15, cases=600, budget_s=90):
        path.write_bytes(data)
        try:
            reports = analyze_capture(path)
        except CaptureError:
            continue
        json.dumps([r.to_json() for r in reports], allow_nan=False)  # always strict JSON
