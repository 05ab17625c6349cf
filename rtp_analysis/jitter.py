"""RFC 3550 6.4.1 / A.8 interarrival jitter, over packets in arrival order."""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def interarrival_jitter(arrival_s: np.ndarray, rtp_timestamp: np.ndarray, clock_rate_hz: int) -> np.ndarray:
    """J after each packet, in timestamp units (J[0] = 0).

    D(i-1, i) = (R_i - R_{i-1}) - (S_i - S_{i-1}) with R the arrival time in timestamp
    units and S the RTP timestamp (differences taken modulo 2**32, signed);
    J_i = J_{i-1} + (|D| - J_{i-1}) / 16, i.e. a first-order filter run by lfilter.
    """
    n = len(arrival_s)
    if n < 2:
        return np.zeros(n)
    arrival_units = np.diff(arrival_s) * clock_rate_hz
    ts_step = np.diff(rtp_timestamp.astype(np.int64))
    ts_step = (ts_step + (1 << 31)) % (1 << 32) - (1 << 31)  # signed 32-bit difference
    d = np.abs(arrival_units - ts_step)
    return np.concatenate([[0.0], lfilter([1 / 16], [1, -15 / 16], d)])


def jitter_ms(jitter_units: np.ndarray | float, clock_rate_hz: int) -> np.ndarray | float:
    """Jitter in milliseconds from timestamp units (A.8 reports units; 1000/clock per unit)."""
    return jitter_units * 1000.0 / clock_rate_hz
