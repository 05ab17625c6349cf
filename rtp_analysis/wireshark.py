"""Wireshark's RTP stream analysis, as `tshark -z rtp,streams` prints it.

A port of rtppacket_analyse() in ui/tap-rtp-analysis.c and of the lost count in
rtpstream_info_calculate() (ui/tap-rtp-common.c) of Wireshark 4.0 (Debian 12's
tshark 4.0.17), in float64 milliseconds, so a user can hold our numbers next to
Wireshark's. Its rules, kept on purpose even where RFC 3550 differs:

- time is the frame time relative to the capture's first frame, nstime_to_msec();
- a packet is "in time sequence" when its RTP timestamp is within 2**31 after the
  stream's first timestamp (modulo 2**32); packets that are not skip the jitter,
  delta and "last time" updates (flag WRONG_TIMESTAMP);
- jitter J = (15 J + |t - (t_last + (nominal - nominal_last))|) / 16 in ms, where
  nominal = (ts - first ts) / (clock_rate / 1000) with an *integer* division of the
  clock rate; clock rate 0 (telephone-event, an unnamed dynamic type) skips jitter;
- max/min/mean delta and jitter are taken only over "regular" packets: not the first,
  no marker bit, not comfort noise (PT 13 or 19), not following comfort noise, in
  time sequence; the means divide by the running packet count (Wireshark's recurrence
  m = (m (n-1) + x) / n with n the packets seen so far, skipped ones included);
- expected = last seq + 65536 * cycles - first seq + 1, cycles counted by its
  "under" flag; lost = expected - packets.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from callproof.rtp_analysis.jitter import smooth16
from callproof.rtp_analysis.payload import COMFORT_NOISE_TYPES


@dataclasses.dataclass(frozen=True)
class WiresharkStats:
    packets: int
    expected: int
    lost: int  # may be negative (duplicates), as Wireshark prints it
    sequence_errors: int  # Wireshark's "sequence" counter: jumps, late and duplicate packets
    wrong_timestamps: int  # packets not in time sequence
    problem: bool  # tshark's "Problems?" column: any sequence error or wrong timestamp
    min_delta_ms: float  # -1 when no packet qualified, as in Wireshark
    mean_delta_ms: float
    max_delta_ms: float
    min_jitter_ms: float  # -1 when no packet qualified
    mean_jitter_ms: float
    max_jitter_ms: float


def wireshark_stats(
    time_ms: np.ndarray,
    seq: np.ndarray,
    timestamp: np.ndarray,
    payload_type: np.ndarray,
    marker: np.ndarray,
    clock_rate: np.ndarray,
) -> WiresharkStats:
    """Analyse one stream (packets in capture order); `clock_rate` is per packet, 0 for none."""
    n = len(time_ms)
    seq = seq.astype(np.int64)
    ts = timestamp.astype(np.int64)
    clock = clock_rate.astype(np.int64)
    first_ts = int(ts[0])

    # In time sequence: within half the timestamp space after the first timestamp.
    in_time = np.where(first_ts <= ts, ts - first_ts < 0x80000000, (0xFFFFFFFF - first_ts) + ts < 0x80000000)
    in_time[0] = True

    start_seq, stop_seq = int(seq[0]), int(seq[-1])
    cycles = _seq_cycles(seq, in_time, start_seq)
    expected = stop_seq + cycles * 0x10000 - start_seq + 1
    sequence_errors = _sequence_errors(seq, in_time)

    # "statinfo->time": the arrival time of the latest in-time packet before each packet.
    idx = np.arange(n)
    last_in_time = np.maximum.accumulate(np.where(in_time, idx, 0))
    prev_time = np.concatenate([[time_ms[0]], time_ms[last_in_time[:-1]]])
    delta = time_ms - prev_time

    # Jitter, over in-time packets with a known clock.
    clocked = in_time & (clock != 0)
    clocked[0] = False
    nominal = np.zeros(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        nominal[clocked] = ((ts[clocked] - first_ts) % (1 << 32)) / (clock[clocked] // 1000)
    # lastnominaltime: nominal of the latest clocked in-time packet before (0 for the first packet).
    last_clocked = np.maximum.accumulate(np.where(clocked, idx, 0))
    prev_nominal = np.concatenate([[0.0], nominal[last_clocked[:-1]]])
    diff = np.abs(time_ms - (prev_time + (nominal - prev_nominal)))
    jitter = np.zeros(n)
    jitter[clocked] = smooth16(diff[clocked])

    pt = payload_type.astype(np.int64)
    cn = np.isin(pt, tuple(COMFORT_NOISE_TYPES))
    follows_cn = np.concatenate([[False], cn[:-1]])
    regular = in_time & ~marker.astype(bool) & ~cn & ~follows_cn
    regular[0] = False
    regular_clocked = regular & (clock != 0)
    seen = idx  # packets already counted when packet i is analysed (Wireshark's total_nr)

    if regular.any():
        min_delta = float(delta[regular].min())
        max_delta = max(0.0, float(delta[regular].max()))
        mean_delta = _running_mean(delta[regular], seen[regular])
    else:
        min_delta, max_delta, mean_delta = -1.0, 0.0, 0.0
    if regular_clocked.any():
        min_jitter = float(jitter[regular_clocked].min())
        max_jitter = max(0.0, float(jitter[regular_clocked].max()))
        mean_jitter = _running_mean(jitter[regular_clocked], seen[regular_clocked])
    else:
        min_jitter, max_jitter, mean_jitter = -1.0, 0.0, 0.0
    wrong_timestamps = int((~in_time).sum())
    return WiresharkStats(
        packets=n,
        expected=expected,
        lost=expected - n,
        sequence_errors=sequence_errors,
        wrong_timestamps=wrong_timestamps,
        problem=bool(sequence_errors or wrong_timestamps),
        min_delta_ms=min_delta,
        mean_delta_ms=mean_delta,
        max_delta_ms=max_delta,
        min_jitter_ms=min_jitter,
        mean_jitter_ms=mean_jitter,
        max_jitter_ms=max_jitter,
    )


def _seq_cycles(seq: np.ndarray, in_time: np.ndarray, start_seq: int) -> int:
    """Wireshark's seq_cycles: an in-time packet below the first number (or 0 right after
    65535) starts a cycle unless one is already open ("under"); one above the first
    number closes it. Count the openings."""
    previous = np.concatenate([[start_seq], seq[:-1]])  # stop_seq_nr: the previous packet's number
    low = in_time & ((seq < start_seq) | ((seq == 0) & (previous == 65535)))
    high = in_time & (seq > start_seq)
    low[0] = high[0] = False
    events = np.flatnonzero(low | high)
    is_low = low[events]
    opens = is_low & np.concatenate([[True], ~is_low[:-1]])  # a low event not preceded by a low one
    return int(opens.sum())


def _sequence_errors(seq: np.ndarray, in_time: np.ndarray) -> int:
    """Wireshark's "sequence" counter.

    Wireshark keeps the last accepted number (16 bits) and accepts a packet that is the
    next one, or any higher number (a jump: an error), or one that wrapped within 0xFF00
    (also a jump); anything else is late or duplicated (an error, not accepted); packets
    out of time sequence are only compared. As long as "last accepted" equals the highest
    unwrapped number so far, every verdict follows from that running maximum, which is
    computed vectorised; the two readings differ only near a wrap (a jump of 256 or more
    across it, or a late packet from before it), where the state machine runs instead.
    """
    timely = np.flatnonzero(in_time)
    step = (np.diff(seq[timely]) + 0x8000) % 0x10000 - 0x8000
    unwrapped = int(seq[0]) + np.concatenate([[0], np.cumsum(step)])
    highest = np.maximum.accumulate(unwrapped)
    ahead = unwrapped[1:] - highest[:-1]
    last = highest[:-1] % 0x10000
    if (((ahead >= 256) & (last + ahead >= 0x10000)) | ((ahead <= 0) & (last + ahead < 0))).any():
        return _sequence_errors_stepwise(seq, in_time)
    errors = int((ahead != 1).sum())
    late = np.flatnonzero(~in_time)
    if late.size:
        # The last accepted number when each out-of-time packet arrived.
        last_then = highest[np.searchsorted(timely, late) - 1] % 0x10000
        errors += int((seq[late] <= last_then).sum())
    return errors


def _sequence_errors_stepwise(seq: np.ndarray, in_time: np.ndarray) -> int:
    """The same counter, one packet at a time, exactly as rtppacket_analyse() steps."""
    last = int(seq[0])
    errors = 0
    for s, ok in zip(seq[1:].tolist(), in_time[1:].tolist(), strict=True):
        if ok and (s == last + 1 or (last == 65535 and s == 0)):
            last = s
        elif ok and (last + 1 < s or last - s > 0xFF00):
            last = s  # a jump forward: packets were lost
            errors += 1
        elif last + 1 > s:
            errors += 1  # late or duplicated
    return errors


def _running_mean(values: np.ndarray, seen: np.ndarray) -> float:
    """Final m of Wireshark's m = (m (n - 1) + x) / n over the selected packets, n = `seen`.

    Unrolled: m = sum_k (x_k / n_k) * prod_{j > k} (n_j - 1) / n_j. n = 1 only for the
    second packet of a stream, where m is still 0, so its factor is taken as 1.
    """
    n = seen.astype(np.float64)
    factor = np.where(n > 1, (n - 1) / n, 1.0)
    prod = np.cumprod(factor)
    return float(prod[-1] * np.sum(values / n / prod))
