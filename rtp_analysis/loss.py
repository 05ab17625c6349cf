"""RFC 3550 A.3 loss counts, duplicates and reordering, loss runs, and G.107 BurstR.

A.3 counts `received` including duplicates, so `lost` = expected - received can be
negative; `lost_unique` counts the sequence numbers that never arrived, which is what
the E-model's packet-loss probability needs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from callproof.rtp_analysis import groups as g
from callproof.rtp_analysis.groups import Groups
from callproof.rtp_analysis.sequence import ExtendedSequence


@dataclasses.dataclass(frozen=True)
class LossStats:
    expected: int  # A.3: extended highest - base + 1 (summed over re-sync segments)
    received: int  # A.3: packets counted by A.1, duplicates included
    lost: int  # A.3: expected - received (negative when duplicates outnumber losses)
    lost_unique: int  # sequence numbers in [base, highest] that never arrived
    duplicates: int  # packets whose extended sequence number had already arrived
    reordered: int  # packets older than the highest number already received, not duplicates
    loss_runs: int  # runs of consecutive missing sequence numbers
    max_loss_run: int  # longest such run

    @property
    def loss_fraction(self) -> float:
        """Ppl / 100: the share of expected packets that never arrived."""
        return self.lost_unique / self.expected if self.expected else 0.0


@dataclasses.dataclass(frozen=True, eq=False)
class LossColumns:
    """LossStats of many streams, one int64 array per field (index k is stream k)."""

    expected: np.ndarray
    received: np.ndarray
    lost: np.ndarray
    lost_unique: np.ndarray
    duplicates: np.ndarray
    reordered: np.ndarray
    loss_runs: np.ndarray
    max_loss_run: np.ndarray

    def stream(self, k: int) -> LossStats:
        return LossStats(**{f.name: int(getattr(self, f.name)[k]) for f in dataclasses.fields(LossStats)})


def loss_stats(sequence: ExtendedSequence) -> LossStats:
    return loss_columns(sequence, Groups.single(sequence.extended.size)).stream(0)


def loss_columns(sequence: ExtendedSequence, groups: Groups) -> LossColumns:
    """loss_stats of every group (one stream each) of a side-by-side ExtendedSequence.

    A stream's figures are sums over its A.1 segments (re-syncs after a restart), the
    longest loss run a maximum; each segment is a group of the accepted packets.
    """
    kept = np.flatnonzero(sequence.accepted)
    stream = groups.ids()[kept]
    segment = sequence.segment[kept]
    new_part = np.ones(kept.size, dtype=bool)
    new_part[1:] = (stream[1:] != stream[:-1]) | (segment[1:] != segment[:-1])
    parts = Groups(np.flatnonzero(new_part), np.diff(np.append(np.flatnonzero(new_part), kept.size)))
    part_stream = stream[parts.start]
    ext = sequence.extended[kept]
    part_ids = parts.ids()

    base = ext[parts.start]
    highest = g.reduce(np.maximum, ext, parts, 0)
    expected = highest - base + 1
    received = parts.size
    ordered = _sorted_in_groups(ext, part_ids, parts)  # nearly sorted already: cheap
    present = np.ones(ordered.size, dtype=bool)
    present[1:] = ordered[1:] != ordered[:-1]
    present[parts.start] = True
    repeats = received - g.count(present, parts)
    # A packet at or below the highest number before it is a duplicate or reordered;
    # every duplicate is such a packet, so the rest of them are the reordered ones.
    highest_before = np.empty(ext.size, dtype=np.int64)
    highest_before[1:] = g.running_max(ext, parts)[:-1]
    highest_before[parts.start] = base - 1
    reordered = g.count(ext <= highest_before, parts) - repeats
    inside = present & (ordered >= np.repeat(base, parts.size))
    inside_at, inside_parts = parts.select(inside)
    lost_unique = expected - inside_parts.size
    gaps = g.diff(ordered[inside_at], inside_parts) - 1
    runs = g.count(gaps > 0, inside_parts)
    longest = g.reduce(np.maximum, np.maximum(gaps, 0), inside_parts, 0)

    def per_stream(values: np.ndarray, ufunc: np.ufunc = np.add) -> np.ndarray:
        return g.reduce(ufunc, values.astype(np.int64), Groups.of_ids(part_stream, len(groups)), 0)

    expected_s, received_s = per_stream(expected), per_stream(received)
    return LossColumns(
        expected=expected_s,
        received=received_s,
        lost=expected_s - received_s,
        lost_unique=per_stream(lost_unique),
        duplicates=per_stream(repeats),
        reordered=per_stream(reordered),
        loss_runs=per_stream(runs),
        max_loss_run=per_stream(longest, np.maximum),
    )


def _sorted_in_groups(values: np.ndarray, ids: np.ndarray, groups: Groups) -> np.ndarray:
    """Each group's values sorted, groups kept in place."""
    if values.size == 0:
        return values
    low, high = int(values.min()), int(values.max())
    span = high - low + 1
    if len(groups) * span < (1 << 62):
        return np.sort((values - low) + ids * span) - ids * span + low
    return values[np.lexsort((values, ids))]


def burst_ratio(lost: int, loss_runs: int, expected: int) -> float:
    """G.107 BurstR: mean observed loss-run length over the mean run length random loss gives.

    With loss probability p, independent losses form runs of mean length 1/(1 - p), so
    BurstR = (lost / runs) * (1 - p) (G.107 7.2 and its note on the 2-state Markov model).
    No loss: 1 (random loss by definition).
    """
    if lost <= 0 or loss_runs <= 0 or expected <= 0:
        return 1.0
    p = min(lost / expected, 1.0)
    return (lost / loss_runs) * (1.0 - p)
