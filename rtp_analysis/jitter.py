"""RFC 3550 6.4.1 / A.8 interarrival jitter, over packets in arrival order."""

from __future__ import annotations

import numpy as np

_BLOCK = 256  # (16/15)**256 is about 1.5e7: block sums stay well inside float64's range


def interarrival_jitter(arrival_s: np.ndarray, rtp_timestamp: np.ndarray, clock_rate_hz: int) -> np.ndarray:
    """J after each packet, in timestamp units (J[0] = 0).

    D(i-1, i) = (R_i - R_{i-1}) - (S_i - S_{i-1}) with R the arrival time in timestamp
    units and S the RTP timestamp (differences taken modulo 2**32, signed);
    J_i = J_{i-1} + (|D| - J_{i-1}) / 16.
    """
    n = len(arrival_s)
    if n < 2:
        return np.zeros(n)
    arrival_units = np.diff(arrival_s) * clock_rate_hz
    ts_step: np.ndarray = np.diff(rtp_timestamp.astype(np.int64))  # annotated: numpy's stub says timedelta64
    ts_step = (ts_step + (1 << 31)) % (1 << 32) - (1 << 31)  # signed 32-bit difference
    d = np.abs(arrival_units - ts_step)
    return np.concatenate([[0.0], smooth16(d)])


def smooth16(x: np.ndarray) -> np.ndarray:
    """y_k = (15 y_{k-1} + x_k) / 16 with y_{-1} = 0: the estimator of RFC 3550 A.8 (and Wireshark's).

    Vectorised in blocks: inside a block y_j = r^(j+1) y_in + sum_{i<=j} r^(j-i) x_i / 16
    with r = 15/16, written as r^j * cumsum(r^-i x_i) so each block is a few numpy
    operations; only the carried value y_in steps from block to block.
    """
    n = x.size
    if n == 0:
        return np.zeros(0)
    blocks = -(-n // _BLOCK)
    padded = np.zeros(blocks * _BLOCK)
    padded[:n] = x
    j = np.arange(_BLOCK)
    r = 15.0 / 16.0
    local = np.cumsum(padded.reshape(blocks, _BLOCK) * r ** (-j), axis=1) * (r**j) / 16
    carry_in = np.empty(blocks)
    carried = 0.0
    decay = r**_BLOCK
    for b in range(blocks):  # one scalar step per 256 samples
        carry_in[b] = carried
        carried = carried * decay + local[b, -1]
    y = local + carry_in[:, None] * r ** (j + 1)
    return y.ravel()[:n]


def jitter_ms(jitter_units: np.ndarray | float, clock_rate_hz: int) -> np.ndarray | float:
    """Jitter in milliseconds from timestamp units (A.8 reports units; 1000/clock per unit)."""
    return jitter_units * 1000.0 / clock_rate_hz
