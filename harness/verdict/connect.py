"""Connect-rate: RFC 6076 metrics, and the same calls as a call center reports them.

Pure functions of the load's `CallRecord`s (direction "outbound"). Every INVITE the
load sent is one session request; a call our own SIP stack refused before any INVITE
left (`invite_sent` is False) is no attempt at all, and callproof.harness.verdict.generator counts it
against the generator. The status RFC 6076 counts is the final response
to the INVITE, with RFC 3261 8.1.3.1's rule for the ones that never arrived: a
transaction timeout counts as 408, a transport error as 503. A 487 that answers our
own CANCEL is not the target's outcome: a call we gave up on while it rang has none.

    SRD  4.3  INVITE to the first non-100 provisional or final response, split into
              successful (the session was established) and failed setups
    SDD  4.4  our BYE to its response; a BYE left without response is a failed SDD
    SDT  4.5  200 OK to BYE, for completed sessions and for sessions that failed
    SER  4.6  2xx / (INVITEs - INVITEs answered 3xx)
    SEER 4.7  (200, 480, 486, 600, 603) / (INVITEs - INVITEs answered 3xx)
    ISA  4.8  (408, 500, 503, 504) / INVITEs
    SCR  4.9  completed sessions / INVITEs: answered, ended by a BYE that was
              answered (ours) or received (theirs), media not timed out

Call center view, the queue as a call center reads it: a call is offered when its
INVITE is sent; it reached an agent when the agent picked up (the in-band marker,
`agent_ms`, when the scenario has one; otherwise the 200 OK). Through an IVR or a
queue the 200 OK comes from the PBX long before any agent, so with a marker the 200 OK
says nothing about answering: it stays in RFC 6076's figures above, which describe
the SIP dialog. A caller whose patience ran out in the queue abandoned the call, which
is neither an answer nor a failure of the system.

    offered           INVITEs sent
    reached an agent  answer rate = reached an agent / offered
    abandoned         abandonment = abandoned / offered; time to abandon, INVITE to the
                      caller's hang-up
    time to agent     INVITE to the agent's pickup, over the calls that reached one (the
                      average speed of answer's distribution; the first_answer line's figure)
    service level     reached an agent within N s / offered
    handle time       the agent's pickup to the call's end, over the calls that reached one
                      and were not cut by the run's end; "average handle time" is its mean

A call the run's end hung up (Failure.STOPPED) counts only where its outcome was
already decided: answered calls in RFC 6076, calls the agent had picked up in the
call center view. One stopped while it rang, or queued for an agent, is left out
of both: its outcome is unknown, not a failure of the target.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from callproof.harness.verdict.stats import percentiles, wilson_interval
from callproof.sip.records import CallRecord, Failure

# RFC 6076 4.7: responses showing the request reached the user, who answered or declined.
EFFECTIVE_CODES = frozenset({200, 480, 486, 600, 603})
# RFC 6076 4.8: the system itself could not take the session.
INEFFECTIVE_CODES = frozenset({408, 500, 503, 504})


def invite_sent(call: CallRecord) -> bool:
    """False when the SIP stack refused the call at once, before sending anything (pjsua's
    makeCall failed: e.g. PJ_ETOOMANY, its call slots used up). A transport error on the
    way to the target comes later, with a time."""
    return not (call.failure is Failure.TRANSPORT_ERROR and call.end_ms == 0 and call.final_ms is None
                and not call.provisional_ms)


def undecided(call: CallRecord, by_agent: bool = False) -> bool:
    """Stopped by the run's end before its answer (by the agent, with `by_agent`) was known."""
    return call.failure is Failure.STOPPED and not agent_answered(call, by_agent)


def rfc6076_code(call: CallRecord) -> int | None:
    """The INVITE's final status as RFC 6076 counts it (2xx reads as 200); None when there is none."""
    if call.failure is Failure.TIMEOUT:
        return 408  # no response (RFC 3261 8.1.3.1), or none that showed progress before the ring timeout
    if call.cancel_ms is not None:
        return None  # we gave up while it rang: the 487 that follows answers our CANCEL
    if call.final_code is None:
        return 503 if call.failure is Failure.TRANSPORT_ERROR else None  # RFC 3261 8.1.3.1
    return 200 if 200 <= call.final_code < 300 else call.final_code


def completed(call: CallRecord) -> bool:
    """RFC 6076 4.9: the session was established and ended by a BYE that was answered or received."""
    if not call.answered or call.failure is Failure.MEDIA_TIMEOUT or call.bye_ms is None:
        return False
    return call.hangup_by == "callee" or call.bye_response_ms is not None


