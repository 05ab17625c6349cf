"""Bad input and dead targets: one clear sentence or the right Failure, and a clean shutdown."""

from __future__ import annotations

import socket

import pytest

from callproof.sip.errors import EngineError, SipConfigError
from callproof.sip.pool import EnginePool
from callproof.sip.records import Failure
from callproof.sip.settings import AgentSpec, CallSpec, EngineSettings
from tests.peers.net import free_port

pytestmark = pytest.mark.sip_engine  # on both engines (make test)


def test_a_silent_target_times_out_at_the_ring_timeout(engines):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
    silent.bind(("127.0.0.1", 0))
    try:
        pool = engines.start(EngineSettings(name="caller"))
        spec = CallSpec(uri=f"sip:x@127.0.0.1:{silent.getsockname()[1]}", ring_timeout_s=1.0)
        record = pool.place(spec).wait_record(timeout=15)
    finally:
        silent.close()
    assert record.failure is Failure.TIMEOUT
    assert record.provisional_ms == () and record.final_code is None  # nothing came back
    assert 1000 <= record.cancel_ms < 1200
    assert record.end_ms < 1300  # pjsua frees the call at once, not after Timer B (32 s)


def test_a_refused_tcp_connection_is_a_transport_error(engines):
    pool = engines.start(EngineSettings(name="caller", transports=("udp", "tcp")))
    closed = free_port(socket.SOCK_STREAM)
    record = pool.place(CallSpec(uri=f"sip:x@127.0.0.1:{closed};transport=tcp")).wait_record(timeout=15)
    assert record.failure is Failure.TRANSPORT_ERROR
    assert record.final_code is None
    assert record.final_reason == "Connection refused"  # the TCP connect itself, not a UDP fallback
    assert record.end_ms < 1000


def test_an_unresolvable_host_is_a_transport_error(engines):
    pool = engines.start(EngineSettings(name="caller"))
    record = pool.place(CallSpec(uri="sip:x@callproof-test.invalid")).wait_record(timeout=15)
    assert record.failure is Failure.TRANSPORT_ERROR
    assert "resolve" in record.final_reason.lower() or "gethostbyname" in record.final_reason


@pytest.mark.parametrize("make, message", [
    (lambda tmp: CallSpec(uri="sip:@@bad"),
     'target URI must be a SIP URI such as sip:600@pbx.example.com (got "sip:@@bad")'),
    (lambda tmp: CallSpec(uri="sip:a@b", prompt=str(tmp / "missing.wav")),
     "prompt WAV file {tmp}/missing.wav does not exist"),
    (lambda tmp: EngineSettings(codecs=("G729",)),
     "codec 'G729' is not supported (choose from PCMU, PCMA, G722, opus, GSM, iLBC, speex, L16)"),
    (lambda tmp: EngineSettings(transports=("sctp",)), "transport 'sctp' is not one of udp, tcp, tls"),
    (lambda tmp: AgentSpec(mode="prompt"), "agent mode prompt needs a prompt WAV"),
])
def test_bad_settings_are_one_sentence(tmp_path, make, message):
    with pytest.raises(SipConfigError) as error:
        make(tmp_path)
    assert str(error.value) == message.format(tmp=tmp_path)


def test_a_file_that_is_not_a_wav_is_refused(tmp_path):
    fake = tmp_path / "prompt.wav"
    fake.write_text("not audio")
    with pytest.raises(SipConfigError, match=r"^prompt WAV file .*prompt.wav is not a PCM WAV"):
        CallSpec(uri="sip:a@b", prompt=str(fake))


def test_a_port_in_use_fails_start_with_one_sentence_and_a_clean_exit(run_dir):
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    pool = EnginePool.of([EngineSettings(name="caller", sip_port=port)], log_dir=run_dir)
    try:
        with pytest.raises(EngineError, match=rf"^cannot open the SIP UDP transport on 127.0.0.1:{port}: "):
            pool.start()
    finally:
        taken.close()
        pool.stop()
    assert pool.processes[0].returncode == 3  # orderly exit, not pjsua's abort (134)
