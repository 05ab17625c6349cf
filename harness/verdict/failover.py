"""What each injected fault did: the recovery time (RTO) and the calls it touched.

RTO is measured from the fault (its `fault` event in events.jsonl) until service is
restored: the first of `consecutive_ok` up probe calls in a row that started after the
fault (callproof.harness.verdict.availability decides up and down). Probes sample the service once per
probe interval, so the true restoration lies between the last down probe after the
fault (or the fault itself when none failed) and the restoring probe:

    rto_low_s < true RTO <= rto_s          the resolution is the probe interval

A fault whose service was not restored by the run's end has no rto_s; rto_low_s then
says how long it was at least down.

The load's own calls tell the rest: calls answered before the fault and still up at
it either survived (ended as planned by us: media kept flowing, no media timeout),
were dropped (a failure, usually no RTP), or were ended by the far end. New calls
(INVITE after the fault) failed until the first of `consecutive_ok` answered calls in
a row, the same rule as the probes'.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from callproof.harness.verdict.availability import DOWN, UNDECIDED, UP, ProbeCall, utc_text
from callproof.reports.summary_file import parse_utc
from callproof.sip.records import CallRecord, Failure


@dataclasses.dataclass(frozen=True)
class Recovery:
    fault_utc: str
    action: str
    detail: str
    fired: bool  # the fault event says the action took place (ok)
    error: str
    restored_utc: str | None
    rto_s: float | None  # None: not restored by the end of the run (or the fault did not fire)
    rto_low_s: float | None  # restoration came after this many seconds
    calls_in_progress: int  # answered before the fault, still up at it
    survived: int
    dropped: int
    ended_by_far_end: int
    calls_in_setup: int  # INVITE sent before the fault, not yet answered at it
    calls_in_setup_failed: int
    new_calls_failed: int  # INVITE after the fault, failed before the load's calls recovered
    new_calls_failing_s: float | None  # fault to the first of K answered new calls in a row; None: never

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in dataclasses.asdict(self).items()}


def fault_events(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e.get("kind") == "fault"]


def rto(fault_at: dt.datetime, probes: Sequence[ProbeCall], consecutive_ok: int) -> tuple[str | None, float | None,
                                                                                            float]:
    """(restored_utc, rto_s, rto_low_s) for a fault at fault_at, from time-ordered probe calls."""
    after = [p for p in probes if p.at >= fault_at and p.state != UNDECIDED]
    last_down = None
    for i, probe in enumerate(after):
        if probe.state == DOWN:
            last_down = probe
            continue
        window = after[i:i + consecutive_ok]
        if len(window) == consecutive_ok and all(p.state == UP for p in window):
            low = 0.0 if last_down is None else _seconds(fault_at, last_down.at)
            return probe.at_utc, _seconds(fault_at, probe.at), low
    return None, None, 0.0 if last_down is None else _seconds(fault_at, last_down.at)


def _seconds(start: dt.datetime, end: dt.datetime) -> float:
    return (end - start).total_seconds()


def _call_ok(call: CallRecord) -> bool:
    return call.answered and call.failure is not Failure.MEDIA_TIMEOUT


def calls_at_fault(fault_at: dt.datetime, calls: Sequence[CallRecord], consecutive_ok: int) -> dict[str, Any]:
    """How the load's calls fared around a fault (see the module docstring)."""
    timed = sorted(((parse_utc(c.invite_utc, f"call {c.call_id}"), c) for c in calls), key=lambda tc: tc[0])
    in_progress, in_setup = [], []
    for invited, call in timed:
        if invited > fault_at or invited + dt.timedelta(milliseconds=call.end_ms) <= fault_at:
            continue
        if call.answer_ms is not None and invited + dt.timedelta(milliseconds=call.answer_ms) <= fault_at:
            in_progress.append(call)
        else:
            in_setup.append(call)
    new = [(invited, call) for invited, call in timed if invited >= fault_at]
    ok = [_call_ok(call) for _, call in new]
    failed, failing_s = ok.count(False), None
    for i in range(len(new) - consecutive_ok + 1):
        if all(ok[i:i + consecutive_ok]):
            failed = ok[:i].count(False)
            failing_s = 0.0 if failed == 0 else _seconds(fault_at, new[i][0])
            break
    survived = [c for c in in_progress if c.failure in (None, Failure.ABANDONED) and c.hangup_by == "caller"]
    far_end = [c for c in in_progress if c.failure is None and c.hangup_by == "callee"]
    return {
        "calls_in_progress": len(in_progress),
        "survived": len(survived),
        "ended_by_far_end": len(far_end),
        "dropped": len(in_progress) - len(survived) - len(far_end),
        "calls_in_setup": len(in_setup),
        "calls_in_setup_failed": sum(not _call_ok(c) for c in in_setup),
        "new_calls_failed": failed,
        "new_calls_failing_s": failing_s,
    }


def recoveries(events: Sequence[dict[str, Any]], probes: Sequence[ProbeCall], calls: Sequence[CallRecord],
               consecutive_ok: int) -> list[Recovery]:
    """One Recovery per fault event, in time order."""
    out = []
    for number, event in enumerate(fault_events(events), start=1):
        fault_at = parse_utc(event.get("at_utc"), f"fault event {number} in events.jsonl")
        fired = bool(event.get("ok", True))
        restored, seconds, low = rto(fault_at, probes, consecutive_ok) if fired else (None, None, None)
        out.append(Recovery(
            fault_utc=utc_text(fault_at),
            action=str(event.get("action") or ""),
            detail=str(event.get("detail") or ""),
            fired=fired,
            error=str(event.get("error") or ""),
            restored_utc=restored,
            rto_s=seconds,
            rto_low_s=low,
            **calls_at_fault(fault_at, calls, consecutive_ok),
        ))
    return out
