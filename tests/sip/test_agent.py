"""Our caller against our own agent: RTT, prompts, DTMF, TLS with SRTP."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from callproof.sip.records import Failure
from callproof.sip.settings import AgentSpec, CallSpec, DtmfStep, EngineSettings
from tests.waiting import wait_until

pytestmark = pytest.mark.sip_engine  # on both engines (make test)


def agent_uri(pool, transport: str = "udp") -> str:
    port = pool.processes[0].sip_ports[transport]
    suffix = ";transport=tls" if transport == "tls" else ""
    return f"sip:agent@127.0.0.1:{port}{suffix}"


def inbound_records(pool, count: int, timeout_s: float = 10.0):
    """The agent's records of the calls it took (they arrive after the caller's)."""
    process = pool.processes[0]
    wait_until(lambda: len(process.inbound) >= count, timeout_s, what=f"the agent's {count} inbound records")
    return list(process.inbound)


def rms(path) -> float:
    with wave.open(str(path)) as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(float)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


def test_rtt_is_reported_and_the_agents_prompt_arrives(engines, tone_wav, tmp_path):
    agent = engines.start(EngineSettings(name="agent", agent=AgentSpec(mode="prompt", prompt=str(tone_wav))))
    caller = engines.start(EngineSettings(name="caller"))
    recording = tmp_path / "received.wav"
    # RTCP reports come every 5 s (randomised): 8 s gives at least one RTT sample.
    record = caller.place(CallSpec(uri=agent_uri(agent), talk_s=8.0, record_to=str(recording))).wait_record(30)

    assert record.failure is None
    media = record.media
    assert media.rtcp_rr_received >= 1
    assert media.rtt_ms is not None and 0 <= media.rtt_ms < 50  # loopback
    assert media.rx_lost == 0
    assert rms(recording) > 1000  # the tone's RMS is about 8500; silence is 0

    (inbound,) = inbound_records(agent, 1)
    assert inbound.direction == "inbound"
    assert inbound.call_id == record.call_id
    assert inbound.hangup_by == "caller"  # as the agent saw it: the far end's BYE
    assert inbound.media.rx_packets > 300
    # Who called, as the INVITE named the caller (no PBX between: nothing asserted).
    assert inbound.extra["from"] == "sip:callproof@127.0.0.1"  # the caller's account, its tag left out
    assert inbound.extra["asserted_identity"] is None


def test_without_a_prompt_the_recording_is_silent(engines, tmp_path):
    agent = engines.start(EngineSettings(name="agent", agent=AgentSpec(mode="echo")))
    caller = engines.start(EngineSettings(name="caller"))
    recording = tmp_path / "received.wav"
    record = caller.place(CallSpec(uri=agent_uri(agent), talk_s=1.0, record_to=str(recording))).wait_record(30)
    assert record.failure is None
    assert rms(recording) < 50  # the echo of our own silence: the RMS check can fail


def test_agent_rings_then_answers_and_hangs_up_after_its_handle_time(engines):
    agent = engines.start(EngineSettings(
        name="agent", agent=AgentSpec(ring_delay_s=0.5, handle_s=(1.0,))))
    caller = engines.start(EngineSettings(name="caller"))
    record = caller.place(CallSpec(uri=agent_uri(agent), talk_s=10.0)).wait_record(30)

    assert record.failure is None
    assert record.hangup_by == "callee"
    assert [code for code, _ in record.provisional_ms] == [100, 180]  # pjsua sends 100 Trying itself
    (inbound,) = inbound_records(agent, 1)
    assert inbound.hangup_by == "callee"  # as the agent saw it: its own BYE
    assert 0 < inbound.bye_response_ms - inbound.bye_ms < 500  # the agent's own BYE, answered
    assert 500 <= record.answer_ms < 700
    assert 1000 <= record.bye_ms - record.answer_ms < 1300


@pytest.mark.parametrize("method", ["rfc4733", "info"])
def test_agent_reports_exactly_the_digits_sent(engines, method):
    agent = engines.start(EngineSettings(name="agent", agent=AgentSpec()))
    caller = engines.start(EngineSettings(name="caller"))
    steps = (DtmfStep(wait_s=0.5, digits="1234", method=method), DtmfStep(wait_s=0.5, digits="*#09", method=method))
    record = caller.place(CallSpec(uri=agent_uri(agent), talk_s=2.0, dtmf=steps)).wait_record(30)

    assert record.failure is None
    assert record.dtmf_sent == "1234*#09"
    (inbound,) = inbound_records(agent, 1)
    assert inbound.dtmf_received == "1234*#09"


def test_caller_measures_time_to_agent_from_the_pickup_marker(engines):
    agent = engines.start(EngineSettings(name="agent", agent=AgentSpec(pickup_marker="*9")))
    caller = engines.start(EngineSettings(name="caller"))
    record = caller.place(CallSpec(uri=agent_uri(agent), talk_s=1.0, agent_marker="*9", patience_s=5)).wait_record(30)
    assert record.failure is None
    assert record.answer_ms < record.agent_ms < record.answer_ms + 1500
    assert record.dtmf_received == "*9"


def test_caller_abandons_when_no_agent_comes_within_its_patience(engines):
    agent = engines.start(EngineSettings(name="agent", agent=AgentSpec()))  # sends no marker
    caller = engines.start(EngineSettings(name="caller"))
    record = caller.place(CallSpec(uri=agent_uri(agent), talk_s=5.0, agent_marker="*9", patience_s=1.0)).wait_record(30)
    assert record.failure is Failure.ABANDONED
    assert record.agent_ms is None
    assert 1000 <= record.bye_ms - record.answer_ms < 1300


def test_tls_call_with_mandatory_srtp(engines, tls_files):
    cert, key = tls_files
    tls = dict(transports=("tls",), tls_cert=str(cert), tls_key=str(key), srtp="mandatory")
    agent = engines.start(EngineSettings(name="agent", agent=AgentSpec(), **tls))
    caller = engines.start(EngineSettings(name="caller", **tls))
    record = caller.place(CallSpec(uri=agent_uri(agent, "tls"), talk_s=1.0)).wait_record(30)

    assert record.failure is None, record.final_reason
    assert record.media.srtp is True
    assert record.media.rx_packets > 40 and record.media.rx_lost == 0
    (inbound,) = inbound_records(agent, 1)
    assert inbound.media.srtp is True


def test_agent_requiring_srtp_refuses_a_caller_without_it(engines, tls_files):
    cert, key = tls_files
    tls = dict(transports=("tls",), tls_cert=str(cert), tls_key=str(key))
    agent = engines.start(EngineSettings(name="agent", agent=AgentSpec(), srtp="mandatory", **tls))
    caller = engines.start(EngineSettings(name="caller", srtp="off", **tls))
    record = caller.place(CallSpec(uri=agent_uri(agent, "tls"), talk_s=1.0)).wait_record(30)

    assert record.failure is Failure.REJECTED
    assert record.final_code == 488
    assert record.media is None
