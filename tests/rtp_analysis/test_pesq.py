"""P.862 PESQ offline: espeak-ng speech through a G.711 mu-law codec, with 20 ms frames lost."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from scipy.io import wavfile

from callproof.rtp_analysis.audio import read_wav, resample
from callproof.rtp_analysis.errors import AudioError
from callproof.rtp_analysis.pesq import pesq_of_signals, pesq_score
from tests.rtp_analysis.g711 import ulaw_decode, ulaw_encode

PROMPT = (
    "Thank you for calling. Your call is important to us. Please hold the line "
    "and the next available agent will answer shortly."
)
FRAME = 160  # 20 ms at 8 kHz
# espeak-ng's default male voice is so buzzy that a bare mu-law round trip scores only
# 3.9 on it; its female variant scores 4.3, in line with G.711 on natural speech.
VOICE = "en-us+f2"


@pytest.fixture(scope="module")
def speech_8k(tmp_path_factory) -> np.ndarray:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng; CI installs it via .ci/debian-packages)")
    path = tmp_path_factory.mktemp("speech") / "prompt.wav"
    subprocess.run([espeak, "-v", VOICE, "-s", "150", "-w", str(path), PROMPT], check=True, timeout=60)
    samples, rate = read_wav(path)
    return np.round(resample(samples, rate, 8000)).clip(-32768, 32767).astype(np.int16)


def g711_loopback(pcm: np.ndarray, loss: float, seed: int = 1234) -> np.ndarray:
    """mu-law encode/decode, then lose a random `loss` share of 20 ms frames (silence, no PLC)."""
    decoded = ulaw_decode(ulaw_encode(pcm)).astype(np.float64)
    frames = decoded.size // FRAME
    lost = np.random.default_rng(seed).choice(frames, int(round(loss * frames)), replace=False)
    for f in lost:
        decoded[f * FRAME : (f + 1) * FRAME] = 0.0
    return decoded


def test_clean_loopback_scores_at_least_4_and_loss_lowers_it_step_by_step(speech_8k):
    scores = [
        pesq_of_signals(speech_8k, 8000, g711_loopback(speech_8k, loss), 8000).score for loss in (0.0, 0.03, 0.10)
    ]
    clean, three, ten = scores
    assert clean >= 4.0
    assert clean > three > ten


def test_alignment_finds_the_offset_and_resamples_16k_files(speech_8k, tmp_path):
    clean = g711_loopback(speech_8k, 0.0)
    delayed = np.concatenate([np.zeros(2400), clean, np.zeros(4000)])  # 300 ms late, 500 ms longer
    wavfile.write(tmp_path / "prompt.wav", 8000, speech_8k)
    wavfile.write(tmp_path / "call.wav", 16000, np.round(resample(delayed, 8000, 16000)).astype(np.int16))
    result = pesq_score(tmp_path / "prompt.wav", tmp_path / "call.wav")
    assert result.offset_ms == pytest.approx(300.0, abs=0.25)
    aligned_directly = pesq_of_signals(speech_8k, 8000, clean, 8000)
    assert result.score == pytest.approx(aligned_directly.score, abs=0.15)
    assert result.degraded_silent is False


def test_silent_recording_has_no_score_and_says_so(speech_8k):
    result = pesq_of_signals(speech_8k, 8000, np.zeros(speech_8k.size), 8000)
    assert result.score is None and result.degraded_silent and result.reason == "the recording is silent"


def test_a_recording_within_the_settling_time_has_no_score_and_says_so(speech_8k):
    """A call hung up (or starved of media under load) within 0.25 s: an empty signal once the settling
    time is set aside, which scipy's correlation cannot take (an IndexError ended the whole PESQ step)."""
    for samples in (0, 1000, 2000):
        result = pesq_of_signals(speech_8k, 8000, np.zeros(samples), 8000)
        assert result.score is None and result.degraded_silent
        assert result.reason == "the recording is no longer than the 0.25 s set aside for settling"


def test_unreadable_wav_is_one_sentence(tmp_path):
    path = tmp_path / "not.wav"
    path.write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(AudioError, match=rf"^{path} is not a readable WAV file \(.+\)\.$"):
        pesq_score(path, path)


# -- wideband: ITU-T P.862.2 at 16 kHz ------------------------------------------------------

@pytest.fixture(scope="module")
def speech_16k(tmp_path_factory) -> np.ndarray:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng; CI installs it via .ci/debian-packages)")
    path = tmp_path_factory.mktemp("speech") / "prompt.wav"
    subprocess.run([espeak, "-v", VOICE, "-s", "150", "-w", str(path), PROMPT], check=True, timeout=60)
    samples, rate = read_wav(path)
    return np.round(resample(samples, rate, 16000)).clip(-32768, 32767).astype(np.int16)


def lose_frames(pcm: np.ndarray, loss: float, frame: int, seed: int = 1234) -> np.ndarray:
    out = pcm.astype(np.float64).copy()
    frames = out.size // frame
    for f in np.random.default_rng(seed).choice(frames, int(round(loss * frames)), replace=False):
        out[f * frame : (f + 1) * frame] = 0.0
    return out


def test_two_16k_signals_are_scored_wideband_and_say_so(speech_16k):
    clean = pesq_of_signals(speech_16k, 16000, speech_16k, 16000)
    assert (clean.band, clean.method) == ("wideband", "ITU-T P.862.2 MOS-LQO")
    assert clean.score > 4.5  # P.862.2's mapping tops out near 4.64 for identical signals
    # A narrowband leg (16 kHz speech through an 8 kHz channel) is what wideband PESQ is for:
    # it marks the lost band down, where narrowband PESQ of the same pair sees nothing wrong.
    narrowed = resample(resample(speech_16k.astype(np.float64), 16000, 8000), 8000, 16000)
    wide = pesq_of_signals(speech_16k, 16000, narrowed, 16000)
    assert wide.score < clean.score - 0.5
    as_narrowband = pesq_of_signals(resample(speech_16k, 16000, 8000), 8000, resample(narrowed, 16000, 8000), 8000)
    assert as_narrowband.band == "narrowband" and as_narrowband.score > 4.0


def test_wideband_loss_lowers_the_score_at_each_step(speech_16k):
    scores = [pesq_of_signals(speech_16k, 16000, lose_frames(speech_16k, loss, 320), 16000).score
              for loss in (0.0, 0.02, 0.05, 0.10)]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 4, scores


def test_a_narrowband_leg_of_a_wideband_prompt_is_scored_narrowband(speech_16k, speech_8k):
    result = pesq_of_signals(speech_16k, 16000, speech_8k, 8000)
    assert result.band == "narrowband" and result.method == "ITU-T P.862 + P.862.1 MOS-LQO"
