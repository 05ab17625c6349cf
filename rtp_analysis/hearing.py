"""What the caller heard: a reference prompt found in a recording, dead air, and signal per direction.

Pure: sample arrays in, frozen results out (docs/hearing.md has the definitions and the
error rates measured on the tests' audio).

Prompt matching is language-independent: it compares waveforms, not words. Both the
recording and the reference are brought to 8 kHz and band-limited to 300-3400 Hz
(the telephone band every codec carries; zero-phase filter, so no time shift). The
reference is cut to its audible span (first to last frame above SILENCE_DBFS), so the
start of a match is the instant the prompt's first sound arrived, whatever silence
the WAV file begins with. That span is split into SEGMENT_S pieces; each piece's
normalised cross-correlation (Pearson, on the waveform: gain-independent) with the
recording is computed at every lag, and a piece may slip by up to SLIP_S from the
prompt's alignment (a jitter buffer that inserts or drops a frame mid-prompt shifts
the rest of it). The score at a candidate start is the mean of the pieces' best
correlations, weighted by each piece's energy in the reference; the prompt is heard
when the score reaches MATCH_THRESHOLD at a start inside the search window. Its
start is the first piece's own correlation peak near the first start that reached
the threshold: sample-exact when nothing slipped.

Silence is frame RMS: a 20 ms frame below SILENCE_DBFS (int16 full scale) carries no
signal. Digital silence (PCMU 0xFF, a jitter buffer with nothing to play) is -inf,
a PCMA idle pattern about -72 dBFS, quiet speech above -45.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft
from scipy.ndimage import maximum_filter1d
from scipy.signal import butter, sosfiltfilt

from callproof.rtp_analysis.audio import resample

HEARING_RATE_HZ = 8000
BAND_HZ = (300.0, 3400.0)
FRAME_S = 0.020
SILENCE_DBFS = -50.0  # a frame below this carries no signal
SIGNAL_MIN_S = 0.2  # a direction carried audio when at least this much of it was above silence
SEGMENT_S = 0.25  # the reference's pieces
SLIP_S = 0.04  # how far each piece may slip from the prompt's alignment (two frames)
MATCH_THRESHOLD = 0.7  # score at which a prompt counts as heard: about 70% of its sound matched
MIN_REFERENCE_S = 0.3  # shorter audible prompts are refused: too little to tell apart


class HearingError(ValueError):
    """A reference prompt that cannot be matched (silent or too short); one sentence."""


@dataclasses.dataclass(frozen=True)
class PromptMatch:
    heard: bool
    score: float  # best weighted correlation in the search window, 0..1 (0 when none could be computed)
    start_s: float | None  # where the prompt's first sound starts in the recording (s); None: not heard
    best_start_s: float | None = None  # where the best score was, heard or not (for a reader's check)


@dataclasses.dataclass(frozen=True)
class Silence:
    longest_s: float  # longest run of silent frames
    longest_from_s: float | None  # where it starts in the recording
    signal_s: float  # total time of frames with signal
    has_signal: bool  # signal_s >= SIGNAL_MIN_S


def band_limited(samples: np.ndarray, rate_hz: int) -> np.ndarray:
    """Samples at HEARING_RATE_HZ in the telephone band (zero-phase Butterworth, order 4)."""
    x = resample(np.asarray(samples, dtype=np.float64), rate_hz, HEARING_RATE_HZ)
    sos = butter(4, BAND_HZ, btype="bandpass", fs=HEARING_RATE_HZ, output="sos")
    if x.size <= 27:  # sosfiltfilt's padding needs a few samples more than the filter's order
        return np.zeros(x.size)
    return sosfiltfilt(sos, x)


def frame_dbfs(samples: np.ndarray, rate_hz: int) -> np.ndarray:
    """RMS of each whole FRAME_S frame in dBFS (int16 full scale); -inf for digital silence."""
    size = int(round(rate_hz * FRAME_S))
    count = samples.size // size
    if count == 0:
        return np.zeros(0)
    frames = np.asarray(samples[: count * size], dtype=np.float64).reshape(count, size)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    with np.errstate(divide="ignore"):
        return 20.0 * np.log10(rms / 32768.0)


def silence(samples: np.ndarray, rate_hz: int, *, from_s: float = 0.0) -> Silence:
    """Longest silence and total signal in `samples` from `from_s` on (frames below SILENCE_DBFS)."""
    start = max(0, int(round(from_s * rate_hz)))
    levels = frame_dbfs(np.asarray(samples)[start:], rate_hz)
    quiet = levels < SILENCE_DBFS
    longest, longest_at, run = 0, None, 0
    for index, is_quiet in enumerate(quiet):
        run = run + 1 if is_quiet else 0
        if run > longest:
            longest, longest_at = run, index - run + 1
    signal_s = float((~quiet).sum() * FRAME_S)
    return Silence(longest_s=round(longest * FRAME_S, 3),
                   longest_from_s=None if longest_at is None else round(from_s + longest_at * FRAME_S, 3),
                   signal_s=round(signal_s, 3), has_signal=signal_s >= SIGNAL_MIN_S - 1e-9)


def audible_span(reference: np.ndarray) -> tuple[int, int]:
    """[first, last) samples of the frames above SILENCE_DBFS (at HEARING_RATE_HZ)."""
    levels = frame_dbfs(reference, HEARING_RATE_HZ)
    loud = np.flatnonzero(levels >= SILENCE_DBFS)
    if loud.size == 0:
        return 0, 0
    size = int(HEARING_RATE_HZ * FRAME_S)
    return int(loud[0] * size), int((loud[-1] + 1) * size)


def prepare_reference(reference: np.ndarray, rate_hz: int) -> np.ndarray:
    """The reference's audible span, band-limited at HEARING_RATE_HZ; HearingError when too little is left."""
    levels_ref = resample(np.asarray(reference, dtype=np.float64), rate_hz, HEARING_RATE_HZ)
    first, last = audible_span(levels_ref)
    if last - first < MIN_REFERENCE_S * HEARING_RATE_HZ:
        raise HearingError(f"the prompt has {(last - first) / HEARING_RATE_HZ:.2f} s of sound above "
                           f"{SILENCE_DBFS:g} dBFS; matching needs at least {MIN_REFERENCE_S:g} s")
    return band_limited(reference, rate_hz)[first:last]


