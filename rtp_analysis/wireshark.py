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

from callproof.rtp_analysis import groups as g
from callproof.rtp_analysis.groups import Groups
from callproof.rtp_analysis.jitter import smooth16_groups
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


@dataclasses.dataclass(frozen=True, eq=False)
class WiresharkColumns:
    """WiresharkStats of many streams, one array per field (index k is stream k)."""

    packets: np.ndarray
    expected: np.ndarray
    lost: np.ndarray
    sequence_errors: np.ndarray
    wrong_timestamps: np.ndarray
    problem: np.ndarray
    min_delta_ms: np.ndarray
    mean_delta_ms: np.ndarray
    max_delta_ms: np.ndarray
    min_jitter_ms: np.ndarray
    mean_jitter_ms: np.ndarray
    max_jitter_ms: np.ndarray

    def stream(self, k: int) -> WiresharkStats:
        return WiresharkStats(**{f.name: getattr(self, f.name)[k].item() for f in dataclasses.fields(WiresharkStats)})


def wireshark_stats(
    time_ms: np.ndarray,
    seq: np.ndarray,
    timestamp: np.ndarray,
    payload_type: np.ndarray,
    marker: np.ndarray,
    clock_rate: np.ndarray,
) -> WiresharkStats:
    """Analyse one stream (packets in capture order); `clock_rate` is per packet, 0 for none."""
    groups = Groups.single(len(time_ms))
    return wireshark_columns(time_ms, seq, timestamp, payload_type, marker, clock_rate, groups).stream(0)


