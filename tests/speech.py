"""Speech prompts for the hearing tests, made with espeak-ng at test time (Chinese and English).

Each is a mono 16-bit WAV at 8 kHz (what a scenario's prompt must be), optionally with
`lead_s` of digital silence before the speech: an agent playing it sends its first sound
exactly that long after it starts, which is the ground truth of a time to prompt.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from callproof.rtp_analysis.audio import read_wav, resample

# (language, voice, text): the prompts an IVR, a queue and an agent would play.
PROMPTS = {
    "menu_en": ("en", "Welcome to the service line. For sales press one, for support press two."),
    "hold_en": ("en", "Please hold, your call is important to us. An agent will be with you shortly."),
    "balance_en": ("en", "Thank you for calling. Your account balance is forty two dollars."),
    "menu_zh": ("zh", "欢迎致电客户服务中心，销售请按一，技术支持请按二。"),
    "hold_zh": ("zh", "请稍候，您的电话对我们很重要，客服人员将尽快为您服务。"),
    "balance_zh": ("zh", "谢谢您的来电，您的账户余额是四十二元。"),
}


def speech_samples(folder: Path, name: str) -> np.ndarray:
    """The prompt `name` as int16-scale samples at 8 kHz."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.fail("espeak-ng is not installed (Debian package espeak-ng; .ci/debian-packages installs it)")
    voice, text = PROMPTS[name]
    raw = folder / f"{name}-raw.wav"
    if not raw.exists():
        subprocess.run([espeak, "-v", voice, "-s", "160", "-w", str(raw), text], check=True, timeout=60)
    samples, rate = read_wav(raw)
    return np.round(resample(samples, rate, 8000)).clip(-32768, 32767)


def write_wav(path: Path, samples: np.ndarray, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.round(samples).clip(-32768, 32767).astype("<i2").tobytes())
    return path


def speech_wav(folder: Path, name: str, *, lead_s: float = 0.0, tail_s: float = 0.0) -> Path:
    """`name` as an 8 kHz WAV with lead_s of digital silence before it and tail_s after."""
    samples = speech_samples(folder, name)
    lead, tail = np.zeros(int(round(lead_s * 8000))), np.zeros(int(round(tail_s * 8000)))
    suffix = f"-lead{int(lead_s * 1000)}" if lead_s else ""
    return write_wav(folder / f"{name}{suffix}.wav", np.concatenate([lead, samples, tail]))