def _ncc_curves(part: np.ndarray, spectrum: np.ndarray, size: int, energy_cum: np.ndarray,
                pieces: list[np.ndarray]) -> np.ndarray:
    """Normalised correlation (Pearson, no mean removal: the band has none) of each piece with every
    window of `part` (valid lags): one row per piece, all pieces of one length, in one batch of FFTs.
    `spectrum` is rfft(part, size), `energy_cum` the running sum of part**2 from 0 (shared by batches)."""
    n = pieces[0].size
    lags = part.size - n + 1
    flipped = rfft(np.stack([p[::-1] for p in pieces]), size, axis=1)
    dots = irfft(flipped * spectrum, size, axis=1)[:, n - 1: n - 1 + lags]
    window_energy = np.maximum(energy_cum[n:] - energy_cum[:-n], 0.0)
    norms = np.sqrt(np.sum(np.stack(pieces) ** 2, axis=1))[:, None]
    denominator = np.sqrt(window_energy)[None, :] * norms
    # A window with (next to) no energy cannot match anything: score 0, not 0/0.
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(window_energy[None, :] > 1e-6 * norms**2, dots / denominator, 0.0)
    return np.clip(out, -1.0, 1.0)


# Samples of FFT work per batch of pieces (a few arrays of this many float64s: about 100 MB at
# most). All pieces in one batch cost pieces x window: a 60 s hold message searched over 300 s
# took some 20 GB and the kernel's OOM killer.
BATCH_SAMPLES = 1 << 22


