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


def test_unreadable_wav_is_one_sentence(tmp_path):
    path = tmp_path / "not.wav"
    path.write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(AudioError, match=rf"^{path} is not a readable WAV file \(.+\)\.$"):
        pesq_score(path, path)
