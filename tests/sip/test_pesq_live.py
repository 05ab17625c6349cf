"""ITU-T P.862 PESQ on real G.711 calls: our agent plays speech, our caller records it.

Clean, then through a relay that loses 3% and 10% of the agent's packets (seeded):
the score is >= 4.0 clean and lower at each step, and pjsua counts exactly the
packets the relay dropped.
"""

from __future__ import annotations

import shutil
import subprocess
import wave

import numpy as np
import pytest

from callproof.rtp_analysis.audio import read_wav, resample
from callproof.rtp_analysis.pesq import pesq_score
from callproof.sip.pool import stop_pools
from callproof.sip.settings import AgentSpec, CallSpec, EngineSettings, MediaSettings
from tests.peers.relay import LossyRelay

# On both engines (make test): the agent sends as soon as it
# answers, before the caller's stream reads its socket, which once cost 2.12.1 a 500 ms
# media-thread sleep (sip/pjproject/patches/0003-media-poll-timeout.patch).
pytestmark = [pytest.mark.sip_engine, pytest.mark.heavy]

VOICE = "en-us+f2"  # espeak-ng's female voice: its male voice is too buzzy for PESQ (rtp_analysis tests)
TEXT = "The quick brown fox jumps over the lazy dog. Please hold, an agent will be with you shortly."
RELAY_IP = "127.0.0.3"
# RFC 3550 interarrival jitter the caller saw: about 0.5 ms on an undisturbed loopback; a
# relay adding 0-10 ms of jitter gives 4.5 ms and costs the 3% step about 0.2 of PESQ.
CLEAN_PATH_JITTER_MS = 2.0
ATTEMPTS = 3


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.fail("espeak-ng is not installed (Debian package espeak-ng; .ci/run installs it)")
    folder = tmp_path_factory.mktemp("speech")
    raw = folder / "raw.wav"
    subprocess.run([espeak, "-v", VOICE, "-s", "150", "-w", str(raw), TEXT], check=True, timeout=60)
    samples, rate = read_wav(raw)
    pcm = np.round(resample(samples, rate, 8000)).clip(-32768, 32767).astype("<i2")
    path = folder / "speech-8k.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(pcm.tobytes())
    return path, pcm.size / 8000.0


def call_and_score(engines, speech, tmp_path, loss: float, media_ports, *, codec: str = "PCMU",
                   media: MediaSettings | None = None, seed: int = 20261126):
    """PESQ of one call through the relay, measured again (at most ATTEMPTS times) while the
    machine disturbed the loopback path: a stall anywhere (another process taking both cores)
    reaches the caller as jitter, and its jitter buffer then stretches and squeezes the speech,
    which PESQ scores as harshly as the loss under test."""
    path, seconds = speech
    # One call per process: their RTP sockets are the first port of these (the relay takes the same
    # numbers on its own address).
    caller_port, agent_port = media_ports.claim(4).start, media_ports.claim(4).start
    for attempt in range(1, ATTEMPTS + 1):
        media = media or MediaSettings.for_codecs((codec,))
        agent = engines.start(EngineSettings(name="agent", codecs=(codec,), media=media, rtp_port=agent_port,
                                             rtp_port_range=2, rtp_public_address=RELAY_IP,
                                             agent=AgentSpec(mode="prompt", prompt=str(path))))
        caller = engines.start(EngineSettings(name="caller", codecs=(codec,), media=media, rtp_port=caller_port,
                                              rtp_port_range=2, rtp_public_address=RELAY_IP))
        recording = tmp_path / f"received-{codec}-{loss}-{attempt}.wav"
        uri = f"sip:agent@127.0.0.1:{agent.processes[0].sip_ports['udp']}"
        with LossyRelay(relay_ip=RELAY_IP, ports=(caller_port, agent_port), lossy=caller_port,
                        loss=loss, seed=seed) as relay:
            record = caller.place(CallSpec(uri=uri, talk_s=seconds + 1.0, record_to=str(recording))).wait_record(60)
        stop_pools([agent, caller])
        assert record.failure is None, record.final_reason
        disturbance = path_disturbance(record.media, relay.dropped)
        if disturbance is None:
            return pesq_score(path, recording), record, relay, recording
        print(f"loss {loss}, attempt {attempt}: {disturbance}, measuring again")
    pytest.fail(f"the loopback path never ran clean in {ATTEMPTS} calls ({disturbance} at loss {loss}): "
                "the machine is too busy for this measurement")


def path_disturbance(media, dropped: int) -> str | None:
    """Why this call's audio was shaped by the machine rather than by the relay, or None.

    Jitter is a stall on the path. A frame the caller's jitter buffer found missing is a stall of
    the caller itself: the relay's drops show as the buffer running empty (one time per packet
    dropped, a couple more at 10%), never as missing frames, but a clean call whose caller was
    held up has had one missing (PESQ-WB 3.43 for G.722, where 4.0 is usual). A clean call whose
    buffer ran empty had a frame come late (Opus 3.95 with its buffer grown to 38 ms, where the 3%
    step scored 4.10)."""
    if media.rx_jitter_max_ms > CLEAN_PATH_JITTER_MS:
        return f"the path was disturbed (jitter up to {media.rx_jitter_max_ms} ms)"
    if media.jbuf_lost > 0:
        return f"the caller was held up ({media.jbuf_lost} frames missing from its jitter buffer)"
    if dropped == 0 and media.jbuf_empty > 0:
        return f"a frame came late (the jitter buffer ran empty {media.jbuf_empty} times, no packet dropped)"
    return None


def test_pesq_is_high_on_a_clean_call_and_falls_with_each_step_of_loss(engines, speech, tmp_path, media_ports):
    scores = []
    for loss in (0.0, 0.03, 0.10):
        result, record, relay, _ = call_and_score(engines, speech, tmp_path, loss, media_ports)
        media = record.media
        assert relay.forwarded > 150
        # pjsua's own count of lost packets is the relay's ground truth (the last
        # packets of the call may fall after the caller's final count).
        assert relay.dropped - 2 <= media.rx_lost <= relay.dropped
        if loss:
            assert relay.dropped / (relay.dropped + relay.forwarded) == pytest.approx(loss, abs=0.02)
        assert result.score is not None, result.reason
        scores.append(result.score)
        sent = relay.dropped + relay.forwarded
        print(f"loss {loss}: relay dropped {relay.dropped} of {sent}, pjsua rx_lost {media.rx_lost}, "
              f"jitter buffer: discarded {media.jbuf_discard}, empty {media.jbuf_empty}, PESQ {result.score:.2f}")
    clean, three, ten = scores
    print(f"PESQ clean {clean:.2f}, 3% loss {three:.2f}, 10% loss {ten:.2f}")
    assert clean >= 4.0
    assert clean > three > ten