@dataclasses.dataclass(frozen=True)
class Ratio:
    """A count over a total, in percent, with its 95% Wilson interval."""

    count: int
    total: int

    @property
    def pct(self) -> float | None:
        return None if self.total == 0 else 100.0 * self.count / self.total

    @property
    def ci_pct(self) -> tuple[float, float] | None:
        if self.total == 0:
            return None
        low, high = wilson_interval(self.count, self.total)
        return 100.0 * low, 100.0 * high

    def to_dict(self, name: str) -> dict[str, object]:
        ci = self.ci_pct
        return {f"{name}_pct": _round(self.pct), f"{name}_ci_pct": None if ci is None else [_round(v) for v in ci],
                f"{name}_count": self.count, f"{name}_of": self.total}


@dataclasses.dataclass(frozen=True)
class Rfc6076:
    not_sent: int  # refused by our own SIP stack: no INVITE, not counted below
    invites: int
    redirected: int  # answered 3xx: out of SER and SEER
    codes: dict[str, int]  # final status as counted (see rfc6076_code); "none" when there is none
    ser: Ratio
    seer: Ratio
    isa: Ratio
    scr: Ratio
    srd_successful_ms: dict[str, float | None]
    srd_failed_ms: dict[str, float | None]
    sdd_successful_ms: dict[str, float | None]
    sdd_failed: int  # BYEs we sent that got no response
    sdt_completed_s: dict[str, float | None]
    sdt_failed_s: dict[str, float | None]

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"not_sent": self.not_sent, "invites": self.invites,
                                  "redirected_3xx": self.redirected, "codes": self.codes}
        for name in ("ser", "seer", "isa", "scr"):
            out.update(getattr(self, name).to_dict(name))
        out.update(srd_successful_ms=self.srd_successful_ms, srd_failed_ms=self.srd_failed_ms,
                   sdd_successful_ms=self.sdd_successful_ms, sdd_failed=self.sdd_failed,
                   sdt_completed_s=self.sdt_completed_s, sdt_failed_s=self.sdt_failed_s)
        return out


def rfc6076(all_calls: Sequence[CallRecord]) -> Rfc6076:
    calls = [c for c in all_calls if invite_sent(c) and not undecided(c)]
    codes = [rfc6076_code(c) for c in calls]
    invites = len(calls)
    redirected = sum(1 for code in codes if code is not None and 300 <= code < 400)
    established = invites - redirected
    counted: dict[str, int] = {}
    for code in codes:
        key = "none" if code is None else str(code)
        counted[key] = counted.get(key, 0) + 1
    sent_bye = [c for c in calls if c.hangup_by == "caller" and c.bye_ms is not None]
    talk_s = [(c, (bye - answer) / 1000) for c in calls if (answer := c.answer_ms) is not None
              and (bye := c.bye_ms) is not None]
    return Rfc6076(
        not_sent=sum(not invite_sent(c) for c in all_calls),
        invites=invites,
        redirected=redirected,
        codes=dict(sorted(counted.items())),
        ser=Ratio(sum(code == 200 for code in codes), established),
        seer=Ratio(sum(code in EFFECTIVE_CODES for code in codes), established),
        isa=Ratio(sum(code in INEFFECTIVE_CODES for code in codes), invites),
        scr=Ratio(sum(completed(c) for c in calls), invites),
        srd_successful_ms=percentiles([v for c in calls if c.answered and (v := c.setup_ms) is not None]),
        srd_failed_ms=percentiles([v for c in calls if not c.answered and (v := c.setup_ms) is not None]),
        sdd_successful_ms=percentiles([response - bye for c in sent_bye if (bye := c.bye_ms) is not None
                                       and (response := c.bye_response_ms) is not None]),
        sdd_failed=sum(c.bye_response_ms is None for c in sent_bye),
        sdt_completed_s=percentiles([s for c, s in talk_s if completed(c)]),
        sdt_failed_s=percentiles([s for c, s in talk_s if not completed(c)]),
    )


def agent_answered(call: CallRecord, by_agent: bool) -> bool:
    """Reached an agent, as a call center counts it: the agent's marker arrived, or (no marker) the 200 OK."""
    return call.agent_ms is not None if by_agent else call.answered


def time_to_agent_ms(call: CallRecord, by_agent: bool) -> float | None:
    """INVITE to the agent's pickup: the in-band marker, or (no marker) the 200 OK."""
    return call.agent_ms if by_agent else call.answer_ms


def time_to_abandon_ms(call: CallRecord) -> float | None:
    """INVITE to the abandoning caller's hang-up (our BYE); None for a call not abandoned."""
    if call.failure is not Failure.ABANDONED:
        return None
    return call.bye_ms if call.bye_ms is not None else call.end_ms


