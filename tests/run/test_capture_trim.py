"""keep_only_ports: the run's capture keeps the exact ports its records name (issue 14, section 4)."""

from __future__ import annotations

from scapy.all import IP, UDP, CookedLinux, Raw, rdpcap, wrpcap

from callproof.harness.run.capture import keep_only_ports


def _frame(sport: int, dport: int, n: int):
    frame = CookedLinux(pkttype=0, lladdrtype=772, proto=0x0800) / IP(src="127.0.0.1", dst="127.0.0.1") / \
        UDP(sport=sport, dport=dport) / Raw(b"\x80\x00" + n.to_bytes(2, "big") + bytes(168))
    frame.time = 1_700_000_000 + n / 50
    return frame


def test_only_the_named_ports_stay_in_file_order(tmp_path):
    path = tmp_path / "media.pcap"
    # Our call (40000 <-> 40002, RTCP on 40001) and another program's stream inside our range (40010 -> 40020).
    frames = [_frame(40000, 40002, 0), _frame(40010, 40020, 1), _frame(40002, 40000, 2), _frame(40001, 40003, 3),
              _frame(40020, 40010, 4)]
    wrpcap(str(path), frames)
    assert keep_only_ports(path, {40000, 40001, 40002, 40003}) == (3, 2)
    # scapy, independently of our reader, sees exactly our three frames, in order, bytes and times intact.
    kept = rdpcap(str(path))
    assert [(p[UDP].sport, p[UDP].dport) for p in kept] == [(40000, 40002), (40002, 40000), (40001, 40003)]
    assert [bytes(p) for p in kept] == [bytes(frames[i]) for i in (0, 2, 3)]
    assert [float(p.time) for p in kept] == [float(frames[i].time) for i in (0, 2, 3)]
    assert not path.with_name("media.pcap.partial").exists()


def test_nothing_to_rewrite_is_left_alone(tmp_path):
    assert keep_only_ports(tmp_path / "missing.pcap", {1}) is None
    empty = tmp_path / "empty.pcap"
    wrpcap(str(empty), [])
    before = empty.read_bytes()
    assert keep_only_ports(empty, {1}) is None and empty.read_bytes() == before
