"""`callproof analyze --json` against `tshark -q -z rtp,streams` on generated captures.

Packets and lost must be equal; max delta and mean/max jitter within 0.01 ms (tshark
prints three decimals). lost_rfc3550, duplicates and reordered must equal what the
generator injected. The timing columns follow Wireshark 4.0's rules, which 4.2 changed for
packets out of timestamp order: where tshark is another version, they are held to tshark 4.0's
recorded rows (tests/rtp_analysis/tshark.py), packets and lost to the installed tshark too.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from callproof.harness.cli import main as cli_main
from tests.rtp_analysis import capgen
from tests.rtp_analysis.tshark import ported_rtp_streams

TOLERANCE_MS = 0.01
A, B = "10.0.0.1", "10.0.0.2"


def _stream(**kwargs):
    defaults = dict(src=A, sport=40000, dst=B, dport=50000, ssrc=0x11223344, count=500)
    defaults.update(kwargs)
    return capgen.rtp_stream(**defaults)


def _drop(rng, count, how_many):
    return frozenset(rng.choice(np.arange(1, count - 1), how_many, replace=False).tolist())


def _scenarios():
    rng = np.random.default_rng(20240501)
    out = {}
    out["clean"] = [_stream()]
    out["loss"] = [_stream(drop=_drop(rng, 500, 15))]
    out["burst_loss"] = [_stream(drop=frozenset(range(100, 106)) | frozenset(range(300, 310)) | {400})]
    out["reorder"] = [_stream(swap_after=frozenset({50, 120, 121 + 1, 260, 390}))]
    out["duplicates"] = [_stream(duplicate=frozenset({10, 99, 250, 251, 480}))]
    out["wrap"] = [_stream(first_seq=65_300, count=600, drop=frozenset({230, 235, 236, 240}))]
    out["jitter"] = [_stream(jitter_ms=rng.normal(0, 4, 500))]
    out["everything"] = [
        _stream(
            first_seq=65_480,
            first_ts=4_294_960_000,  # the RTP timestamp wraps too
            drop=_drop(rng, 500, 10) - {49, 50, 51, 200, 201},
            duplicate=frozenset({49, 200}),
            swap_after=frozenset({50}),
            jitter_ms=rng.normal(0, 2, 500),
        )
    ]
    out["two_streams"] = [
        _stream(drop=frozenset({7, 8, 9})),
        _stream(src=B, sport=50000, dst=A, dport=40000, ssrc=0xCAFEF00D, count=450, start_s=0.0071,
                payload_type=8, jitter_ms=rng.normal(0, 1.5, 450)),
    ]  # fmt: skip
    return out


SCENARIOS = _scenarios()
LINK_VARIANTS = {
    "ethernet_pcap": dict(writer="pcap", linktype=capgen.ETHERNET),
    "pcap_nanoseconds": dict(writer="pcap", linktype=capgen.ETHERNET, nanoseconds=True),
    "pcapng": dict(writer="pcapng", linktype=capgen.ETHERNET),
    "vlan_802_1q": dict(writer="pcap", linktype=capgen.ETHERNET, vlan=42),
    "linux_sll": dict(writer="pcap", linktype=capgen.SLL),
    "linux_sll2": dict(writer="pcap", linktype=capgen.SLL2),
    "raw_ip": dict(writer="pcap", linktype=capgen.RAW),
    "null_loopback": dict(writer="pcap", linktype=capgen.NULL),
    "ipv6_pcapng_sll2": dict(writer="pcapng", linktype=capgen.SLL2, ipv6=True),
}


def _write(path, datagrams, writer, ipv6=False, **options):
    if ipv6:
        to6 = {A: "2001:db8::1", B: "2001:db8::2"}
        datagrams = [capgen.Datagram(d.time_s, to6[d.src], d.sport, to6[d.dst], d.dport, d.payload) for d in datagrams]
    data = capgen.pcap_bytes(datagrams, **options) if writer == "pcap" else capgen.pcapng_bytes(datagrams, **options)
    path.write_bytes(data)
    return str(path)


def analyze_json(path: str, capsys) -> list[dict]:
    assert cli_main(["analyze", path, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def assert_matches_tshark(ours: list[dict], theirs) -> None:
    assert len(ours) == len(theirs), (ours, theirs)
    by_key = {(s["src"], s["src_port"], s["dst"], s["dst_port"], s["ssrc"]): s for s in ours}
    for row in theirs:
        mine = by_key[row.key]
        assert mine["packets"] == row.packets
        assert mine["lost"] == row.lost
        assert mine["max_delta_ms"] == pytest.approx(row.max_delta_ms, abs=TOLERANCE_MS)
        assert mine["mean_jitter_ms"] == pytest.approx(row.mean_jitter_ms, abs=TOLERANCE_MS)
        assert mine["max_jitter_ms"] == pytest.approx(row.max_jitter_ms, abs=TOLERANCE_MS)
        assert mine["problem"] == row.problem


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_agrees_with_tshark_and_ground_truth(scenario, tmp_path, capsys):
    streams = SCENARIOS[scenario]
    path = _write(tmp_path / f"{scenario}.pcap", capgen.merge(*(s for s, _ in streams)), "pcap")
    ours = analyze_json(path, capsys)
    assert_matches_tshark(ours, ported_rtp_streams(path))
    for (datagrams, truth), report in zip(streams, ours, strict=True):
        assert report["ssrc"] == RtpHeaderSsrc(datagrams)
        assert report["lost_rfc3550"] == truth.lost_rfc3550
        assert report["lost_unique"] == truth.lost
        assert report["duplicates"] == truth.duplicates
        assert report["reordered"] == truth.reordered
        assert report["packets"] == truth.sent - truth.lost + truth.duplicates


def RtpHeaderSsrc(datagrams) -> int:
    return int.from_bytes(datagrams[0].payload[8:12], "big")


@pytest.mark.parametrize("variant", sorted(LINK_VARIANTS))
def test_link_types_and_formats_agree_with_tshark(variant, tmp_path, capsys):
    streams = SCENARIOS["two_streams"]
    path = _write(tmp_path / f"{variant}.cap", capgen.merge(*(s for s, _ in streams)), **LINK_VARIANTS[variant])
    ours = analyze_json(path, capsys)
    theirs = ported_rtp_streams(path)
    assert len(theirs) == 2
    assert_matches_tshark(ours, theirs)
    if LINK_VARIANTS[variant].get("ipv6"):
        assert {s["src"] for s in ours} == {"2001:db8::1", "2001:db8::2"}


def test_dynamic_payload_type_named_by_sdp_agrees_with_tshark(tmp_path, capsys):
    """Opus on dynamic PT 96 and telephone-event on 101, announced by INVITE/200 OK SDP.

    tshark runs without RTP heuristics here: it finds the streams through the SDP,
    as callproof does.
    """
    call = "c0ffee@callproof.test"
    invite = capgen.sip_with_sdp(
        time_s=0.0,
        src=A,
        dst=B,
        call_id=call,
        first_line=f"INVITE sip:callee@{B} SIP/2.0",
        media_address=A,
        media_port=40000,
        formats="96 101",
    )
    ok = capgen.sip_with_sdp(time_s=0.05, src=B, dst=A, call_id=call, first_line="SIP/2.0 200 OK",
                             media_address=B, media_port=50000, formats="96 101")  # fmt: skip
    rng = np.random.default_rng(5)
    opus, truth = _stream(start_s=0.1, payload_type=96, ts_step=960, drop=frozenset({30, 31}), payload_bytes=80,
                          jitter_ms=rng.normal(0, 2, 500))  # fmt: skip
    # An RFC 4733 event mid-stream: same SSRC and sequence space, timestamp frozen, marker on the first.
    events = []
    for i, datagram in enumerate(opus):
        if 200 <= i < 205:
            header = bytearray(datagram.payload[:12])
            header[1] = (0x80 if i == 200 else 0) | 101
            header[4:8] = opus[200].payload[4:8]
            events.append(capgen.Datagram(datagram.time_s, A, 40000, B, 50000, bytes(header) + b"\x01\x0a\x00\xa0"))
        else:
            events.append(datagram)
    back, _ = _stream(src=B, sport=50000, dst=A, dport=40000, ssrc=0x5EED, start_s=0.11, payload_type=96, ts_step=960)
    path = _write(tmp_path / "sdp.pcapng", capgen.merge([invite, ok], events, back), "pcapng")
    ours = analyze_json(path, capsys)
    assert_matches_tshark(ours, ported_rtp_streams(path, heuristic=False))
    first = ours[0]
    assert first["found_by"] == "sdp"
    assert first["call_id"] == call
    assert first["payload_type"] == 96
    assert first["payload"] == "opus/48000, telephone-event/8000"
    assert first["lost_rfc3550"] == truth.lost_rfc3550 == 2
    assert first["mos_cqe"] is None
    assert "G.107.1" in first["mos_reason"]


def test_scapy_crafted_ipv6_vlan_pcapng_agrees_with_tshark(tmp_path, capsys):
    """Packets crafted and written by scapy, not by our own generator: 802.1Q, IPv6, pcapng."""
    from scapy.layers.inet import UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Dot1Q, Ether
    from scapy.packet import Raw
    from scapy.utils import PcapNgWriter

    rng = np.random.default_rng(11)
    datagrams, truth = _stream(count=300, drop=frozenset({40, 41, 42, 200}), duplicate=frozenset({100}),
                               swap_after=frozenset({150}), jitter_ms=rng.normal(0, 3, 300))  # fmt: skip
    path = tmp_path / "scapy.pcapng"
    with PcapNgWriter(str(path)) as writer:
        for d in datagrams:
            packet = (
                Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                / Dot1Q(vlan=7)
                / IPv6(src="fd00::1", dst="fd00::2")
                / UDP(sport=d.sport, dport=d.dport)
                / Raw(d.payload)
            )
            packet.time = 1_700_000_000 + d.time_s
            writer.write(packet)
    ours = analyze_json(str(path), capsys)
    assert_matches_tshark(ours, ported_rtp_streams(str(path)))
    (report,) = ours
    assert (report["src"], report["dst"]) == ("fd00::1", "fd00::2")
    assert (report["lost_rfc3550"], report["duplicates"], report["reordered"]) == (
        truth.lost_rfc3550, truth.duplicates, truth.reordered)  # fmt: skip


def test_json_keys_are_the_documented_list_first(tmp_path, capsys):
    path = _write(tmp_path / "keys.pcap", SCENARIOS["clean"][0][0], "pcap")
    (report,) = analyze_json(path, capsys)
    documented = ["src", "src_port", "dst", "dst_port", "ssrc", "payload_type", "packets", "lost", "lost_rfc3550",
                  "duplicates", "reordered", "max_delta_ms", "mean_jitter_ms", "max_jitter_ms", "mos_cqe"]  # fmt: skip
    assert list(report)[: len(documented)] == documented
    assert report["ssrc"] == 0x11223344 and isinstance(report["ssrc"], int)
    # A clean 20 ms PCMU stream: G.107 defaults with Ta = 20 ms, no loss.
    assert round(report["mos_cqe"], 2) == 4.41


def test_table_prints_one_row_per_stream(tmp_path, capsys):
    path = _write(tmp_path / "table.pcap", capgen.merge(*(s for s, _ in SCENARIOS["two_streams"])), "pcap")
    assert cli_main(["analyze", path]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["SOURCE", "DESTINATION", "SSRC", "PAYLOAD", "PACKETS", "LOST", "MAX", "DELTA", "ms",
                                "MEAN", "JITTER", "ms", "MAX", "JITTER", "ms", "MOS-CQE"]  # fmt: skip
    first = lines[1].split()
    assert first[:6] == ["10.0.0.1:40000", "10.0.0.2:50000", "0x11223344", "PCMU/8000", "497", "3"]
    assert lines[2].split()[:6] == ["10.0.0.2:50000", "10.0.0.1:40000", "0xCAFEF00D", "PCMA/8000", "450", "0"]
    assert lines[4].startswith("Lost, deltas and jitter as Wireshark counts them")


def _many_streams(count: int, seed: int):
    """`count` streams of 12-40 packets, each with its own loss, duplicate, reorder, wrap and jitter."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        packets = int(rng.integers(12, 41))
        pool = [int(v) for v in rng.permutation(np.arange(2, packets - 2))]
        swap = frozenset(pool[:1]) if rng.random() < 0.2 else frozenset()
        pool = [v for v in pool if all(abs(v - s) > 1 for s in swap)]
        drops = int(rng.integers(0, 3))
        drop = frozenset(pool[:drops])
        duplicate = frozenset(pool[drops : drops + 1]) if rng.random() < 0.2 else frozenset()
        out.append(
            capgen.rtp_stream(
                src=f"10.1.{k // 200}.{k % 200 + 1}", sport=16384 + 2 * k, dst=B, dport=40000 + 2 * (k % 1000),
                ssrc=0x1000 + k, count=packets, payload_type=int(rng.choice([0, 8])),
                first_seq=int(rng.integers(0, 65536)), first_ts=int(rng.integers(0, 1 << 32)),
                start_s=k * 0.0013, drop=drop, duplicate=duplicate, swap_after=swap,
                jitter_ms=rng.normal(0, 2, packets),
            )
        )  # fmt: skip
    return out


