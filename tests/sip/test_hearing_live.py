"""What the caller heard, on real calls: our agent plays a known prompt (espeak-ng Chinese and English,
the bundled hello.wav) after a known silence, our caller records, and the verdict's analysis
(callproof.harness.verdict.hearing) must find it at that delay; a different prompt is not heard; 5%
seeded loss (a relay between them) still is; an agent that answers and sends silence is dead air and
one-way audio; the same through Kamailio.

Ground truth: the agent's WAV starts with `lead_s` of digital silence, so its first sound leaves
lead_s after the agent's media started, which is its answer. The caller's time to prompt must be
that delay, plus the silence the prompt itself starts with before its first sound (espeak-ng's hold
messages: 40 ms), within 20 ms (the two processes' 20 ms bridge ticks are not in phase).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from callproof.harness.scenario.model import Expectation
from callproof.harness.verdict.hearing import analyse_call
from callproof.sip.settings import AgentSpec, CallSpec, EngineSettings, MediaSettings
from tests.peers.kamailio import kamailio_factory  # noqa: F401 (fixture)
from tests.peers.relay import LossyRelay
from tests.sip.test_agent import agent_uri
from tests.speech import speech_wav, write_wav

# On both engines (make test). The tests that time a prompt to TOLERANCE_MS
# are heavy: they have the machine to themselves (tests/conftest.py).
pytestmark = pytest.mark.sip_engine

TOLERANCE_MS = 20.0
BUNDLED = __import__("pathlib").Path(__file__).resolve().parents[2] / "scenarios" / "prompts" / "hello.wav"
RELAY_IP = "127.0.0.3"


def heard(engines, tmp_path, prompt, expected, *, lead_s: float, codec: str = "PCMU", talk_s: float | None = None,
          caller_prompt=None, uri=None, agent=None):
    """One call to an agent playing `prompt`; the caller's hearing.jsonl entry for `expected`."""
    media = MediaSettings.for_codecs((codec,))
    agent = agent or engines.start(EngineSettings(name="agent", codecs=(codec,), media=media,
                                                  agent=AgentSpec(mode="prompt", prompt=str(prompt))))
    caller = engines.start(EngineSettings(name="caller", codecs=(codec,), media=media))
    recording = tmp_path / f"received-{prompt.stem}-{codec}.wav"
    # The whole prompt, and 0.3 s of its next loop's lead silence: the lead stays the longest silence.
    spec = CallSpec(uri=uri or agent_uri(agent), talk_s=talk_s or seconds(prompt) + 0.3, record_to=str(recording),
                    prompt=str(caller_prompt) if caller_prompt else None)
    record = caller.place(spec).wait_record(60)
    assert record.failure is None, record.final_reason
    entry = analyse_call(record, recording, [Expectation(expected, 5.0, "answer", None)],
                         caller_signal=True if caller_prompt else None)
    return record, entry


def onset_ms(path) -> float:
    """Where the prompt's first sound is in its own WAV (callproof.rtp_analysis.hearing.audible_span)."""
    from callproof.rtp_analysis.audio import read_wav, resample
    from callproof.rtp_analysis.hearing import HEARING_RATE_HZ, audible_span

    samples, rate = read_wav(path)
    return 1000.0 * audible_span(resample(samples, rate, HEARING_RATE_HZ))[0] / HEARING_RATE_HZ


def seconds(path) -> float:
    from callproof.rtp_analysis.audio import read_wav

    samples, rate = read_wav(path)
    return samples.size / rate


@pytest.mark.heavy
@pytest.mark.parametrize(("name", "lead_s", "codec"), [("menu_en", 0.7, "PCMU"), ("menu_zh", 1.3, "PCMA"),
                                                       ("hold_zh", 0.9, "G722"), ("bundled", 1.1, "PCMU")])
def test_a_prompt_is_heard_at_the_agents_delay(engines, tmp_path, name, lead_s, codec):
    if name == "bundled":
        from callproof.rtp_analysis.audio import read_wav

        samples, _ = read_wav(BUNDLED)
        expected = BUNDLED
        prompt = write_wav(tmp_path / "hello-lead.wav", np.concatenate([np.zeros(int(lead_s * 8000)), samples]))
    else:
        expected = speech_wav(tmp_path, name)
        prompt = speech_wav(tmp_path, name, lead_s=lead_s)
    record, entry = heard(engines, tmp_path, prompt, expected, lead_s=lead_s, codec=codec)
    (result,) = entry["prompts"]
    print(f"{name} {codec}: time to prompt {result['time_to_prompt_ms']} ms for a delay of {lead_s * 1000:g} ms "
          f"+ {onset_ms(expected):g} ms to the prompt's first sound, "
          f"score {result['score']}, recording from {record.recording_start_ms - record.answer_ms:.1f} ms after "
          f"the answer, jitter buffer {record.media.jbuf_delay_ms} ms")
    assert result["heard"], result["reason"]
    assert result["time_to_prompt_ms"] == pytest.approx(lead_s * 1000 + onset_ms(expected), abs=TOLERANCE_MS)
    assert result["score"] > 0.9
    # The agent's lead silence is the longest silence (our jitter buffer's start adds a frame or two); audio came in.
    assert lead_s <= entry["dead_air_s"] <= lead_s + 0.08 and entry["audio_in"] is True


