"""RFC 6076 metrics and the call-center view on a known mix of outcomes, counted by hand."""

from __future__ import annotations

import pytest

from callproof.harness.verdict.connect import (
    call_center,
    completed,
    first_answer_s,
    first_answer_waits_s,
    handle_time_s,
    invite_sent,
    rfc6076,
    rfc6076_code,
)
from callproof.sip.records import Failure
from tests.verify import records as r


def mix():
    """100 INVITEs with a known outcome each (counts below are what the test expects)."""
    calls = []
    calls += [r.answered(i, answer_ms=200.0 + i, ringing_ms=40.0 + i) for i in range(55)]  # 55 completed
    calls += [r.answered(100 + i, hangup_by="callee") for i in range(2)]  # their BYE: completed
    calls += [r.answered(200 + i, failure=Failure.MEDIA_TIMEOUT) for i in range(2)]  # established, not completed
    calls += [r.answered(300, bye_response=False)]  # our BYE unanswered: a failed SDD, not completed
    calls += [r.rejected(486, 400 + i, final_ms=90.0) for i in range(10)]
    calls += [r.rejected(480, 500 + i) for i in range(5)]
    calls += [r.rejected(603, 600 + i) for i in range(3)]
    calls += [r.rejected(503, 700 + i, final_ms=30.0) for i in range(8)]
    calls += [r.rejected(500, 800 + i) for i in range(2)]
    calls += [r.timed_out(900 + i) for i in range(4)]  # no response at all
    calls += [r.timed_out(950, answered_487=True)]  # only 100 Trying; the 487 answers our CANCEL
    calls += [r.rejected(302, 1000 + i) for i in range(3)]  # redirects: out of SER and SEER
    calls += [r.not_answered(1100 + i) for i in range(2)]  # rang out: the 487 is our CANCEL's
    calls += [r.transport_error(1200)]
    calls += [r.rejected(404, 1300)]
    assert len(calls) == 100
    return calls


def test_rfc6076_codes_follow_rfc3261_for_missing_responses():
    assert rfc6076_code(r.timed_out()) == 408  # RFC 3261 8.1.3.1: a timeout is a 408
    assert rfc6076_code(r.timed_out(answered_487=True)) == 408  # not the 487 that answers our CANCEL
    assert rfc6076_code(r.transport_error()) == 503  # RFC 3261 8.1.3.1: a transport error is a 503
    assert invite_sent(r.transport_error()) and not invite_sent(r.refused())
    assert rfc6076_code(r.not_answered()) is None  # we gave up while it rang
    assert rfc6076_code(r.rejected(486)) == 486
    assert rfc6076_code(r.answered()) == 200


def test_ser_seer_isa_scr_on_a_known_mix():
    m = rfc6076(mix() + [r.refused(2000)])  # refused by our own stack: no INVITE, no attempt
    assert (m.not_sent, m.invites, m.redirected) == (1, 100, 3)
    # SER (4.6) = 2xx / (INVITEs - 3xx) = (55 + 2 + 2 + 1) / (100 - 3) = 60 / 97
    assert (m.ser.count, m.ser.total) == (60, 97) and m.ser.pct == pytest.approx(61.855670, abs=1e-6)
    # SEER (4.7) = (200 + 480 + 486 + 600 + 603) / (INVITEs - 3xx) = (60 + 5 + 10 + 0 + 3) / 97
    assert (m.seer.count, m.seer.total) == (78, 97) and m.seer.pct == pytest.approx(80.412371, abs=1e-6)
    # ISA (4.8) = (408 + 500 + 503 + 504) / INVITEs = (5 timeouts + 2 + 8 + 1 transport error) / 100
    assert (m.isa.count, m.isa.total) == (16, 100) and m.isa.pct == 16.0
    # SCR (4.9) = completed / INVITEs: 55 + 2 (their BYE); not the 2 media timeouts, not the unanswered BYE
    assert (m.scr.count, m.scr.total) == (57, 100)
    assert m.codes == {"200": 60, "302": 3, "404": 1, "408": 5, "480": 5, "486": 10, "500": 2, "503": 9,
                       "603": 3, "none": 2}
    assert m.sdd_failed == 1
    # Wilson 16/100 by hand: centre (0.16 + z^2/200) / (1 + z^2/100) = 0.179207 / 1.038415 = 0.172578,
    # half 1.887458 * sqrt(0.16 * 0.84 / 100 + z^2 / 40000) = 1.887458 * 0.037948 = 0.071625.
    low, high = m.isa.ci_pct
    assert low == pytest.approx(10.0953, abs=1e-3) and high == pytest.approx(24.4203, abs=1e-3)


def test_srd_split_into_successful_and_failed_setups():
    calls = mix()
    # Successful SRD: the 180 of each answered call. 55 at 40..94 ms, 5 at 50 ms.
    successful = sorted([40.0 + i for i in range(55)] + [50.0] * 5)
    m = rfc6076(calls)
    assert m.srd_successful_ms["p50"] == successful[29]  # nearest rank 30 of 60
    # Failed SRD: the final of each rejection (486 at 90 ms, 503 at 30 ms, others 80 ms) and the
    # 180 of the 2 calls that rang out (60 ms); none for calls without a status-indicative response.
    failed = [90.0] * 10 + [80.0] * 5 + [80.0] * 3 + [30.0] * 8 + [80.0] * 2 + [80.0] * 3 + [60.0] * 2 + [80.0]
    # SRD is CallRecord.setup_ms, the definition the report's setup plot reads as well.
    assert r.timed_out(answered_487=True).setup_ms is None and r.transport_error().setup_ms is None
    assert sorted(v for c in calls if not c.answered and (v := c.setup_ms) is not None) == sorted(failed)
    assert m.srd_failed_ms == {"p50": 80.0, "p95": 90.0, "p99": 90.0}


