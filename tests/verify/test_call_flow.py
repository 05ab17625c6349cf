"""Calls the flow could not play out (issue 13): undelivered DTMF, a marker that never came,
calls the run's end hung up, and what the verdict says about them."""

from __future__ import annotations

import dataclasses

from callproof.harness.verdict import connect
from callproof.harness.verdict.flow import flow_notes
from callproof.harness.verdict.sla import judge
from callproof.harness.verdict.summary import call_counts
from callproof.reports.summary_file import Verdict
from callproof.sip.records import CallRecord, Failure
from tests.verify import records as r
from tests.verify.test_verify import PROBES, sla

NO_TELEPHONE_EVENT = "the target's answer offered no telephone-event (RFC 4733), so no DTMF can go in RTP"


def dtmf_failed(at_s: float, method: str = "rfc4733", reason: str = NO_TELEPHONE_EVENT) -> CallRecord:
    return dataclasses.replace(r.answered(at_s, talk_ms=4000.0), failure=Failure.DTMF_FAILED,
                               dtmf_failure_method=method, dtmf_failure_reason=reason)


def stopped(call: CallRecord) -> CallRecord:
    return dataclasses.replace(call, failure=Failure.STOPPED)


def test_only_the_targets_outcomes_count_as_failed():
    assert [f.value for f in Failure if not f.target_failure] == ["abandoned", "stopped", "engine_error"]
    calls = [dtmf_failed(0), stopped(r.answered(1)), r.abandoned(2), r.answered(3),
             dataclasses.replace(r.answered(4), failure=Failure.ENGINE_ERROR)]
    assert [c.failed for c in calls] == [True, False, False, False, False]
    assert call_counts(calls) == {"attempted": 5, "answered": 5, "abandoned": 1, "failed": 1, "stopped": 1}


def test_undelivered_dtmf_is_named_in_the_reason_with_its_method_and_cause():
    calls = [dtmf_failed(i) for i in range(30)] + [dtmf_failed(40, "info", "INFO was answered 405")]
    result = judge(calls, [], [], sla=sla(answer_rate_min=0.9), probes=PROBES, by_agent=True, faults_planned=0,
                   agent_marker="*9")
    assert result.verdict == Verdict.FAIL
    assert result.reason.startswith(
        f"31 of 31 answered calls were hung up because a DTMF step could not be delivered (rfc4733: "
        f"{NO_TELEPHONE_EVENT}); answer_rate 0 % misses >= 90 %")
    assert "agent marker" not in result.reason  # no call waited for it: the DTMF sentence says why


def test_a_marker_that_never_came_is_said_in_words():
    calls = [r.abandoned(i) for i in range(20)]
    result = judge(calls, [], [], sla=sla(answer_rate_min=0.9), probes=PROBES, by_agent=True, faults_planned=0,
                   agent_marker="*9")
    assert result.verdict == Verdict.FAIL
    assert result.reason.startswith("no call reached an agent: the target never sent the agent marker *9; are "
                                    "callproof's agents the ones answering the queue?; answer_rate 0 % misses")
    one_reached = calls + [r.answered(30, agent_ms=5000.0)]
    assert flow_notes(one_reached, agent_marker="*9") == []
    assert flow_notes(calls, agent_marker=None) == []  # answers by 200 OK: no marker to miss


def test_calls_stopped_before_their_outcome_are_not_judged():
    queued = [stopped(r.answered(i)) for i in range(50)]  # waiting for the agent when the run ended
    picked_up = [stopped(r.answered(100 + i, agent_ms=3000.0)) for i in range(10)]
    ringing = [dataclasses.replace(r.not_answered(200 + i), failure=Failure.STOPPED) for i in range(5)]
    calls = queued + picked_up + ringing
    centre = connect.call_center(calls, by_agent=True, service_level_s=None)
    assert (centre.offered, centre.answered.count, centre.system_failed) == (10, 10, 0)
    rfc = connect.rfc6076(calls)
    assert (rfc.invites, rfc.ser.count, rfc.not_sent) == (60, 60, 0)  # the ringing ones: no outcome
    result = judge(calls, [], [], sla=sla(answer_rate_min=0.9), probes=PROBES, by_agent=True, faults_planned=0,
                   agent_marker="*9")
    # 10 of 10 offered answered, a sample too small to clear 90 %: undecided, never a failure.
    assert result.verdict == Verdict.INCONCLUSIVE and result.lines[0].observed == 100.0
