"""Availability from the probes that ran beside the load: up/down intervals and outages.

Each probe call decides the interval it starts (the probe interval, `probes.call_interval_s`):

    down       the probe call failed with 408, 500, 503 or 504 (RFC 6076 4.8's ineffective
               codes), got no response, was not answered before the ring timeout, could
               not be sent (transport error), received no RTP (media timeout), or was
               answered later than `probes.setup_cap_ms` after its INVITE
    up         answered within the cap, media flowing
    undecided  any other final response (404, 486, 603, ...): the target answered, but
               not with a working call, so the interval shows neither; or the prober
               could not place its call at all (an entry with `record` null and an
               `error`: the generator's trouble). Counted in neither the numerator nor
               the denominator, and reported

Availability = up / (up + down) intervals, with a 95% Wilson interval (which treats
intervals as independent trials; outages are not, so read the interval as the
sampling error of the probes alone). OPTIONS results are reported, never deciding:
a proxy answers OPTIONS while the system behind it is dead.

An outage starts at the first down probe and ends at the first of `consecutive_ok`
up probes in a row (service restored and staying so); fewer up probes in between
belong to the outage. An outage the run ended inside has no end.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from callproof.harness.errors import BadInput
from callproof.harness.verdict.connect import INEFFECTIVE_CODES, Ratio
from callproof.harness.verdict.stats import percentiles
from callproof.reports.summary_file import Outage, parse_utc
from callproof.sip.records import CallRecord, Failure

UP, DOWN, UNDECIDED = "up", "down", "undecided"

_FAILURE_CAUSES = {
    Failure.TIMEOUT: "no response (timeout)",
    Failure.NO_ANSWER: "not answered before the ring timeout",
    Failure.TRANSPORT_ERROR: "transport error",
    Failure.MEDIA_TIMEOUT: "no RTP (media timeout)",
}


@dataclasses.dataclass(frozen=True)
class ProbeCall:
    """One probe call and the interval it decides."""

    at: dt.datetime  # when the probe started (probes.jsonl at_utc)
    state: str  # UP | DOWN | UNDECIDED
    cause: str  # why it is down or undecided; "" when up
    answer_ms: float | None

    @property
    def at_utc(self) -> str:
        return utc_text(self.at)


@dataclasses.dataclass(frozen=True)
class Options:
    """SIP OPTIONS sent beside the probe calls (reported, never deciding)."""

    at: dt.datetime
    code: int | None  # None: no response
    rtt_ms: float | None
    reason: str


@dataclasses.dataclass(frozen=True)
class Availability:
    probe_calls: int
    up: int
    down: int
    undecided: int
    undecided_causes: dict[str, int]
    ratio: Ratio  # up / (up + down)
    outages: tuple[Outage, ...]
    options: dict[str, Any]
    # When each probe call that was not up started (its probes.jsonl at_utc): the report marks
    # every probe call by this judgement, never by one of its own.
    down_utc: tuple[str, ...]
    undecided_utc: tuple[str, ...]

    @property
    def pct(self) -> float | None:
        return self.ratio.pct

    def to_dict(self) -> dict[str, Any]:
        return {"probe_calls": self.probe_calls, "up": self.up, "down": self.down, "undecided": self.undecided,
                "undecided_causes": self.undecided_causes, **self.ratio.to_dict("availability"),
                "options": self.options, "down_utc": list(self.down_utc), "undecided_utc": list(self.undecided_utc)}


def utc_text(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def judge_probe_call(record: CallRecord, setup_cap_ms: float) -> tuple[str, str]:
    """(state, cause) of the interval a probe call decides."""
    failure = record.failure
    if failure is Failure.REJECTED:
        reason = f"{record.final_code} {record.final_reason}".strip()
        return (DOWN, reason) if record.final_code in INEFFECTIVE_CODES else (UNDECIDED, reason)
    if failure in _FAILURE_CAUSES:
        return DOWN, _FAILURE_CAUSES[failure]
    if record.answer_ms is None:  # not answered
        return DOWN, f"not answered ({record.final_reason or 'no final response'})"
    if record.answer_ms > setup_cap_ms:
        return DOWN, f"answered after more than the {setup_cap_ms:g} ms cap"
    return UP, ""


def parse_probes(raw: Iterable[dict[str, Any]], setup_cap_ms: float) -> tuple[list[ProbeCall], list[Options]]:
    """probes.jsonl entries (callproof.reports.layout) into judged probe calls and OPTIONS, each in time order."""
    calls, options = [], []
    for number, entry in enumerate(raw, start=1):
        where = f"probes.jsonl entry {number}"
        kind = entry.get("kind")
        at = parse_utc(entry.get("at_utc"), where)
        if kind == "call" and entry.get("record") is None:
            # The prober could not place its call (its own engine failed): the interval is unobserved.
            calls.append(ProbeCall(at, UNDECIDED, f"probe not placed: {entry.get('error') or 'no record'}", None))
        elif kind == "call":
            try:
                record = CallRecord.from_dict(entry["record"])
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise BadInput(f"{where} does not hold a call record ({exc})") from None
            state, cause = judge_probe_call(record, setup_cap_ms)
            calls.append(ProbeCall(at, state, cause, record.answer_ms))
        elif kind == "options":
            options.append(Options(at, entry.get("code"), entry.get("rtt_ms"), str(entry.get("reason") or "")))
        else:
            raise BadInput(f"{where} has kind {kind!r}, not call or options")
    calls.sort(key=lambda p: p.at)
    options.sort(key=lambda o: o.at)
    return calls, options


def outages(decided: Sequence[ProbeCall], consecutive_ok: int) -> list[Outage]:
    """Outages in a time-ordered list of up/down probes (undecided ones left out)."""
    found = []
    i = 0
    while i < len(decided):
        if decided[i].state != DOWN:
            i += 1
            continue
        causes: Counter[str] = Counter()
        streak, j, restored = 0, i, None
        while j < len(decided):
            if decided[j].state == UP:
                streak += 1
                if streak == consecutive_ok:
                    restored = j - consecutive_ok + 1
                    break
            else:
                streak = 0
                causes[decided[j].cause] += 1
            j += 1
        found.append(Outage(
            start_utc=decided[i].at_utc,
            end_utc=decided[restored].at_utc if restored is not None else None,
            cause=", ".join(f"{cause} ({count} probe{'s' if count > 1 else ''})"
                            for cause, count in causes.most_common()),
            down_probes=sum(causes.values()),
        ))
        i = j + 1
    return found


def options_summary(options: Sequence[Options]) -> dict[str, Any]:
    codes = Counter("none" if o.code is None else str(o.code) for o in options)
    return {
        "sent": len(options),
        "answered": sum(o.code is not None for o in options),
        "codes": dict(sorted(codes.items())),
        "rtt_ms": percentiles(o.rtt_ms for o in options),
    }


def availability(calls: Sequence[ProbeCall], options: Sequence[Options], consecutive_ok: int) -> Availability:
    decided = [p for p in calls if p.state != UNDECIDED]
    up = sum(p.state == UP for p in decided)
    undecided = Counter(p.cause for p in calls if p.state == UNDECIDED)
    return Availability(
        probe_calls=len(calls),
        up=up,
        down=len(decided) - up,
        undecided=sum(undecided.values()),
        undecided_causes=dict(undecided.most_common()),
        ratio=Ratio(up, len(decided)),
        outages=tuple(outages(decided, consecutive_ok)),
        options=options_summary(options),
        down_utc=tuple(p.at_utc for p in decided if p.state == DOWN),
        undecided_utc=tuple(p.at_utc for p in calls if p.state == UNDECIDED),
    )