def wireshark_columns(
    time_ms: np.ndarray,
    seq: np.ndarray,
    timestamp: np.ndarray,
    payload_type: np.ndarray,
    marker: np.ndarray,
    clock_rate: np.ndarray,
    groups: Groups,
) -> WiresharkColumns:
    """Analyse every group (one stream each, packets in capture order) at once."""
    n = len(time_ms)
    seq = seq.astype(np.int64)
    ts = timestamp.astype(np.int64)
    clock = clock_rate.astype(np.int64)
    starts = groups.start
    first = groups.first_mask()
    first_ts = np.repeat(ts[starts], groups.size)

    # In time sequence: within half the timestamp space after the first timestamp.
    in_time = np.where(first_ts <= ts, ts - first_ts < 0x80000000, (0xFFFFFFFF - first_ts) + ts < 0x80000000)
    in_time[starts] = True
    del first_ts

    start_seq, stop_seq = seq[starts], seq[groups.last]
    cycles = _seq_cycles(seq, in_time, groups)
    expected = stop_seq + cycles * 0x10000 - start_seq + 1
    sequence_errors = _sequence_errors_groups(seq, in_time, groups)

    # "statinfo->time": the arrival time of the latest in-time packet before each packet
    # (a group's first packet is in time, so the running maximum never crosses groups).
    idx = np.arange(n)
    last_in_time = np.maximum.accumulate(np.where(in_time, idx, 0))
    prev_time = np.empty(n)
    prev_time[1:] = time_ms[last_in_time[:-1]]
    prev_time[starts] = time_ms[starts]
    del last_in_time
    delta = time_ms - prev_time

    # Jitter, over in-time packets with a known clock.
    clocked = in_time & (clock != 0)
    clocked[starts] = False
    nominal = np.zeros(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        nominal[clocked] = ((ts[clocked] - ts[starts][groups.ids()[clocked]]) % (1 << 32)) / (clock[clocked] // 1000)
    # lastnominaltime: nominal of the latest clocked in-time packet before (0 for the first packet).
    last_clocked = np.maximum.accumulate(np.where(clocked | first, idx, 0))
    prev_nominal = np.empty(n)
    prev_nominal[1:] = nominal[last_clocked[:-1]]
    prev_nominal[starts] = 0.0
    del last_clocked
    diff = np.abs(time_ms - (prev_time + (nominal - prev_nominal)))
    del prev_time, nominal, prev_nominal
    jitter = np.zeros(n)
    clocked_at, clocked_groups = groups.select(clocked)
    jitter[clocked_at] = smooth16_groups(diff[clocked_at], clocked_groups)
    del diff, clocked_at

    cn = np.isin(payload_type, tuple(COMFORT_NOISE_TYPES))
    follows_cn = np.zeros(n, dtype=bool)
    follows_cn[1:] = cn[:-1]
    regular = in_time & ~marker.astype(bool) & ~cn & ~follows_cn
    regular[starts] = False
    regular_clocked = regular & (clock != 0)
    seen = idx - np.repeat(starts, groups.size)  # packets already counted (Wireshark's total_nr)

    delta_at, delta_groups = groups.select(regular)
    min_delta = g.reduce(np.minimum, delta[delta_at], delta_groups, -1.0)
    max_delta = np.maximum(0.0, g.reduce(np.maximum, delta[delta_at], delta_groups, 0.0))
    mean_delta = _running_mean(delta[delta_at], seen[delta_at], delta_groups)
    jitter_at, jitter_groups = groups.select(regular_clocked)
    min_jitter = g.reduce(np.minimum, jitter[jitter_at], jitter_groups, -1.0)
    max_jitter = np.maximum(0.0, g.reduce(np.maximum, jitter[jitter_at], jitter_groups, 0.0))
    mean_jitter = _running_mean(jitter[jitter_at], seen[jitter_at], jitter_groups)
    wrong_timestamps = g.count(~in_time, groups)
    return WiresharkColumns(
        packets=groups.size,
        expected=expected,
        lost=expected - groups.size,
        sequence_errors=sequence_errors,
        wrong_timestamps=wrong_timestamps,
        problem=(sequence_errors > 0) | (wrong_timestamps > 0),
        min_delta_ms=min_delta,
        mean_delta_ms=mean_delta,
        max_delta_ms=max_delta,
        min_jitter_ms=min_jitter,
        mean_jitter_ms=mean_jitter,
        max_jitter_ms=max_jitter,
    )


def _seq_cycles(seq: np.ndarray, in_time: np.ndarray, groups: Groups) -> np.ndarray:
    """Wireshark's seq_cycles: an in-time packet below the first number (or 0 right after
    65535) starts a cycle unless one is already open ("under"); one above the first
    number closes it. Count the openings."""
    start_seq = np.repeat(seq[groups.start], groups.size)
    previous = np.empty_like(seq)  # stop_seq_nr: the previous packet's number
    previous[1:] = seq[:-1]
    previous[groups.start] = seq[groups.start]
    low = in_time & ((seq < start_seq) | ((seq == 0) & (previous == 65535)))
    high = in_time & (seq > start_seq)
    low[groups.start] = high[groups.start] = False
    events = np.flatnonzero(low | high)
    is_low = low[events]
    owner = groups.ids()[events]
    after_low = np.zeros(events.size, dtype=bool)
    after_low[1:] = is_low[:-1] & (owner[1:] == owner[:-1])
    opens = is_low & ~after_low  # a low event not preceded by a low one
    return np.bincount(owner[opens], minlength=len(groups)).astype(np.int64)


def _sequence_errors(seq: np.ndarray, in_time: np.ndarray) -> int:
    return int(_sequence_errors_groups(seq.astype(np.int64), in_time, Groups.single(len(seq)))[0])


def _sequence_errors_groups(seq: np.ndarray, in_time: np.ndarray, groups: Groups) -> np.ndarray:
    """Wireshark's "sequence" counter of every group.

    Wireshark keeps the last accepted number (16 bits) and accepts a packet that is the
    next one, or any higher number (a jump: an error), or one that wrapped within 0xFF00
    (also a jump); anything else is late or duplicated (an error, not accepted); packets
    out of time sequence are only compared. As long as "last accepted" equals the highest
    unwrapped number so far, every verdict follows from that running maximum, which is
    computed vectorised; the two readings differ only near a wrap (a jump of 256 or more
    across it, or a late packet from before it), where the state machine runs instead.
    """
    timely, timely_groups = groups.select(in_time)
    seq_t = seq[timely]
    step = (g.diff(seq_t, timely_groups) + 0x8000) % 0x10000 - 0x8000
    unwrapped = np.repeat(seq[groups.start], timely_groups.size) + g.cumsum(step, timely_groups)
    highest = g.running_max(unwrapped, timely_groups)
    later = ~timely_groups.first_mask()
    ahead = np.zeros(unwrapped.size, dtype=np.int64)
    ahead[1:] = unwrapped[1:] - highest[:-1]
    last = np.zeros(unwrapped.size, dtype=np.int64)
    last[1:] = highest[:-1] % 0x10000
    near_wrap = later & (((ahead >= 256) & (last + ahead >= 0x10000)) | ((ahead <= 0) & (last + ahead < 0)))
    errors = g.count(later & (ahead != 1), timely_groups)
    late = np.flatnonzero(~in_time)
    if late.size:
        # The last accepted number when each out-of-time packet arrived.
        last_then = highest[np.searchsorted(timely, late) - 1] % 0x10000
        errors += np.bincount(groups.ids()[late][seq[late] <= last_then], minlength=len(groups))
    for k in np.flatnonzero(g.count(near_wrap, timely_groups)).tolist():
        span = slice(groups.start[k], groups.start[k] + groups.size[k])
        errors[k] = _sequence_errors_stepwise(seq[span], in_time[span])
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


_LONG_GROUP = 1024  # packets from which a group's running mean is taken on its own


def _running_mean(values: np.ndarray, seen: np.ndarray, groups: Groups) -> np.ndarray:
    """Final m of Wireshark's m = (m (n - 1) + x) / n over each group's selected packets, n = `seen`
    (0 for a group with none).

    Unrolled: m = sum_k (x_k / n_k) * prod_{j > k} (n_j - 1) / n_j. n = 1 only for the
    second packet of a stream, where m is still 0, so its factor is taken as 1. The
    running products of short groups are taken row by row of padded matrices, one row
    per group; a long group (few of them fit in a capture) is taken alone.
    """
    out = np.zeros(len(groups))
    n = seen.astype(np.float64)
    factor = np.where(n > 1, (n - 1) / n, 1.0)
    long = groups.size >= _LONG_GROUP
    for k in np.flatnonzero(long).tolist():
        part = slice(groups.start[k], groups.start[k] + groups.size[k])
        prod = np.cumprod(factor[part])
        out[k] = prod[-1] * np.sum(values[part] / n[part] / prod)
    short = Groups(groups.start, np.where(long, 0, groups.size))
    for mine, index, valid in g.padded_rows(short):
        prod = np.cumprod(np.where(valid, factor[index], 1.0), axis=1)
        terms = np.where(valid, values[index] / n[index] / prod, 0.0)
        out[mine] = prod[np.arange(mine.size), groups.size[mine] - 1] * np.sum(terms, axis=1)
    return out
