"""ITU-T G.711 mu-law and A-law, vectorised, for tests and benchmarks that make G.711 audio (the engine
does its own); bit-exact with the classic Sun/CCITT routines (the ones CPython's audioop used), which
tests/rtp_analysis/test_metrics.py checks over every input value."""

from __future__ import annotations

import numpy as np

_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
_ULAW_CLIP = 8159  # 14-bit magnitude limit
_ULAW_BIAS = 0x84


def ulaw_encode(pcm16: np.ndarray) -> np.ndarray:
    """int16 linear samples to mu-law bytes."""
    x = pcm16.astype(np.int32) >> 2
    mask = np.where(x < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(x), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    segment = np.searchsorted(_ULAW_SEGMENT_ENDS, magnitude)  # first end >= magnitude
    value = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    value = np.where(segment >= 8, 0x7F, value)
    return (value ^ mask).astype(np.uint8)


def ulaw_decode(ulaw: np.ndarray) -> np.ndarray:
    """mu-law bytes to int16 linear samples."""
    u = (~ulaw.astype(np.int32)) & 0xFF
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def alaw_encode(pcm16: np.ndarray) -> np.ndarray:
    """int16 linear samples to A-law bytes."""
    x = pcm16.astype(np.int32) >> 3
    mask = np.where(x >= 0, 0xD5, 0x55)
    magnitude = np.where(x >= 0, x, -x - 1)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, magnitude)
    shift = np.where(segment < 2, 1, segment)
    value = (segment << 4) | ((magnitude >> shift) & 0x0F)
    value = np.where(segment >= 8, 0x7F, value)
    return (value ^ mask).astype(np.uint8)


def alaw_decode(alaw: np.ndarray) -> np.ndarray:
    """A-law bytes to int16 linear samples."""
    a = alaw.astype(np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    segment = (a & 0x70) >> 4
    t = np.where(segment == 0, t + 8, t + 0x108)
    t = np.where(segment > 1, t << np.maximum(segment - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)