def handle_time_s(call: CallRecord, by_agent: bool) -> float | None:
    """The agent's pickup to the call's end (the BYE, either side's), in s: what the agent spent on
    the call as the caller saw it. None unless the call reached an agent; a call the run's end cut
    (failure stopped) has no handle time of its own."""
    picked_up = time_to_agent_ms(call, by_agent)
    if picked_up is None or call.failure is Failure.STOPPED or not agent_answered(call, by_agent):
        return None
    end = call.bye_ms if call.bye_ms is not None else call.end_ms
    return max(0.0, end - picked_up) / 1000.0


@dataclasses.dataclass(frozen=True)
class CallCenter:
    by_agent: bool  # answers counted from the agent marker (the scenario has one)
    offered: int
    answered: Ratio  # answer rate: reached an agent / offered
    abandoned: Ratio  # abandonment rate: abandoned / offered
    system_failed: int  # neither reached an agent nor abandoned
    service_level_s: float | None
    service_level: Ratio | None  # reached an agent within service_level_s / offered
    time_to_agent_ms: dict[str, float | None]  # over the calls that reached an agent
    time_to_abandon_ms: dict[str, float | None]  # over the abandoned calls
    handle_time_s: dict[str, float | None]  # mean (average handle time), p50, p95, p99
    system_answer_ms: dict[str, float | None]  # the 200 OK (an IVR or queue may send it)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"by_agent_marker": self.by_agent, "offered": self.offered}
        out.update(self.answered.to_dict("answer_rate"))
        out.update(self.abandoned.to_dict("abandonment"))
        out["system_failed"] = self.system_failed
        out["time_to_agent_ms"] = self.time_to_agent_ms
        out["time_to_abandon_ms"] = self.time_to_abandon_ms
        out["handle_time_s"] = self.handle_time_s
        out["system_answer_ms"] = self.system_answer_ms
        return out

    def service_level_dict(self) -> dict[str, object] | None:
        if self.service_level is None:
            return None
        return {"within_s": self.service_level_s, **self.service_level.to_dict("answered_within")}


def call_center(all_calls: Sequence[CallRecord], *, by_agent: bool, service_level_s: float | None) -> CallCenter:
    calls = [c for c in all_calls if invite_sent(c) and not undecided(c, by_agent)]
    offered = len(calls)
    answered = [c for c in calls if agent_answered(c, by_agent)]
    abandoned = sum(c.failure is Failure.ABANDONED for c in calls)
    within = None
    if service_level_s is not None:
        limit_ms = service_level_s * 1000.0
        answer_ms = [t for c in answered if (t := time_to_agent_ms(c, by_agent)) is not None]
        within = Ratio(sum(t <= limit_ms for t in answer_ms), offered)
    handled = [v for c in answered if (v := handle_time_s(c, by_agent)) is not None]
    return CallCenter(
        by_agent=by_agent,
        offered=offered,
        answered=Ratio(len(answered), offered),
        abandoned=Ratio(abandoned, offered),
        system_failed=offered - len(answered) - abandoned,
        service_level_s=service_level_s,
        service_level=within,
        time_to_agent_ms=percentiles([time_to_agent_ms(c, by_agent) for c in answered]),
        time_to_abandon_ms=percentiles([time_to_abandon_ms(c) for c in calls]),
        handle_time_s={"mean": round(sum(handled) / len(handled), 3) if handled else None, **percentiles(handled)},
        system_answer_ms=percentiles([c.answer_ms for c in calls if c.answered]),
    )


def first_answer_s(calls: Sequence[CallRecord], by_agent: bool = False) -> list[float]:
    """The first answer (ASA's distribution), in s, per call that was answered or waited in vain:
    INVITE to the agent's pickup (`time_to_agent_ms`: the marker with `by_agent`, else the 200 OK).

    A call that rang until we gave up, or (with the marker) whose caller abandoned the
    queue, was not answered within the time it waited: it counts as longer than every
    answer (math.inf), not as missing. Calls the system rejected or never responded to
    have no answer time; the answer rate and ISA count them. Calls the run's end cut
    before an agent came are left out (`undecided`).
    """
    out = []
    for call in calls:
        if undecided(call, by_agent):
            continue
        if (answer_ms := time_to_agent_ms(call, by_agent)) is not None:  # agent_answered
            out.append(answer_ms / 1000.0)
        elif call.failure is Failure.NO_ANSWER or (by_agent and call.failure is Failure.ABANDONED):
            out.append(math.inf)
    return out


def first_answer_waits_s(calls: Sequence[CallRecord], by_agent: bool = False) -> list[float]:
    """How long each call counted as math.inf by `first_answer_s` waited, in s: what it is known to exceed."""
    waits = [c.cancel_ms / 1000.0 for c in calls if c.failure is Failure.NO_ANSWER and c.cancel_ms is not None]
    if by_agent:
        waits += [v / 1000.0 for c in calls if (v := time_to_abandon_ms(c)) is not None]
    return waits


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
