"""Availability, outages and failover RTO on synthetic probe timelines with a known truth."""

from __future__ import annotations

import pytest

from callproof.harness.errors import BadInput
from callproof.harness.verdict.availability import DOWN, UNDECIDED, UP, availability, judge_probe_call, parse_probes
from callproof.harness.verdict.failover import calls_at_fault, recoveries, rto
from callproof.reports.errors import ReportInputError
from callproof.sip.records import Failure
from tests.verify import records as r
from tests.verify.records import at, utc

CAP_MS = 3000.0


def probe(at_s: float, record) -> dict:
    return {"kind": "call", "at_utc": utc(at_s), "record": record.to_dict()}


def options(at_s: float, code: int | None = 200) -> dict:
    return {"kind": "options", "at_utc": utc(at_s), "code": code, "rtt_ms": 1.5 if code else None,
            "reason": "OK" if code else "timeout"}


def timeline() -> list[dict]:
    """A probe call every 5 s; the fault event (below) fires at 27 s.

    0..25 up; 30, 35 503; 40 no response; 45 up; 50 answered after 4 s (over the cap);
    55..70 up; 75 404 (undecided); 80, 85 up. OPTIONS stay 200 throughout: a proxy answering.
    """
    entries = [probe(t, r.answered(t)) for t in range(0, 30, 5)]
    entries += [probe(30, r.rejected(503, 30, reason="Service Unavailable")),
                probe(35, r.rejected(503, 35, reason="Service Unavailable")),
                probe(40, r.timed_out(40)),
                probe(45, r.answered(45)),
                probe(50, r.answered(50, answer_ms=4000.0))]
    entries += [probe(t, r.answered(t)) for t in (55, 60, 65, 70)]
    entries += [probe(75, r.rejected(404, 75, reason="Not Found")), probe(80, r.answered(80)),
                probe(85, r.answered(85))]
    entries += [options(t) for t in range(0, 90)]
    return entries[::-1]  # order in the file does not matter


def test_each_probe_call_decides_its_interval():
    assert judge_probe_call(r.answered(), CAP_MS) == (UP, "")
    assert judge_probe_call(r.rejected(503, reason="Service Unavailable"), CAP_MS) == (DOWN, "503 Service Unavailable")
    for code in (408, 500, 504):
        assert judge_probe_call(r.rejected(code), CAP_MS)[0] == DOWN
    assert judge_probe_call(r.timed_out(), CAP_MS) == (DOWN, "no response (timeout)")
    assert judge_probe_call(r.not_answered(), CAP_MS) == (DOWN, "not answered before the ring timeout")
    assert judge_probe_call(r.transport_error(), CAP_MS) == (DOWN, "transport error")
    assert judge_probe_call(r.answered(failure=Failure.MEDIA_TIMEOUT), CAP_MS) == (DOWN, "no RTP (media timeout)")
    assert judge_probe_call(r.answered(answer_ms=3000.1), CAP_MS) == (DOWN, "answered after more than the 3000 ms cap")
    assert judge_probe_call(r.answered(answer_ms=3000.0), CAP_MS)[0] == UP  # at the cap is within it
    assert judge_probe_call(r.rejected(404, reason="Not Found"), CAP_MS) == (UNDECIDED, "404 Not Found")
    assert judge_probe_call(r.rejected(486), CAP_MS)[0] == UNDECIDED


def test_availability_and_outages_of_a_timeline():
    calls, opts = parse_probes(timeline(), CAP_MS)
    result = availability(calls, opts, consecutive_ok=3)
    # Decided: 6 up + 3 down + 1 up + 1 down (slow) + 4 up + 2 up = 17; up 13; the 404 left out.
    assert (result.probe_calls, result.up, result.down, result.undecided) == (18, 13, 4, 1)
    assert result.pct == pytest.approx(100 * 13 / 17)
    assert result.undecided_causes == {"404 Not Found": 1}
    # One outage: from the first down probe (30 s) to the first of 3 up probes in a row (55 s);
    # the lone up probe at 45 s does not end it.
    [outage] = result.outages
    assert (outage.start_utc, outage.end_utc, outage.down_probes) == (utc(30), utc(55), 4)
    assert outage.cause == ("503 Service Unavailable (2 probes), no response (timeout) (1 probe), "
                            "answered after more than the 3000 ms cap (1 probe)")
    # OPTIONS are reported, never deciding: 90 answered while the service was down.
    assert result.options["sent"] == 90 and result.options["answered"] == 90