def test_sdd_and_sdt():
    call = r.answered(answer_ms=200.0, talk_ms=3000.0)
    m = rfc6076([call, r.answered(1, talk_ms=5000.0, bye_response=False)])
    assert m.sdd_successful_ms["p50"] == 2.0  # BYE at 3200 ms, its 200 at 3202 ms
    assert m.sdd_failed == 1
    assert m.sdt_completed_s["p50"] == 3.0 and m.sdt_failed_s["p50"] == 5.0
    assert completed(call) and not completed(r.answered(failure=Failure.MEDIA_TIMEOUT))


def test_call_center_with_an_agent_marker():
    calls = [r.answered(i, agent_ms=5_000.0 + 1_000.0 * i) for i in range(12)]  # agents at 5..16 s
    calls += [r.answered(20 + i, agent_ms=25_000.0 + i) for i in range(3)]  # agents at 25 s: late
    calls += [r.abandoned(30 + i) for i in range(3)]
    calls += [r.rejected(503, 40 + i) for i in range(2)]
    calls += [r.answered(50, hangup_by="callee")]  # the queue hung up before any agent
    calls += [r.not_answered(60), r.refused(70)]
    centre = call_center(calls, by_agent=True, service_level_s=20.0)
    assert centre.offered == 22
    assert (centre.answered.count, centre.answered.total) == (15, 22)  # answer rate 68.2%
    assert (centre.abandoned.count, centre.abandoned.total) == (3, 22)  # abandoned: not failures
    assert centre.system_failed == 22 - 15 - 3
    assert (centre.service_level.count, centre.service_level.total) == (12, 22)  # within 20 s / offered
    assert centre.time_to_agent_ms["p50"] == 12_000.0  # nearest rank 8 of 15
    assert centre.system_answer_ms["p50"] == 200.0  # the queue's 200 OK, reported apart
    out = centre.service_level_dict()
    assert out["within_s"] == 20.0 and out["answered_within_pct"] == pytest.approx(100 * 12 / 22)


def test_call_center_without_a_marker_counts_the_200_ok():
    calls = [r.answered(i, answer_ms=1_000.0 * (i + 1)) for i in range(25)] + [r.rejected(486)]
    centre = call_center(calls, by_agent=False, service_level_s=20.0)
    assert (centre.answered.count, centre.service_level.count, centre.offered) == (25, 20, 26)


def test_first_answer_counts_rung_out_calls_as_longer_than_any_answer():
    calls = [r.answered(answer_ms=1500.0), r.not_answered(), r.rejected(503), r.timed_out()]
    assert first_answer_s(calls) == [1.5, float("inf")]


def test_the_queue_figures_read_the_agent_marker_never_the_200_ok():
    """The IVR answers in 300 ms; agents pick up 5-16 s later; 3 callers abandon after 60 s."""
    calls = [r.answered(i, answer_ms=300.0, agent_ms=5_000.0 + 1_000.0 * i, talk_ms=30_000.0) for i in range(12)]
    calls += [r.abandoned(30 + i, patience_ms=60_000.0 + 1_000.0 * i) for i in range(3)]
    calls += [r.answered(40, answer_ms=300.0, agent_ms=None, failure=Failure.STOPPED)]  # queued at the run's end
    centre = call_center(calls, by_agent=True, service_level_s=10.0)
    assert centre.offered == 15  # the call cut while queued is undecided: not offered
    assert (centre.answered.count, centre.abandoned.count, centre.service_level.count) == (12, 3, 6)
    assert centre.time_to_agent_ms == {"p50": 10_000.0, "p95": 16_000.0, "p99": 16_000.0}
    # Abandoned: INVITE (0) to our BYE at 300 ms + patience.
    assert centre.time_to_abandon_ms == {"p50": 61_300.0, "p95": 62_300.0, "p99": 62_300.0}
    # Handle time: the marker to the BYE at 300 + 30,000 ms: 25.3 s down to 14.3 s, mean 19.8 s.
    assert centre.handle_time_s["mean"] == pytest.approx(19.8) and centre.handle_time_s["p50"] == 19.3
    assert centre.system_answer_ms["p50"] == 300.0  # the 200 OK, the SIP dialog's figure
    out = centre.to_dict()
    assert out["time_to_abandon_ms"] == centre.time_to_abandon_ms and out["handle_time_s"]["mean"] == 19.8
    # The first answer: time to agent for those who reached one, the abandoned as longer than any.
    assert sorted(first_answer_s(calls, by_agent=True)) == [5.0 + i for i in range(12)] + [float("inf")] * 3
    assert first_answer_waits_s(calls, by_agent=True) == [60.3, 61.3, 62.3]
    assert handle_time_s(calls[-1], by_agent=True) is None and handle_time_s(calls[12], by_agent=True) is None
