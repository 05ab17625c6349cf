"""Every call ends within its own bounds and is recorded, whatever the target does (issue 13).

DTMF a target does not take the way we send it: RFC 4733 without telephone-event in
the answer (SIPp's plain UAS), INFO nobody answers (tests/sipp/uas_info_silent.xml);
and the positive control, INFO answered 200 (uas_info_ok.xml). Then the run's end:
the engine's "hangup" stops calls in every state, and an engine asked to stop while
calls are up still sends every record before it exits.
"""

from __future__ import annotations

import socket
import time

import pytest

from callproof.sip.records import Failure
from callproof.sip.settings import CallSpec, DtmfStep, EngineSettings
from tests.peers import sipp

pytestmark = [pytest.mark.sip_engine, pytest.mark.peers]

NO_TELEPHONE_EVENT = "the target's answer offered no telephone-event (RFC 4733), so no DTMF can go in RTP"


@pytest.fixture(scope="module")
def info_silent(run_dir):
    peer = sipp.scripted_uas(run_dir, "uas_info_silent", "-rtp_echo")
    yield peer
    peer.stop()


@pytest.fixture(scope="module")
def info_ok(run_dir):
    peer = sipp.scripted_uas(run_dir, "uas_info_ok", "-rtp_echo")
    yield peer
    peer.stop()


@pytest.fixture(scope="module")
def ringing(run_dir):
    peer = sipp.scripted_uas(run_dir, "uas_ring_forever")
    yield peer
    peer.stop()


@pytest.fixture
def black_hole():
    """A UDP port that reads nothing and answers nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"sip:nobody@127.0.0.1:{sock.getsockname()[1]}"


def queue_call(uri: str, *steps: DtmfStep) -> CallSpec:
    """peak-200's call: IVR digits, then up to 30 s waiting for the agent, then a long talk."""
    return CallSpec(uri=uri, ring_timeout_s=5, dtmf=steps, agent_marker="*9", patience_s=30, talk_s=60)


def test_rfc4733_without_telephone_event_hangs_up_at_once(engines, sipp_echo):
    pool = engines.start(EngineSettings(name="caller"))
    started = time.monotonic()
    record = pool.place(queue_call(sipp_echo.uri, DtmfStep(wait_s=0.5, digits="1"))).wait_record(timeout=20)
    assert time.monotonic() - started < 5  # not the 30 s patience, nor the talk time
    assert record.failure is Failure.DTMF_FAILED and record.failed
    assert (record.dtmf_failure_method, record.dtmf_failure_reason) == ("rfc4733", NO_TELEPHONE_EVENT)
    assert record.dtmf_sent == "" and record.agent_ms is None and record.hangup_by == "caller"
    assert 500 <= record.bye_ms - record.answer_ms < 1000  # the step's wait, then the BYE
    assert record.bye_response_ms is not None  # an orderly end the target answered


def test_info_nobody_answers_fails_the_step_at_its_timeout(engines, info_silent):
    pool = engines.start(EngineSettings(name="caller"))
    step = DtmfStep(wait_s=0.5, digits="1", method="info", timeout_s=1.5)
    record = pool.place(queue_call(info_silent.uri, step)).wait_record(timeout=20)
    assert record.failure is Failure.DTMF_FAILED
    assert record.dtmf_failure_method == "info"
    assert record.dtmf_failure_reason == "1 of 1 INFO requests got no final response within 1.5 s"
    assert 2000 <= record.bye_ms - record.answer_ms < 2600  # wait_s + timeout_s, then the BYE
    assert record.bye_response_ms is not None


def test_info_answered_200_delivers_the_digits_and_the_call_goes_on(engines, info_ok):
    pool = engines.start(EngineSettings(name="caller"))
    steps = (DtmfStep(wait_s=0.3, digits="12", method="info", timeout_s=2),
             DtmfStep(wait_s=0.3, digits="#", method="info", timeout_s=2))
    record = pool.place(CallSpec(uri=info_ok.uri, talk_s=1.0, dtmf=steps)).wait_record(timeout=20)
    assert record.failure is None, record
    assert record.dtmf_sent == "12#" and record.dtmf_failure_method is None and record.dtmf_failure_reason is None
    assert 1600 <= record.bye_ms - record.answer_ms < 2600  # two steps, then the talk time


def test_the_run_end_stops_calls_in_every_state_and_records_them(engines, sipp_echo, ringing, black_hole):
    pool = engines.start(EngineSettings(name="caller"))
    talking = pool.place(CallSpec(uri=sipp_echo.uri, talk_s=60))
    queued = pool.place(queue_call(sipp_echo.uri))
    rings = pool.place(CallSpec(uri=ringing.uri, ring_timeout_s=30))
    silent = pool.place(CallSpec(uri=black_hole, ring_timeout_s=30))
    time.sleep(2)
    stopped_at = time.monotonic()
    pool.hang_up_all()
    records = [p.wait_record(timeout=15) for p in (talking, queued, rings, silent)]
    assert time.monotonic() - stopped_at < 6  # a BYE's response is awaited 4 s at most
    assert all(r.failure is Failure.STOPPED and not r.failed for r in records), records
    for answered in records[:2]:
        assert answered.hangup_by == "caller" and answered.answer_ms is not None
        assert answered.bye_ms - answered.answer_ms > 1500 and answered.bye_response_ms is not None
    assert records[1].agent_ms is None  # it was still queued: the verifier leaves it undecided
    assert [code for code, _ in records[2].provisional_ms] == [180] and records[2].cancel_ms > 1500
    assert records[3].provisional_ms == () and records[3].answer_ms is None and records[3].cancel_ms > 1500


def test_an_engine_stopped_with_calls_up_sends_every_record_first(engines, sipp_echo, info_silent):
    pool = engines.start(EngineSettings(name="caller"))
    pending = [pool.place(CallSpec(uri=sipp_echo.uri, talk_s=60)) for _ in range(3)]
    # One call waits on an INFO nobody answers: the stop must not wait for its 30 s.
    pending.append(pool.place(queue_call(info_silent.uri, DtmfStep(wait_s=0.2, digits="1", method="info",
                                                                      timeout_s=30))))
    time.sleep(2)
    stopped_at = time.monotonic()
    pool.stop()  # what a second Ctrl-C or the end of `callproof run` leads to
    assert time.monotonic() - stopped_at < 10
    records = [p.wait_record(timeout=0) for p in pending]  # already there: not lost with the process
    assert [r.failure for r in records] == [Failure.STOPPED] * 4
    assert all(r.bye_ms is not None and r.hangup_by == "caller" for r in records)
