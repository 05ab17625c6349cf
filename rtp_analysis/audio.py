"""Recordings: WAV files in, mono float samples at the rate PESQ needs."""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

from callproof.rtp_analysis.errors import AudioError

_FRAME_S = 0.020


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """(mono samples scaled to int16 range as float64, sample rate) of a PCM or float WAV."""
    name = os.fspath(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)  # unknown chunks: the error says enough
            rate, data = wavfile.read(name)
    except FileNotFoundError:
        raise AudioError(f"{name} does not exist.") from None
    except (ValueError, EOFError) as exc:
        raise AudioError(f"{name} is not a readable WAV file ({exc}).") from None
    samples = data.astype(np.float64)
    if data.dtype == np.uint8:
        samples = (samples - 128) * 256
    elif data.dtype == np.int32:
        samples = samples / 65536
    elif data.dtype.kind == "f":
        samples = samples * 32768
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if samples.size == 0:
        raise AudioError(f"{name} holds no audio samples.")
    return samples, int(rate)


def resample(samples: np.ndarray, rate_hz: int, target_hz: int) -> np.ndarray:
    """Polyphase resampling (anti-aliasing filter included) to `target_hz`."""
    if rate_hz == target_hz:
        return samples
    g = math.gcd(rate_hz, target_hz)
    return resample_poly(samples, target_hz // g, rate_hz // g)


def frame_levels_db(samples: np.ndarray, rate_hz: int) -> np.ndarray:
    """RMS level of each 20 ms frame in dB relative to int16 full scale (dBFS)."""
    size = int(rate_hz * _FRAME_S)
    count = samples.size // size
    if count == 0:
        return np.zeros(0)
    frames = samples[: count * size].reshape(count, size)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-9) / 32768)


def speech_seconds(
    samples: np.ndarray, rate_hz: int, *, silence_dbfs: float = -55.0, dynamic_db: float = 35.0
) -> float:
    """Seconds of 20 ms frames within `dynamic_db` of the loudest frame and above `silence_dbfs`."""
    levels = frame_levels_db(samples, rate_hz)
    if levels.size == 0 or levels.max() < silence_dbfs:
        return 0.0
    active = levels >= max(silence_dbfs, levels.max() - dynamic_db)
    return float(active.sum() * _FRAME_S)