def match_prompt(recording: np.ndarray, recording_rate_hz: int, reference: np.ndarray, reference_rate_hz: int,
                 *, from_s: float, to_s: float, threshold: float = MATCH_THRESHOLD) -> PromptMatch:
    """Whether the reference prompt starts in the recording between from_s and to_s (seconds into it)."""
    ref = prepare_reference(reference, reference_rate_hz)
    rec = band_limited(recording, recording_rate_hz)
    return match_prepared(rec, ref, from_s=from_s, to_s=to_s, threshold=threshold)


def match_prepared(rec: np.ndarray, ref: np.ndarray, *, from_s: float, to_s: float,
                   threshold: float = MATCH_THRESHOLD) -> PromptMatch:
    """match_prompt on a band-limited recording and a prepared reference (both at HEARING_RATE_HZ)."""
    rate = HEARING_RATE_HZ
    seg = int(SEGMENT_S * rate)
    slip = int(SLIP_S * rate)
    starts = list(range(0, ref.size - seg + 1, seg))
    if starts[-1] + seg < ref.size:  # the tail: one more piece, overlapping the one before
        starts.append(ref.size - seg)
    pieces = [ref[s: s + seg] for s in starts]
    weights = np.array([float(np.sum(p**2)) for p in pieces])
    first_lag = max(0, int(math.floor(from_s * rate)))
    last_lag = min(int(math.ceil(to_s * rate)), rec.size - ref.size + slip)
    if last_lag < first_lag or weights.sum() <= 0:
        return PromptMatch(heard=False, score=0.0, start_s=None)
    # Only the recording around the window is needed: [first_lag - slip, last_lag + ref + slip).
    lo = max(0, first_lag - slip)
    hi = min(rec.size, last_lag + ref.size + slip)
    part = rec[lo:hi]
    count = last_lag - first_lag + 1
    total = np.zeros(count)
    used = [i for i in range(len(pieces)) if weights[i] > 0]
    first_curve = None
    if used and part.size >= seg:
        size = next_fast_len(part.size + seg - 1)
        spectrum = rfft(part, size)
        energy_cum = np.concatenate(([0.0], np.cumsum(part**2)))
        lags = np.arange(first_lag, last_lag + 1)
        batch = max(1, BATCH_SAMPLES // size)
        for at in range(0, len(used), batch):
            rows = used[at: at + batch]
            curves = _ncc_curves(part, spectrum, size, energy_cum, [pieces[i] for i in rows])
            # Each piece may slip by up to SLIP_S: its best correlation nearby.
            best = maximum_filter1d(curves, size=2 * slip + 1, axis=1, mode="constant", cval=0.0)
            for row, i in enumerate(rows):
                # The piece at starts[i] of a prompt starting at lag k sits at k + starts[i] (in `part`: minus lo).
                index = lags + starts[i] - lo
                valid = (index >= 0) & (index < best.shape[1])
                got = np.zeros(count)
                got[valid] = best[row, index[valid]]
                total += weights[i] * got
            if rows[0] == 0:
                first_curve = curves[0].copy()
    else:
        return PromptMatch(heard=False, score=0.0, start_s=None)
    score_curve = total / weights.sum()
    best_at = int(np.argmax(score_curve))
    best_score = float(score_curve[best_at])
    above = np.flatnonzero(score_curve >= threshold)
    if above.size == 0:
        return PromptMatch(heard=False, score=round(max(best_score, 0.0), 4), start_s=None,
                           best_start_s=round((first_lag + best_at) / rate, 4))
    # The first start that reached the threshold, then the first piece's own peak near it: the
    # loop of a looping prompt later on must not win over its first play.
    k = int(above[0])
    stop = min(count, k + slip + 1)
    k = k + int(np.argmax(score_curve[k:stop]))
    score = float(score_curve[k])
    start = first_lag + k
    if first_curve is not None and first_curve.size:
        a, b = max(0, start - slip - lo), min(first_curve.size, start + slip + 1 - lo)
        if b > a:
            start = a + lo + int(np.argmax(first_curve[a:b]))
    return PromptMatch(heard=True, score=round(score, 4), start_s=round(start / rate, 5),
                       best_start_s=round((first_lag + best_at) / rate, 4))
