"""RFC 3550 A.3 loss counts, duplicates and reordering, loss runs, and G.107 BurstR.

A.3 counts `received` including duplicates, so `lost` = expected - received can be
negative; `lost_unique` counts the sequence numbers that never arrived, which is what
the E-model's packet-loss probability needs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

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


def loss_stats(sequence: ExtendedSequence) -> LossStats:
    expected = received = lost_unique = duplicates = reordered = runs = longest = 0
    simple = (
        bool(sequence.accepted.all()) and not sequence.segment.any()
    )  # the usual case: one segment, nothing rejected
    for seg in [0] if simple else np.unique(sequence.segment[sequence.accepted]):
        ext = sequence.extended if simple else sequence.extended[sequence.accepted & (sequence.segment == seg)]
        base, highest = int(ext[0]), int(ext.max())
        expected += highest - base + 1
        received += ext.size
        ordered = np.sort(ext)  # nearly sorted already: cheap
        present = ordered[np.concatenate([[True], np.diff(ordered) != 0])]
        repeats = ext.size - present.size
        # A packet at or below the highest number before it is a duplicate or reordered;
        # every duplicate is such a packet, so the rest of them are the reordered ones.
        highest_before = np.maximum.accumulate(np.concatenate([[base - 1], ext[:-1]]))
        duplicates += repeats
        reordered += int((ext <= highest_before).sum()) - repeats
        inside = present[present >= base]
        lost_unique += highest - base + 1 - inside.size
        gaps = np.diff(inside) - 1
        gaps = gaps[gaps > 0]
        runs += gaps.size
        longest = max(longest, int(gaps.max(initial=0)))
    return LossStats(
        expected=expected,
        received=received,
        lost=expected - received,
        lost_unique=lost_unique,
        duplicates=duplicates,
        reordered=reordered,
        loss_runs=runs,
        max_loss_run=longest,
    )


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
