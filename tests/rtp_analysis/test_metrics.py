"""RFC 3550 pieces (header, A.1, A.3, A.8, 6.4.1), G.711, and the Wireshark port's rules."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from callproof.rtp_analysis.errors import CaptureError
from callproof.rtp_analysis.jitter import interarrival_jitter
from callproof.rtp_analysis.loss import burst_ratio, loss_stats
from callproof.rtp_analysis.rtcp import ntp_middle32, round_trip_ms
from callproof.rtp_analysis.sequence import extend_sequence
from callproof.rtp_analysis.wireshark import wireshark_stats
from tests.rtp_analysis.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from tests.rtp_analysis.rtp_header import RtpHeader

PACKET = bytes.fromhex("80e1 0457 00012c00 deadbeef".replace(" ", ""))


def test_rtp_header_round_trip():
    header = RtpHeader.parse(PACKET)
    assert header == RtpHeader(payload_type=97, sequence_number=0x0457, timestamp=0x12C00, ssrc=0xDEADBEEF, marker=True)
    assert bytes(header) == PACKET


@pytest.mark.parametrize("length", range(12))
def test_rtp_header_truncated(length):
    with pytest.raises(CaptureError, match=rf"^RTP header is truncated: {length} bytes, the fixed header needs 12\.$"):
        RtpHeader.parse(PACKET[:length])


def test_extended_sequence_wraps_and_classifies():
    seq = np.array([65533, 65534, 65535, 1, 0, 2, 2, 5], dtype=np.uint16)  # 0 late, 2 duplicated, 3-4 lost
    ext = extend_sequence(seq)
    assert ext.extended.tolist() == [65533, 65534, 65535, 65537, 65536, 65538, 65538, 65541]
    stats = loss_stats(ext)
    assert (stats.expected, stats.received, stats.lost) == (9, 8, 1)
    assert (stats.lost_unique, stats.duplicates, stats.reordered) == (2, 1, 1)
    assert (stats.loss_runs, stats.max_loss_run) == (1, 2)


def test_a1_resyncs_after_a_source_restart():
    # A jump of 20000: the first packet after it is discarded, the second re-syncs.
    seq = np.array([100, 101, 102, 20000, 20001, 20002, 20004], dtype=np.uint16)
    ext = extend_sequence(seq)
    assert ext.accepted.tolist() == [True, True, True, False, True, True, True]
    assert ext.segment.tolist() == [0, 0, 0, 0, 1, 1, 1]
    stats = loss_stats(ext)
    assert (stats.expected, stats.received, stats.lost_unique) == (3 + 4, 6, 1)


def test_burst_ratio_by_hand():
    # 20 lost in 4 runs of 1000 expected: mean run 5, random would give 1/(1-0.02).
    assert burst_ratio(20, 4, 1000) == pytest.approx(5 * 0.98)
    assert burst_ratio(0, 0, 1000) == 1.0


def test_a8_jitter_by_hand():
    # 8 kHz, 20 ms packets; the third arrives 4 ms late, the fourth on time.
    arrival = np.array([0.0, 0.020, 0.044, 0.060])
    ts = np.array([0, 160, 320, 480], dtype=np.uint32)
    j = interarrival_jitter(arrival, ts, 8000)
    # |D| = 0, 32 units (4 ms), 32 units: J = 0, 0, 2, 2 + (32 - 2)/16
    assert j.tolist() == pytest.approx([0.0, 0.0, 2.0, 3.875])


def test_rtt_worked_example_of_rfc_3550_6_4_1():
    # Figure 2: A = 0xb710:8000, LSR = 0xb705:2000, DLSR = 0x0005:4000 -> 6.125 s.
    assert round_trip_ms(0xB7108000, 0xB7052000, 0x00054000) == 6125.0
    assert round_trip_ms(0xB7108000, 0, 0) is None
    assert ntp_middle32(0.0) == (2_208_988_800 << 16) & 0xFFFFFFFF


def test_g711_is_bit_exact_with_the_reference_routines():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop  # the Sun/CCITT routines: Python 3.11's own, audioop-lts on 3.13
    x = np.arange(-32768, 32768, dtype=np.int16)
    codes = np.arange(256, dtype=np.uint8)
    assert (ulaw_encode(x) == np.frombuffer(audioop.lin2ulaw(x.tobytes(), 2), np.uint8)).all()
    assert (alaw_encode(x) == np.frombuffer(audioop.lin2alaw(x.tobytes(), 2), np.uint8)).all()
    assert (ulaw_decode(codes) == np.frombuffer(audioop.ulaw2lin(codes.tobytes(), 2), np.int16)).all()
    assert (alaw_decode(codes) == np.frombuffer(audioop.alaw2lin(codes.tobytes(), 2), np.int16)).all()


def _ws(time_ms, seq, ts, pt=None, marker=None, clock=8000):
    n = len(time_ms)
    return wireshark_stats(
        np.asarray(time_ms, dtype=float),
        np.asarray(seq, dtype=np.uint16),
        np.asarray(ts, dtype=np.uint32),
        np.asarray(pt if pt is not None else [0] * n, dtype=np.uint8),
        np.asarray(marker if marker is not None else [False] * n),
        np.full(n, clock),
    )


def test_wireshark_jitter_and_means_by_hand():
    # Packet 3 is 4 ms late: diff 4 -> J = 0.25; packet 4 on time -> diff 4 again (relative
    # to the late packet's time), J = (15 * 0.25 + 4) / 16 = 0.484375.
    s = _ws([0, 20, 44, 60], [1, 2, 3, 4], [0, 160, 320, 480])
    assert (s.max_jitter_ms, s.min_jitter_ms) == (0.484375, 0.0)
    assert s.mean_jitter_ms == pytest.approx((0 + 0.25 + 0.484375) / 3)
    assert (s.max_delta_ms, s.min_delta_ms, s.mean_delta_ms) == (24.0, 16.0, 20.0)
    assert (s.lost, s.sequence_errors, s.problem) == (0, 0, False)


def test_wireshark_skips_marker_packets_but_keeps_dividing_by_all_packets():
    # The marker packet's 100 ms gap is not a max delta, yet the mean divides by n seen.
    s = _ws([0, 20, 120, 150], [1, 2, 3, 4], [0, 160, 960, 1120], marker=[False, False, True, False])
    assert s.max_delta_ms == 30.0
    assert s.mean_delta_ms == pytest.approx((20 * 2 + 30) / 3)  # m = 20 after packet 2, then (m * 2 + 30) / 3


def test_wireshark_counts_cycles_and_sequence_errors():
    s = _ws([0, 20, 40, 60, 80], [65534, 65535, 1, 0, 2], [0, 160, 480, 320, 640])
    assert s.expected == 2 + 65536 - 65534 + 1  # last seq 2, one cycle
    assert s.lost == 0
    assert s.sequence_errors == 2  # the jump to 1 and the late 0
    assert s.wrong_timestamps == 0 and s.problem


def test_a1_discards_a_lone_wild_packet():
    seq = np.array([10, 11, 30000, 12, 13], dtype=np.uint16)  # one stray number, no restart
    ext = extend_sequence(seq)
    assert ext.accepted.tolist() == [True, True, False, True, True]
    stats = loss_stats(ext)
    assert (stats.expected, stats.received, stats.lost, stats.lost_unique) == (4, 4, 0, 0)


def test_vectorised_fast_paths_equal_the_state_machines():
    """The vectorised readings of A.1 and of Wireshark's sequence counter must give what
    the packet-by-packet state machines give, on streams built to wrap, jump and reorder."""
    from callproof.rtp_analysis.sequence import _update_seq
    from callproof.rtp_analysis.wireshark import _sequence_errors, _sequence_errors_stepwise

    rng = np.random.default_rng(0)
    for trial in range(600):
        n = int(rng.integers(2, 300))
        choices = [1, 1, 1, 1, 2, 0, -1, -3, 5, 300, -200, 40000] if trial % 2 else [1, 1, 1, 2, 0, -1, -2, 3]
        steps = rng.choice(choices, size=n - 1)
        seq = (int(rng.integers(0, 65536)) + np.concatenate([[0], np.cumsum(steps)])) % 65536
        in_time = rng.random(n) > 0.05
        in_time[0] = True
        fast, slow = extend_sequence(seq), _update_seq(seq)
        assert fast.extended.tolist() == slow.extended.tolist()
        assert fast.accepted.tolist() == slow.accepted.tolist()
        assert fast.segment.tolist() == slow.segment.tolist()
        assert _sequence_errors(seq, in_time) == _sequence_errors_stepwise(seq, in_time)


def test_jitter_filter_equals_the_recurrence():
    from callproof.rtp_analysis.jitter import smooth16

    x = np.abs(np.random.default_rng(1).normal(0, 50, 5000))
    expected, j = [], 0.0
    for v in x.tolist():
        j = (15 * j + v) / 16
        expected.append(j)
    assert np.abs(smooth16(x) - np.array(expected)).max() < 1e-9


def test_all_streams_at_once_equal_each_stream_alone():
    """Issue 15: the group forms over many streams side by side give each stream's own figures,
    whatever happens at the boundaries (wraps, restarts, late packets, streams of 1 packet)."""
    from callproof.rtp_analysis.groups import Groups
    from callproof.rtp_analysis.jitter import interarrival_jitter_groups
    from callproof.rtp_analysis.loss import loss_columns
    from callproof.rtp_analysis.sequence import extend_sequence_groups
    from callproof.rtp_analysis.wireshark import wireshark_columns

    rng = np.random.default_rng(15)
    sizes = np.concatenate([[1, 2], rng.integers(1, 700, 60), [300, 1500]])
    n = int(sizes.sum())
    groups = Groups.of_sizes(sizes)
    steps = rng.choice([1, 1, 1, 1, 2, 0, -1, -3, 5, 300, 40000], size=n)
    seq = (rng.integers(0, 65536) + np.cumsum(steps)) % 65536
    ts = (rng.integers(0, 1 << 32) + np.cumsum(rng.choice([160, 160, 160, 320, -160, 1 << 31], size=n))) % (1 << 32)
    time_ms = np.cumsum(rng.uniform(0, 40, n))
    pt = rng.choice([0, 0, 0, 13, 101], size=n).astype(np.uint8)
    marker = rng.random(n) < 0.02
    clock = np.where(pt == 101, 0, 8000)
    seq, ts = seq.astype(np.uint16), ts.astype(np.uint32)

    ws = wireshark_columns(time_ms, seq, ts, pt, marker, clock, groups)
    ext = extend_sequence_groups(seq, groups)
    loss = loss_columns(ext, groups)
    jitter = interarrival_jitter_groups(time_ms / 1000, ts, np.full(n, 8000), groups)
    for k, (start, size) in enumerate(zip(groups.start.tolist(), groups.size.tolist(), strict=True)):
        part = slice(start, start + size)
        alone = wireshark_stats(time_ms[part], seq[part], ts[part], pt[part], marker[part], clock[part])
        together = ws.stream(k)
        for field in ("packets", "expected", "lost", "sequence_errors", "wrong_timestamps", "problem"):
            assert getattr(together, field) == getattr(alone, field), (k, field)
        for field in ("min_delta_ms", "mean_delta_ms", "max_delta_ms", "min_jitter_ms", "mean_jitter_ms",
                      "max_jitter_ms"):  # fmt: skip
            assert getattr(together, field) == pytest.approx(getattr(alone, field), rel=1e-12, abs=1e-12), (k, field)
        own = extend_sequence(seq[part])
        assert ext.extended[part].tolist() == own.extended.tolist()
        assert ext.accepted[part].tolist() == own.accepted.tolist()
        assert ext.segment[part].tolist() == own.segment.tolist()
        assert loss.stream(k) == loss_stats(own)
        assert jitter[part].tolist() == interarrival_jitter(time_ms[part] / 1000, ts[part], 8000).tolist()