def test_a_different_prompt_is_not_heard(engines, tmp_path):
    played = speech_wav(tmp_path, "hold_en", lead_s=0.5)
    _, entry = heard(engines, tmp_path, played, speech_wav(tmp_path, "menu_en"), lead_s=0.5)
    (result,) = entry["prompts"]
    assert not result["heard"] and result["time_to_prompt_ms"] is None
    assert result["score"] < 0.5 and result["reason"].startswith("no match reached the threshold within")
    assert entry["audio_in"] is True


@pytest.mark.heavy
def test_five_percent_loss_still_hears_the_prompt(engines, tmp_path, media_ports):
    lead_s = 0.8
    prompt = speech_wav(tmp_path, "menu_zh", lead_s=lead_s)
    caller_port, agent_port = media_ports.claim(4).start, media_ports.claim(4).start
    media = MediaSettings.for_codecs(("PCMU",))
    agent = engines.start(EngineSettings(name="agent", codecs=("PCMU",), media=media, rtp_port=agent_port,
                                         rtp_port_range=2, rtp_public_address=RELAY_IP,
                                         agent=AgentSpec(mode="prompt", prompt=str(prompt))))
    caller = engines.start(EngineSettings(name="caller", codecs=("PCMU",), media=media, rtp_port=caller_port,
                                          rtp_port_range=2, rtp_public_address=RELAY_IP))
    recording = tmp_path / "lossy.wav"
    uri = f"sip:agent@127.0.0.1:{agent.processes[0].sip_ports['udp']}"
    with LossyRelay(relay_ip=RELAY_IP, ports=(caller_port, agent_port), lossy=caller_port, loss=0.05,
                    seed=20261207) as relay:
        record = caller.place(CallSpec(uri=uri, talk_s=seconds(prompt) + 0.3,
                                       record_to=str(recording))).wait_record(60)
    assert record.failure is None, record.final_reason
    entry = analyse_call(record, recording, [Expectation(speech_wav(tmp_path, "menu_zh"), 5.0, "answer", None)],
                         caller_signal=None)
    (result,) = entry["prompts"]
    share = relay.dropped / (relay.dropped + relay.forwarded)
    print(f"5% loss: relay dropped {relay.dropped} of {relay.dropped + relay.forwarded} ({share:.1%}), "
          f"score {result['score']}, time to prompt {result['time_to_prompt_ms']} ms")
    assert share == pytest.approx(0.05, abs=0.02)
    # The WAV played is lead_s of silence, then the prompt: its first sound is onset_ms(prompt) in.
    assert result["heard"] and result["time_to_prompt_ms"] == pytest.approx(onset_ms(prompt), abs=TOLERANCE_MS)


def test_an_agent_that_sends_silence_is_dead_air_and_one_way_audio(engines, tmp_path):
    silent = write_wav(tmp_path / "silence.wav", np.zeros(8000 * 3))
    talk_s = 8.0  # long enough for the agent's first RTCP receiver report (every 5 s, randomised)
    record, entry = heard(engines, tmp_path, silent, speech_wav(tmp_path, "menu_en"), lead_s=0.0, talk_s=talk_s,
                          caller_prompt=speech_wav(tmp_path, "hold_en", tail_s=0.5))
    assert record.media.rx_packets > 300  # RTP came: it carried digital silence
    assert entry["audio_in"] is False and entry["signal_s"] == 0.0
    assert entry["dead_air_s"] == pytest.approx(entry["recording_s"], abs=0.02)
    assert entry["dead_air_s"] == pytest.approx(talk_s, abs=0.3)
    assert entry["audio_out"] is True and entry["one_way"] is True
    assert entry["prompts"][0]["heard"] is False


@pytest.mark.heavy
@pytest.mark.peers
def test_through_kamailio(engines, tmp_path, kamailio_factory):  # noqa: F811 (fixture)
    lead_s = 1.0
    prompt = speech_wav(tmp_path, "menu_en", lead_s=lead_s)
    agent = engines.start(EngineSettings(name="agent", agent=AgentSpec(mode="prompt", prompt=str(prompt))))
    backend = f"sip:127.0.0.1:{agent.processes[0].sip_ports['udp']}"
    proxy = kamailio_factory(backends=(backend,), probing_mode=0)
    record, entry = heard(engines, tmp_path, prompt, speech_wav(tmp_path, "menu_en"), lead_s=lead_s,
                          uri=f"sip:agent@{proxy.host}:{proxy.port}", agent=agent)
    (result,) = entry["prompts"]
    # The WAV played is lead_s of silence, then the prompt: its first sound is onset_ms(prompt) in.
    assert result["heard"] and result["time_to_prompt_ms"] == pytest.approx(onset_ms(prompt), abs=TOLERANCE_MS)
    assert dataclasses.asdict(record)["answer_ms"] is not None