def test_rto_and_its_bounds():
    calls, _ = parse_probes(timeline(), CAP_MS)
    fault = at(27)
    # Restored at the first of 3 up probes after the fault: 55 s, 28 s after it; the last
    # down probe before that was at 50 s, so the true RTO lies in (23 s, 28 s].
    assert rto(fault, calls, 3) == (utc(55), 28.0, 23.0)
    # With K = 1 the lone up probe at 45 s restores it: (13 s, 18 s].
    assert rto(fault, calls, 1) == (utc(45), 18.0, 13.0)
    # A fault at 86 s: no probe after it, nothing known.
    assert rto(at(86), calls, 3) == (None, None, 0.0)


def test_an_outage_the_run_ends_inside_has_no_end():
    entries = [probe(t, r.answered(t)) for t in (0, 5, 10)]
    entries += [probe(t, r.timed_out(t)) for t in (15, 20, 25)] + [probe(30, r.answered(30))]
    calls, opts = parse_probes(entries, CAP_MS)
    [outage] = availability(calls, opts, consecutive_ok=3).outages
    assert (outage.start_utc, outage.end_utc) == (utc(15), None)
    # Not restored: at least 25 - 12 = 13 s down after a fault at 12 s.
    assert rto(at(12), calls, 3) == (None, None, 13.0)


def test_a_probe_the_prober_could_not_place_is_undecided():
    entries = [probe(0, r.answered(0)), {"kind": "call", "at_utc": utc(5), "record": None,
                                         "error": "no SIP engine slot became free in time"}]
    calls, _ = parse_probes(entries, CAP_MS)
    assert [(p.state, p.cause) for p in calls] == [
        (UP, ""), (UNDECIDED, "probe not placed: no SIP engine slot became free in time")]


def test_bad_probe_entries_are_named():
    with pytest.raises(BadInput, match=r"^probes.jsonl entry 2 does not hold a call record"):
        parse_probes([options(0), {"kind": "call", "at_utc": utc(1), "record": {"call_id": "x"}}], CAP_MS)
    # The same reader of times as the report's (callproof.reports.summary_file.parse_utc): exit 2 as well.
    with pytest.raises(ReportInputError, match=r"^probes.jsonl entry 1: the time 'soon' is not ISO 8601$"):
        parse_probes([{"kind": "call", "at_utc": "soon"}], CAP_MS)
    with pytest.raises(BadInput, match=r"has kind 'ping', not call or options$"):
        parse_probes([{"kind": "ping", "at_utc": utc(0)}], CAP_MS)


def test_calls_at_a_fault():
    fault_s = 100.0
    load = [
        r.answered(fault_s - 10, talk_ms=14_000.0),  # up at the fault, ended as planned: survived
        r.answered(fault_s - 8, talk_ms=13_000.0, failure=Failure.MEDIA_TIMEOUT),  # dropped
        r.answered(fault_s - 3, talk_ms=3_500.0, hangup_by="callee"),  # ended by the far end
        r.answered(fault_s - 0.5, answer_ms=1_000.0),  # still setting up at the fault, then answered
        r.rejected(503, fault_s - 0.1, final_ms=1_000.0),  # setting up at the fault, failed
        r.answered(fault_s - 20, talk_ms=5_000.0),  # over before the fault
    ]
    # New calls: 503, 503, no response, answered, 503, then three answered: failing until 106 s.
    load += [r.rejected(503, fault_s + 1), r.rejected(503, fault_s + 2), r.timed_out(fault_s + 3),
             r.answered(fault_s + 4), r.rejected(503, fault_s + 5)]
    load += [r.answered(fault_s + t) for t in (6, 7, 8)]
    fault = at(fault_s)
    assert calls_at_fault(fault, load, consecutive_ok=3) == {
        "calls_in_progress": 3, "survived": 1, "ended_by_far_end": 1, "dropped": 1,
        "calls_in_setup": 2, "calls_in_setup_failed": 1, "new_calls_failed": 4, "new_calls_failing_s": 6.0,
    }


def test_recoveries_from_fault_events():
    calls, _ = parse_probes(timeline(), CAP_MS)
    events = [{"at_utc": utc(0), "kind": "run_start"},
              {"at_utc": utc(27), "kind": "fault", "at_s": 27, "action": "stop", "detail": "backend-a", "ok": True},
              {"at_utc": utc(60), "kind": "fault", "at_s": 60, "action": "command", "detail": "docker stop x",
               "ok": False, "error": "no such container"}]
    first, second = recoveries(events, calls, [], consecutive_ok=3)
    assert (first.fired, first.restored_utc, first.rto_s, first.rto_low_s) == (True, utc(55), 28.0, 23.0)
    assert (second.fired, second.rto_s, second.error) == (False, None, "no such container")