def test_two_thousand_streams_agree_with_tshark(tmp_path, capsys):
    """Issue 15: every figure is computed for all streams at once; stream boundaries must not leak."""
    streams = _many_streams(2000, seed=15)
    path = _write(tmp_path / "many.pcap", capgen.merge(*(s for s, _ in streams)), "pcap")
    ours = analyze_json(path, capsys)
    theirs = ported_rtp_streams(path)
    assert len(theirs) == 2000
    assert_matches_tshark(ours, theirs)
    by_ssrc = {report["ssrc"]: report for report in ours}
    for datagrams, truth in streams:
        report = by_ssrc[RtpHeaderSsrc(datagrams)]
        assert (report["lost_rfc3550"], report["lost_unique"]) == (truth.lost_rfc3550, truth.lost)
        assert (report["duplicates"], report["reordered"]) == (truth.duplicates, truth.reordered)


def test_json_text_is_json_dumps_with_indent():
    from callproof.harness.commands.analyze import json_text

    objects = [
        {"src": "10.0.0.1", "n": 1, "x": 0.1, "none": None, "yes": True, "text": 'a},\n    {"b": é\\'},
        {"src": "", "n": -2, "x": -0.0, "none": None, "yes": False, "text": "\u2028"},
    ]
    assert json_text(objects) == json.dumps(objects, indent=2, allow_nan=False)
    assert json_text(objects[:1]) == json.dumps(objects[:1], indent=2, allow_nan=False)
    assert json_text([]) == json.dumps([], indent=2)
    with pytest.raises(ValueError):
        json_text([{"x": float("nan")}])


def test_json_in_slices_is_one_document(tmp_path, capsys, monkeypatch):
    """The CLI writes the reports a slice at a time; the text is json.dumps(indent=2) of them all."""
    from callproof.harness.commands import analyze

    streams = _many_streams(5, seed=2)
    path = _write(tmp_path / "five.pcap", capgen.merge(*(s for s, _ in streams)), "pcap")
    monkeypatch.setattr(analyze, "JSON_SLICE", 2)
    assert cli_main(["analyze", path, "--json"]) == 0
    text = capsys.readouterr().out
    reports = json.loads(text)
    assert len(reports) == 5
    assert text == json.dumps(reports, indent=2) + "\n"
