"""ITU-T P.862 PESQ of a recorded call against the prompt that was played: narrowband or wideband.

The `pesq` package implements P.862: narrowband at 8 kHz, mapped to MOS-LQO by P.862.1,
and the wideband extension P.862.2 at 16 kHz (its own MOS-LQO mapping). A wideband call
(a recording at 16 kHz or more, from a wideband codec's 16 kHz bridge) against a wideband
prompt is scored by P.862.2 at 16 kHz; anything else by P.862 at 8 kHz. Each result names
its method and band. Before scoring, the recording's first PRECONDITION_S are set
aside, the rest is aligned with the prompt by cross-correlation (it usually starts
later) and both are cut to the span of the prompt the recording covers (a call may end
before its prompt does); inputs at other rates are resampled to the scoring rate first.

The set-aside start is the codecs' and the jitter buffer's settling time, which P.862.3
(its application guide) asks to keep out of the measured speech by preconditioning: an
adaptive codec such as G.722's sub-band ADPCM distorts about the first 140 ms of a
stream (seen here: a clean G.722 call scored P.862.2 3.78 when its prompt began with
the stream, 4.01-4.04 with that start set aside; G.711 has no such transient).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
from scipy.signal import correlate

from callproof.rtp_analysis.audio import read_wav, resample, speech_seconds

PESQ_RATE_HZ = 8000  # narrowband
WIDEBAND_RATE_HZ = 16000  # P.862.2
PRECONDITION_S = 0.25  # the recording's start set aside: codec and jitter-buffer settling
# band -> (scoring rate, the `pesq` package's mode, the method the score follows)
BANDS = {"narrowband": (PESQ_RATE_HZ, "nb", "ITU-T P.862 + P.862.1 MOS-LQO"),
         "wideband": (WIDEBAND_RATE_HZ, "wb", "ITU-T P.862.2 MOS-LQO")}


@dataclasses.dataclass(frozen=True)
class PesqResult:
    score: float | None  # MOS-LQO of `method`; None with `reason` when PESQ cannot score
    offset_ms: float  # the recording lags the prompt by this much (negative: it leads)
    reference_speech_s: float  # speech-active seconds in the prompt
    degraded_speech_s: float  # speech-active seconds in the aligned recording
    degraded_silent: bool  # the recording has no speech at all
    reason: str | None = None
    band: str = "narrowband"  # "narrowband" (P.862 at 8 kHz) or "wideband" (P.862.2 at 16 kHz)
    method: str = BANDS["narrowband"][2]


def pesq_score(reference_wav: str | os.PathLike[str], degraded_wav: str | os.PathLike[str]) -> PesqResult:
    """PESQ of a recording (WAV) against its prompt (WAV), aligned, in the band both carry."""
    reference, reference_rate = read_wav(reference_wav)
    degraded, degraded_rate = read_wav(degraded_wav)
    return pesq_of_signals(reference, reference_rate, degraded, degraded_rate)


def pesq_of_signals(
    reference: np.ndarray, reference_rate_hz: int, degraded: np.ndarray, degraded_rate_hz: int
) -> PesqResult:
    """PESQ of two sample arrays (int16 scale) at their own rates: wideband when both are 16 kHz or more."""
    import pesq as p862

    band = "wideband" if min(reference_rate_hz, degraded_rate_hz) >= WIDEBAND_RATE_HZ else "narrowband"
    rate, mode, method = BANDS[band]
    ref = resample(np.asarray(reference, dtype=np.float64), reference_rate_hz, rate)
    deg = resample(np.asarray(degraded, dtype=np.float64), degraded_rate_hz, rate)
    settle = int(PRECONDITION_S * rate)
    deg = deg[settle:]
    if deg.size == 0:  # a call that ended (or a recording that stopped) within the settling time
        return PesqResult(score=None, offset_ms=0.0, reference_speech_s=speech_seconds(ref, rate),
                          degraded_speech_s=0.0, degraded_silent=True, band=band, method=method,
                          reason=f"the recording is no longer than the {PRECONDITION_S:g} s set aside for settling")
    lag = alignment_lag(ref, deg)
    # A call shorter than its prompt covers only part of it: score that part, not the
    # silence after the hang-up.
    first, last = max(0, -lag), min(ref.size, deg.size - lag)
    if last - first < ref.size and last > first:
        ref = ref[first:last]
        lag += first
    aligned = shift_to_reference(deg, lag, ref.size)
    ref_speech = speech_seconds(ref, rate)
    deg_speech = speech_seconds(aligned, rate)
    common: dict[str, Any] = dict(
        band=band,
        method=method,
        offset_ms=1000.0 * (lag + settle) / rate,
        reference_speech_s=ref_speech,
        degraded_speech_s=deg_speech,
        degraded_silent=deg_speech == 0.0,
    )
    if deg_speech == 0.0:
        return PesqResult(score=None, reason="the recording is silent", **common)
    try:
        score = float(p862.pesq(rate, ref, aligned, mode))
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
