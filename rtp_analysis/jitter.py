"""RFC 3550 6.4.1 / A.8 interarrival jitter, over packets in arrival order."""

from __future__ import annotations

import numpy as np

from callproof.rtp_analysis import groups as g
from callproof.rtp_analysis.groups import Groups

_BLOCK = 256  # (16/15)**256 is about 1.5e7: block sums stay well inside float64's range
_R = 15.0 / 16.0


def interarrival_jitter(arrival_s: np.ndarray, rtp_timestamp: np.ndarray, clock_rate_hz: int) -> np.ndarray:
    """J after each packet, in timestamp units (J[0] = 0).

    D(i-1, i) = (R_i - R_{i-1}) - (S_i - S_{i-1}) with R the arrival time in timestamp
    units and S the RTP timestamp (differences taken modulo 2**32, signed);
    J_i = J_{i-1} + (|D| - J_{i-1}) / 16.
    """
    n = len(arrival_s)
    return interarrival_jitter_groups(arrival_s, rtp_timestamp, np.full(n, clock_rate_hz), Groups.single(n))


def interarrival_jitter_groups(
    arrival_s: np.ndarray, rtp_timestamp: np.ndarray, clock_rate_hz: np.ndarray, groups: Groups
) -> np.ndarray:
    """interarrival_jitter of every group (one stream each); `clock_rate_hz` per packet."""
    n = len(arrival_s)
    if n == 0:
        return np.zeros(0)
    arrival_units = g.diff(arrival_s, groups) * clock_rate_hz
    ts_step = g.diff(rtp_timestamp.astype(np.int64), groups)
    ts_step = (ts_step + (1 << 31)) % (1 << 32) - (1 << 31)  # signed 32-bit difference
    d = np.abs(arrival_units - ts_step)
    # J[0] = 0 at each group's first packet; the filter runs over the rest.
    later = ~groups.first_mask()
    kept, rest = groups.select(later)
    j = np.zeros(n)
    j[kept] = smooth16_groups(d[kept], rest)
    return j


def smooth16(x: np.ndarray) -> np.ndarray:
    """y_k = (15 y_{k-1} + x_k) / 16 with y_{-1} = 0: the estimator of RFC 3550 A.8 (and Wireshark's)."""
    return smooth16_groups(x, Groups.single(x.size))


def smooth16_groups(x: np.ndarray, groups: Groups) -> np.ndarray:
    """smooth16 of each group, restarted (y = 0) at every group start.

    Vectorised in blocks of _BLOCK samples from each group's start: inside a block
    y_j = r^(j+1) y_in + sum_{i<=j} r^(j-i) x_i / 16 with r = 15/16, written as
    r^j * cumsum(r^-i x_i) so all blocks of all groups are a few numpy operations; only
    the carried value y_in steps from block to block, for all groups at once.
    """
    n = x.size
    if n == 0:
        return np.zeros(0)
    full = groups.size > 0
    blocks_per_group = np.zeros(len(groups), dtype=np.int64)
    blocks_per_group[full] = -(-groups.size[full] // _BLOCK)
    block_group = np.repeat(np.arange(len(groups)), blocks_per_group)
    block_rank = np.arange(block_group.size) - np.repeat(np.cumsum(blocks_per_group) - blocks_per_group,
                                                         blocks_per_group)  # fmt: skip
    block_start = groups.start[block_group] + block_rank * _BLOCK
    block_size = np.minimum(_BLOCK, groups.start[block_group] + groups.size[block_group] - block_start)
    blocks = Groups(block_start, block_size)

    # Each block's local filter (zero carried in), as rows of padded matrices.
    parts = []
    block_last = np.zeros(block_group.size)  # the local value at each full block's end
    for mine, index, valid in g.padded_rows(blocks):
        j = np.arange(index.shape[1])
        rows = x[index]
        complete = bool(valid.all())
        if not complete:
            rows[~valid] = 0.0
        local = np.cumsum(rows * _R ** (-j), axis=1) * (_R**j) / 16
        block_last[mine] = local[:, -1]
        parts.append((mine, index, valid, complete, local))

    # The value carried into each block: one vector step per block rank, all groups at once.
    carry_in = np.zeros(block_group.size)
    decay = _R**_BLOCK
    by_rank = np.argsort(block_rank, kind="stable")
    rank_edges = np.searchsorted(block_rank[by_rank], np.arange(int(np.max(blocks_per_group, initial=0)) + 1))
    for rank in range(1, rank_edges.size - 1):
        now = by_rank[rank_edges[rank] : rank_edges[rank + 1]]
        carry_in[now] = carry_in[now - 1] * decay + block_last[now - 1]

    y = np.empty(n)
    for mine, index, valid, complete, local in parts:
        later = block_rank[mine] > 0
        if later.any():
            j = np.arange(index.shape[1])
            local[later] = local[later] + carry_in[mine[later], None] * _R ** (j + 1)
        if complete:
            y[index] = local
        else:
            y[index[valid]] = local[valid]
    return y


def jitter_ms(jitter_units: np.ndarray | float, clock_rate_hz: int | np.ndarray) -> np.ndarray | float:
    """Jitter in milliseconds from timestamp units (A.8 reports units; 1000/clock per unit)."""
    return jitter_units * 1000.0 / clock_rate_hz
