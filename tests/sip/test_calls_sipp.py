"""Our caller against SIPp: completed calls with two-way RTP, and every rejection path."""

from __future__ import annotations

import pytest

from callproof.sip.records import Failure
from callproof.sip.settings import CallSpec, EngineSettings

# On both engines (make test); every call goes to SIPp.
pytestmark = [pytest.mark.sip_engine, pytest.mark.peers]


def test_calls_complete_with_two_way_rtp_and_no_loss(engines, sipp_echo):
    pool = engines.start(EngineSettings(name="caller"))
    assert pool.capacity >= 4
    pending = [pool.place(CallSpec(uri=sipp_echo.uri, talk_s=2.0)) for _ in range(4)]
    records = [p.wait_record(timeout=30) for p in pending]

    for record in records:
        assert record.failure is None, record
        assert record.final_code == 200
        assert record.hangup_by == "caller"
        assert 0 < record.setup_ms <= record.answer_ms < record.bye_ms < record.end_ms
        assert record.ack_ms is not None and record.bye_response_ms is not None
        # RFC 6076 SDD on loopback, and the record comes with it, not after a timeout.
        assert 0 < record.bye_response_ms - record.bye_ms < 500
        assert record.end_ms <= record.bye_response_ms + 1
        media = record.media
        assert media.codec == "PCMU/8000"
        # 2 s at 20 ms ptime is 100 packets each way (give or take one at either end).
        assert 95 <= media.tx_packets <= 110
        assert 95 <= media.rx_packets <= 110
        assert media.rx_lost == 0 and media.rx_discard == 0 and media.rx_dup == 0
        assert media.rtt_ms is None  # SIPp's echo sends no RTCP
    assert len({r.call_id for r in records}) == 4


def test_setup_is_reported_before_the_call_ends(engines, sipp_echo):
    pool = engines.start(EngineSettings(name="caller"))
    pending = pool.place(CallSpec(uri=sipp_echo.uri, talk_s=3.0))
    setup = pending.wait_setup(timeout=10)
    assert setup.answer_ms is not None and setup.bye_ms is None
    assert not pending.done.ready()
    assert pending.wait_record(timeout=20).bye_ms is not None


def test_486_is_rejected_with_its_code(engines, sipp_reject_486):
    pool = engines.start(EngineSettings(name="caller"))
    record = pool.place(CallSpec(uri=sipp_reject_486.uri)).wait_record(timeout=20)
    assert record.failure is Failure.REJECTED
    assert record.final_code == 486
    assert record.final_reason == "Rejected by test"
    assert record.provisional_ms[0][0] == 100
    assert record.answer_ms is None and record.media is None
    assert record.setup_ms == record.final_ms  # RFC 6076 SRD: no non-100 provisional


def test_503_is_rejected_with_its_code(engines, sipp_reject_503):
    pool = engines.start(EngineSettings(name="caller"))
    record = pool.place(CallSpec(uri=sipp_reject_503.uri)).wait_record(timeout=20)
    assert record.failure is Failure.REJECTED
    assert record.final_code == 503


def test_no_answer_is_cancelled_after_the_ring_timeout(engines, sipp_ringing):
    pool = engines.start(EngineSettings(name="caller"))
    record = pool.place(CallSpec(uri=sipp_ringing.uri, ring_timeout_s=1.5)).wait_record(timeout=20)
    assert record.failure is Failure.NO_ANSWER
    assert [code for code, _ in record.provisional_ms] == [180]
    assert 1500 <= record.cancel_ms < 1700
    # pjsua ends the call when its CANCEL goes out; the peer's 487 comes after the record.
    assert record.final_code is None and record.answer_ms is None
