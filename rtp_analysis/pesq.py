"""ITU-T P.862 PESQ, narrowband (8 kHz), of a recorded call against the prompt that was played.

The `pesq` package implements P.862 and returns the P.862.1 MOS-LQO mapping of its raw
score. Before scoring, the recording is aligned with the prompt by cross-correlation
(it usually starts later) and both are cut to the span of the prompt the recording
covers (a call may end before its prompt does); inputs at
16 kHz or any other rate are resampled to 8 kHz first.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from scipy.signal import correlate

from callproof.rtp_analysis.audio import read_wav, resample, speech_seconds

PESQ_RATE_HZ = 8000


@dataclasses.dataclass(frozen=True)
class PesqResult:
    score: float | None  # P.862.1 MOS-LQO (narrowband); None with `reason` when PESQ cannot score
    offset_ms: float  # the recording lags the prompt by this much (negative: it leads)
    reference_speech_s: float  # speech-active seconds in the prompt
    degraded_speech_s: float  # speech-active seconds in the aligned recording
    degraded_silent: bool  # the recording has no speech at all
    reason: str | None = None


def pesq_score(reference_wav: str | os.PathLike[str], degraded_wav: str | os.PathLike[str]) -> PesqResult:
    """PESQ of a recording (WAV) against its prompt (WAV), aligned and at 8 kHz."""
    reference, reference_rate = read_wav(reference_wav)
    degraded, degraded_rate = read_wav(degraded_wav)
    return pesq_of_signals(reference, reference_rate, degraded, degraded_rate)


def pesq_of_signals(
    reference: np.ndarray, reference_rate_hz: int, degraded: np.ndarray, degraded_rate_hz: int
) -> PesqResult:
    """PESQ of two sample arrays (int16 scale) at their own rates."""
    import pesq as p862

    ref = resample(np.asarray(reference, dtype=np.float64), reference_rate_hz, PESQ_RATE_HZ)
    deg = resample(np.asarray(degraded, dtype=np.float64), degraded_rate_hz, PESQ_RATE_HZ)
    lag = alignment_lag(ref, deg)
    # A call shorter than its prompt covers only part of it: score that part, not the
    # silence after the hang-up.
    first, last = max(0, -lag), min(ref.size, deg.size - lag)
    if last - first < ref.size and last > first:
        ref = ref[first:last]
        lag += first
    aligned = shift_to_reference(deg, lag, ref.size)
    ref_speech = speech_seconds(ref, PESQ_RATE_HZ)
    deg_speech = speech_seconds(aligned, PESQ_RATE_HZ)
    common = dict(
        offset_ms=1000.0 * lag / PESQ_RATE_HZ,
        reference_speech_s=ref_speech,
        degraded_speech_s=deg_speech,
        degraded_silent=deg_speech == 0.0,
    )
    if deg_speech == 0.0:
        return PesqResult(score=None, reason="the recording is silent", **common)
    try:
        score = float(p862.pesq(PESQ_RATE_HZ, ref, aligned, "nb"))
    except p862.NoUtterancesError:
        return PesqResult(score=None, reason="PESQ found no utterances in the recording", **common)
    except p862.BufferTooShortError:
        return PesqResult(score=None, reason="the prompt is too short for PESQ (it needs about 0.25 s)", **common)
    return PesqResult(score=score, **common)


def alignment_lag(reference: np.ndarray, degraded: np.ndarray) -> int:
    """Samples by which `degraded` lags `reference`, at the peak of their cross-correlation."""
    xc = correlate(degraded, reference, mode="full", method="fft")
    return int(np.argmax(xc)) - (reference.size - 1)


def shift_to_reference(degraded: np.ndarray, lag: int, length: int) -> np.ndarray:
    """degraded[lag : lag + length], zero-padded where it falls outside the recording."""
    out = np.zeros(length)
    start = max(lag, 0)
    stop = min(lag + length, degraded.size)
    if stop > start:
        out[start - lag : stop - lag] = degraded[start:stop]
    return out
