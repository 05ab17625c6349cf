"""RFC 3550 A.1: extended sequence numbers and which packets the receiver accepts.

`extend_sequence` applies the A.1 `update_seq` state machine to one stream's packets in
arrival order. While every packet lies within A.1's window around the highest number
so far (at most MAX_MISORDER behind, less than MAX_DROPOUT ahead), the state machine
reduces to "unwrap, then take the running maximum", which is computed vectorised and
checked, for all streams of a capture at once (`extend_sequence_groups`). A stream that
leaves the window (a source restart, a wild jump) is run through the state machine
itself, one O(1) step per packet.

A capture starts each source as already validated (`init_seq` on its first packet, no
probation): the capture is evidence that the packets arrived.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from callproof.rtp_analysis import groups as g
from callproof.rtp_analysis.groups import Groups

RTP_SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000  # RFC 3550 A.1 constants
MAX_MISORDER = 100


@dataclasses.dataclass(frozen=True)
class ExtendedSequence:
    """A.1's view of one stream: per packet, its extended number and whether it counted."""

    extended: np.ndarray  # int64; cycles * 2**16 + seq, for accepted packets (-1 for rejected ones)
    accepted: np.ndarray  # bool; False for the packet A.1 discards after a large jump
    segment: np.ndarray  # int64; increments each time A.1 re-syncs after a source restart


def extend_sequence(seq: np.ndarray) -> ExtendedSequence:
    """RFC 3550 A.1 update_seq() over 16-bit sequence numbers in arrival order."""
    return extend_sequence_groups(seq, Groups.single(len(seq)))


def extend_sequence_groups(seq: np.ndarray, groups: Groups) -> ExtendedSequence:
    """extend_sequence of every group (one stream each), side by side in one ExtendedSequence."""
    n = len(seq)
    if n == 0:
        return ExtendedSequence(np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, np.int64))
    step = (g.diff(seq.astype(np.int64), groups) + (RTP_SEQ_MOD // 2)) % RTP_SEQ_MOD - (RTP_SEQ_MOD // 2)
    first = np.repeat(seq[groups.start].astype(np.int64), groups.size)
    extended = first + g.cumsum(step, groups)
    highest_before = np.empty(n, dtype=np.int64)
    highest_before[1:] = g.running_max(extended, groups)[:-1]
    ahead = extended - highest_before
    inside = (ahead > -MAX_MISORDER) & (ahead < MAX_DROPOUT)
    inside[groups.start] = True
    accepted = np.ones(n, dtype=bool)
    segment = np.zeros(n, dtype=np.int64)
    for k in np.flatnonzero(g.count(~inside, groups)).tolist():
        span = slice(groups.start[k], groups.start[k] + groups.size[k])
        slow = _update_seq(seq[span])
        extended[span], accepted[span], segment[span] = slow.extended, slow.accepted, slow.segment
    return ExtendedSequence(extended, accepted, segment)


def _update_seq(seq: np.ndarray) -> ExtendedSequence:
    """A.1's state machine, packet by packet, for streams that leave its window."""
    n = len(seq)
    extended = np.full(n, -1, dtype=np.int64)
    accepted = np.zeros(n, dtype=bool)
    segment = np.zeros(n, dtype=np.int64)
    values = seq.astype(np.int64).tolist()
    ext_out: list[int] = [0] * n
    acc_out: list[bool] = [False] * n
    seg_out: list[int] = [0] * n
    max_seq = values[0]
    cycles = 0
    bad_seq = RTP_SEQ_MOD + 1  # "so seq == bad_seq is false"
    current = 0
    for i, s in enumerate(values):
        if i == 0:
            ext_out[i], acc_out[i] = s, True
            continue
        udelta = (s - max_seq) % RTP_SEQ_MOD
        if udelta < MAX_DROPOUT:
            # In order, with a permissible gap.
            if s < max_seq:
                cycles += RTP_SEQ_MOD  # sequence number wrapped
            max_seq = s
            ext_out[i], acc_out[i] = cycles + s, True
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            # A very large jump: accept only if the next packet continues from here
            # (the source restarted), by re-syncing with init_seq().
            if s == bad_seq:
                current += 1
                max_seq, cycles, bad_seq = s, 0, RTP_SEQ_MOD + 1
                ext_out[i], acc_out[i] = s, True
            else:
                bad_seq = (s + 1) & (RTP_SEQ_MOD - 1)
        else:
            # Duplicate or reordered: counted, but the highest number stays.
            ext_out[i], acc_out[i] = (cycles + s) - (RTP_SEQ_MOD if s > max_seq else 0), True
        seg_out[i] = current
    extended[:] = ext_out
    accepted[:] = acc_out
    segment[:] = seg_out
    extended[~accepted] = -1
    return ExtendedSequence(extended, accepted, segment)
