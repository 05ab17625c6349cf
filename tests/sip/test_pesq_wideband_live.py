"""Wideband calls scored as wideband: G.722 (and Opus, on the built engine) end to end, PESQ P.862.2.

Our agent plays 16 kHz speech (espeak-ng) into a call whose codec list leads with a
wideband codec, so both engines run their bridge at 16 kHz (MediaSettings.for_codecs);
our caller records it. Clean, then through the relay losing 3% and 10% of the agent's
packets (seeded): the record names the codec, PESQ scores the recording in its wideband
mode, high when clean and lower at each step, and pjsua counts the packets the relay dropped.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import wave

import numpy as np
import pytest

from callproof.rtp_analysis.audio import read_wav, resample
from callproof.sip.engine.install import install_dir
from callproof.sip.settings import MediaSettings
from tests.sip.test_pesq_live import TEXT, VOICE, call_and_score

pytestmark = [pytest.mark.sip_engine, pytest.mark.heavy]  # both engines (make test)

# The bridge's resampling and a wideband codec's coding leave a clean call below P.862.2's
# ceiling (4.64 for identical signals); seen here on 2 busy cores: G.722 4.01 on both
# engines, Opus 4.19 (built engine); a G.722 call at 3.31-3.43 was one whose jitter buffer lost a
# frame to a stalled caller, which call_and_score now measures again.
CLEAN_WIDEBAND_MIN = 3.8
CODEC_NAMES = {"G722": "G722/16000", "opus": "opus/48000"}


def built_engine_loaded() -> bool:
    spec = importlib.util.find_spec("pjsua2")
    return bool(spec and spec.origin and spec.origin.startswith(str(install_dir())))


@pytest.fixture(scope="module")
def speech_16k(tmp_path_factory):
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.fail("espeak-ng is not installed (Debian package espeak-ng; .ci/run installs it)")
    folder = tmp_path_factory.mktemp("speech")
    raw = folder / "raw.wav"
    subprocess.run([espeak, "-v", VOICE, "-s", "150", "-w", str(raw), TEXT], check=True, timeout=60)
    samples, rate = read_wav(raw)
    pcm = np.round(resample(samples, rate, 16000)).clip(-32768, 32767).astype("<i2")
    path = folder / "speech-16k.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(pcm.tobytes())
    return path, pcm.size / 16000.0


@pytest.mark.parametrize("codec", ["G722", "opus"])
def test_a_wideband_call_is_scored_wideband_and_loss_lowers_it_at_each_step(engines, speech_16k, tmp_path, codec,
                                                                           media_ports):
    if codec == "opus" and not built_engine_loaded():
        pytest.skip("Opus needs the built engine (callproof engine build links libopus; the PyPI wheel has none)")
    scores = []
    for loss in (0.0, 0.03, 0.10):
        media = MediaSettings.for_codecs((codec,))
        assert media.clock_rate == 16000
        result, record, relay, recording = call_and_score(engines, speech_16k, tmp_path, loss, media_ports,
                                                          codec=codec, media=media, seed=20261207)
        rate = read_wav(recording)[1]
        assert record.media.codec == CODEC_NAMES[codec]  # the record names the codec
        assert rate == 16000  # recorded at the 16 kHz bridge
        assert result.band == "wideband" and result.method == "ITU-T P.862.2 MOS-LQO"
        assert result.score is not None, result.reason
        assert relay.dropped - 2 <= record.media.rx_lost <= relay.dropped
        scores.append(result.score)
        print(f"{codec} loss {loss}: relay dropped {relay.dropped} of {relay.dropped + relay.forwarded}, "
              f"rx_lost {record.media.rx_lost}, jitter max {record.media.rx_jitter_max_ms} ms, jitter buffer "
              f"discarded {record.media.jbuf_discard}, empty {record.media.jbuf_empty}, lost {record.media.jbuf_lost}, "
              f"delay {record.media.jbuf_delay_ms} ms, PESQ-WB {result.score:.2f}")
    clean, three, ten = scores
    assert clean >= CLEAN_WIDEBAND_MIN
    assert clean > three > ten
