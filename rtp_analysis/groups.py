"""Many streams at once: packets of each stream contiguous, per-stream work as numpy group operations.

A capture of 100,000 streams must not cost 100,000 rounds of Python: every metric runs
once over all packets, with the streams as groups (`Groups`: where each starts). The
helpers here are the group forms of numpy's running and reducing operations; one
stream is simply one group, so the single-stream functions call the same code.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class Groups:
    """Contiguous groups of a packet array: group g is [start[g], start[g] + size[g])."""

    start: np.ndarray  # int64
    size: np.ndarray  # int64, each >= 1

    @classmethod
    def of_sizes(cls, size: np.ndarray) -> Groups:
        size = np.asarray(size, dtype=np.int64)
        start = np.zeros(size.size, dtype=np.int64)
        np.cumsum(size[:-1], out=start[1:])
        return cls(start, size)

    @classmethod
    def single(cls, n: int) -> Groups:
        return cls(np.zeros(1, dtype=np.int64), np.array([n], dtype=np.int64))

    @classmethod
    def of_ids(cls, gid: np.ndarray, count: int) -> Groups:
        """Groups of an array whose group ids are sorted (empty groups allowed: size 0)."""
        size = np.bincount(gid, minlength=count).astype(np.int64)
        start = np.zeros(count, dtype=np.int64)
        np.cumsum(size[:-1], out=start[1:])
        return cls(start, size)

    def __len__(self) -> int:
        return self.start.size

    @property
    def total(self) -> int:
        return int(self.start[-1] + self.size[-1]) if self.start.size else 0

    @property
    def last(self) -> np.ndarray:
        return self.start + self.size - 1

    def ids(self) -> np.ndarray:
        """The group of every packet (int64; computed once, read-only)."""
        return self._ids

    @functools.cached_property
    def _ids(self) -> np.ndarray:
        ids = np.repeat(np.arange(self.start.size, dtype=np.int64), self.size)
        ids.flags.writeable = False
        return ids

    def first_mask(self) -> np.ndarray:
        """True at the first packet of every non-empty group."""
        mask = np.zeros(self.total, dtype=bool)
        mask[self.start[self.size > 0]] = True
        return mask

    def last_mask(self) -> np.ndarray:
        """True at the last packet of every non-empty group."""
        mask = np.zeros(self.total, dtype=bool)
        mask[self.last[self.size > 0]] = True
        return mask

    def select(self, keep: np.ndarray) -> tuple[np.ndarray, Groups]:
        """Indices of the kept packets, and the groups they form (a group may become empty)."""
        kept = np.flatnonzero(keep)
        return kept, Groups.of_ids(self.ids()[kept], len(self))


def diff(values: np.ndarray, groups: Groups) -> np.ndarray:
    """values[i] - values[i-1] inside each group, 0 at every group's first packet."""
    out = np.zeros(values.size, dtype=np.result_type(values.dtype, np.int8))
    if values.size > 1:
        out[1:] = np.diff(values)
    out[groups.start[groups.size > 0]] = 0
    return out


def cumsum(values: np.ndarray, groups: Groups) -> np.ndarray:
    """Running sum restarted at every group (integers: exact)."""
    total = np.cumsum(values)
    starts = groups.start[groups.size > 0]
    before = np.zeros(starts.size, dtype=total.dtype)
    inner = starts > 0
    before[inner] = total[starts[inner] - 1]
    return total - np.repeat(before, groups.size[groups.size > 0])


def running_max(values: np.ndarray, groups: Groups) -> np.ndarray:
    """np.maximum.accumulate restarted at every group (int64 values).

    Each group is lifted above all earlier ones by an offset, so one global running
    maximum never carries across a group start.
    """
    if values.size == 0:
        return values.astype(np.int64)
    low, high = int(values.min()), int(values.max())
    span = high - low + 1
    if len(groups) * span < (1 << 62):
        lifted = (values - low) + groups.ids() * span
        return np.maximum.accumulate(lifted) - groups.ids() * span + low
    out = np.empty(values.size, dtype=np.int64)  # spans too wide to lift: group by group
    for s, n in zip(groups.start.tolist(), groups.size.tolist(), strict=True):
        out[s : s + n] = np.maximum.accumulate(values[s : s + n])
    return out


def reduce(ufunc: np.ufunc, values: np.ndarray, groups: Groups, empty) -> np.ndarray:
    """ufunc.reduceat over each group; `empty` for groups with no packet."""
    out = np.full(len(groups), empty, dtype=np.result_type(values.dtype, np.min_scalar_type(empty)))
    full = groups.size > 0
    if full.any():
        out[full] = ufunc.reduceat(values, groups.start[full])
    return out


def count(mask: np.ndarray, groups: Groups) -> np.ndarray:
    """True values of a per-packet mask, per group (int64)."""
    return reduce(np.add, mask.astype(np.int64), groups, 0)


def padded_rows(groups: Groups):
    """The groups as rows of padded matrices, one matrix per power-of-two width.

    Yields (which groups, index matrix into the packet array, valid mask); padding
    cells index packet 0 and are masked out. A row's width is at most twice its group's
    size, so the matrices hold at most twice the packets.
    """
    full = np.flatnonzero(groups.size > 0)
    if full.size == 0:
        return
    width = 1 << np.ceil(np.log2(groups.size[full])).astype(np.int64)
    for w in np.unique(width).tolist():
        mine = full[width == w]
        cols = np.arange(w)
        valid = cols < groups.size[mine, None]
        index = np.where(valid, groups.start[mine, None] + cols, 0)
        yield mine, index, valid


def median(values: np.ndarray, groups: Groups) -> np.ndarray:
    """np.median of each group (NaN for an empty one), as float64."""
    out = np.full(len(groups), np.nan)
    full = groups.size > 0
    if not full.any():
        return out
    order = np.lexsort((values, groups.ids()))
    ranked = values[order].astype(np.float64)
    low = groups.start[full] + (groups.size[full] - 1) // 2
    high = groups.start[full] + groups.size[full] // 2
    out[full] = (ranked[low] + ranked[high]) / 2  # np.median's mean of the middle pair
    return out
