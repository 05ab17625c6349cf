"""Was the load generator valid? Its own health, from events.jsonl and the call records.

A run whose generator was the bottleneck says nothing about the target: its verdict
is INVALID, never FAIL. The generator is invalid when, for SUSTAINED_SAMPLES health
events in a row (one a second) or over the run:

    CPU       its processes used >= CPU_SATURATION of all cores (`cpu_pct` is % of one
              core, summed over the generator's processes; `cpu_cores` the cores it may
              use). Near the machine's capacity the scheduler queues our processes, and
              every SIP timestamp and RTP send slips with them. One saturated process
              on a machine with idle cores shows as loop or pump lag instead.
    loop lag  the Locust event loop ran > LOOP_LAG_LIMIT_MS late: calls started that
              late, so the load offered is not the plan's
    pump lag  a SIP engine's event pump ran > PUMP_LAG_LIMIT_MS late: every SIP
              timestamp waited that long (5% of the default 2 s setup-delay line)
    starved   a call waited for an engine slot while the generator held fewer slots
              (`provisioned`, live engine processes' slots) than the plan's provision
              (engine event `provisioned_calls`: rate x (setup timeout + longest talk
              time)). Slots held by calls still inside the scenario's own timeouts,
              with the provision met, are the target's doing, not starvation.
    held      it held call slots for calls that were not up: for SUSTAINED_SAMPLES
              health events in a row, more than IDLE_SLOT_SHARE (and at least
              IDLE_SLOTS_MIN) of the calls it counted in flight had not yet sent their
              INVITE or had ended (per their records, plus HANGUP_GRACE_S, plus the
              engine's wait for a BYE response the target never sent): the load it
              offered fell short of what it held (local runs; a distributed run's
              records are not matched to its workers)
    lost      calls whose engine process died (no record)
    refused   calls its own SIP stack refused before sending any INVITE (pjsua's
              makeCall failed at once, e.g. PJ_ETOOMANY: out of call slots)
    media     more than MEDIA_STARVED_SHARE of answered calls sent fewer RTP packets
              than their talk time / ptime allows (by more than MEDIA_SHORTFALL and
              MEDIA_SLACK_PACKETS): the generator could not send its media

Arrivals dropped at the scenario's own `max_concurrent` (`capped`) are reported: the
cap is the scenario's, reached because calls were held longer than planned.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from callproof.harness.verdict.connect import invite_sent
from callproof.sip.records import CallRecord

CPU_SATURATION = 0.90
SUSTAINED_SAMPLES = 3
LOOP_LAG_LIMIT_MS = 500.0
PUMP_LAG_LIMIT_MS = 100.0
MEDIA_SHORTFALL = 0.10
MEDIA_SLACK_PACKETS = 5
MEDIA_STARVED_SHARE = 0.01
IDLE_SLOT_SHARE = 0.25
IDLE_SLOTS_MIN = 2
# Record hand-over and media teardown after a call's last SIP event.
HANGUP_GRACE_S = 0.5
# callproof.sip.call waits this long for the response to our BYE before it gives the slot back.
BYE_RESPONSE_WAIT_S = 4.0


@dataclasses.dataclass(frozen=True)
class GeneratorValidity:
    valid: bool | None  # None: nothing recorded to judge by
    reason: str
    cpu_pct_max: float | None  # % of one core, all generator processes
    cpu_cores: float | None
    loop_lag_ms_max: float | None
    pump_lag_ms_max: float | None
    starved_calls: int | None  # waited for a slot below the provision, lost with their engine, or refused
    refused_calls: int  # refused by our own SIP stack before any INVITE
    slot_waits: int | None
    idle_slots_max: int | None  # most calls held in flight that were not up, in one health event
    capped: int | None
    lost: int | None
    media_starved_calls: int
    media_checked_calls: int
    problems: tuple[str, ...]  # one sentence per failed check

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["problems"] = list(self.problems)
        return out


def _health_by_worker(events: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Health events per generator host (distributed runs tag them with `worker`), in order."""
    series: dict[Any, list[dict[str, Any]]] = {}
    for event in events:
        if event.get("kind") == "health":
            series.setdefault(event.get("worker"), []).append(event)
    return list(series.values())


def longest_run(flags: Sequence[bool]) -> int:
    """Longest run of consecutive True values."""
    best = current = 0
    for flag in flags:
        current = current + 1 if flag else 0
        best = max(best, current)
    return best


def _max(values: list[float]) -> float | None:
    return round(max(values), 3) if values else None


def _utc(text: str) -> float:
    when = dt.datetime.fromisoformat(text)
    return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)).timestamp()


def calls_up_counter(calls: Sequence[CallRecord]):
    """A function of a time (POSIX s) giving how many calls were up: INVITE sent, not yet ended."""
    starts, ends = [], []
    for call in calls:
        start = _utc(call.invite_utc)
        wait = BYE_RESPONSE_WAIT_S if call.hangup_by == "caller" and call.bye_response_ms is None else 0.0
        starts.append(start)
        ends.append(start + call.end_ms / 1000.0 + HANGUP_GRACE_S + wait)
    starts.sort()
    ends.sort()
    return lambda at: bisect.bisect_right(starts, at) - bisect.bisect_right(ends, at)


def idle_slots(events: Sequence[dict[str, Any]], calls: Sequence[CallRecord]) -> list[tuple[int, int]]:
    """Per local health event: (calls the generator held in flight, how many of them were not up)."""
    up = calls_up_counter([c for c in calls if invite_sent(c)])
    return [(e["in_flight"], max(0, e["in_flight"] - up(_utc(e["at_utc"]))))
            for e in events if e.get("kind") == "health" and "worker" not in e and e.get("in_flight") is not None]


def expected_tx_packets(call: CallRecord) -> float | None:
    """Packets the call should have sent: answer to hang-up over the packetisation time."""
    if call.media is None or call.answer_ms is None or call.media.ptime_ms <= 0:
        return None
    end = call.bye_ms if call.bye_ms is not None else call.end_ms
    return max(0.0, end - call.answer_ms) / call.media.ptime_ms


def media_starved(call: CallRecord) -> bool:
    expected = expected_tx_packets(call)
    if expected is None:
        return False
    return call.media.tx_packets < (1 - MEDIA_SHORTFALL) * expected - MEDIA_SLACK_PACKETS


def generator_health(events: Sequence[dict[str, Any]], calls: Sequence[CallRecord]) -> GeneratorValidity:
    series = _health_by_worker(events)
    samples = [e for s in series for e in s]
    engine = next((e for e in events if e.get("kind") == "engine"), {})
    need = engine.get("provisioned_calls")
    engine_slots = None
    if engine.get("max_calls_per_process") is not None and engine.get("processes") is not None:
        engine_slots = engine["max_calls_per_process"] * engine["processes"]
    problems: list[str] = []

    cpu = [e["cpu_pct"] for e in samples if e.get("cpu_pct") is not None]
    cores = [e["cpu_cores"] for e in samples if e.get("cpu_cores")]
    saturated = max((longest_run([e.get("cpu_pct") is not None and bool(e.get("cpu_cores"))
                                  and e["cpu_pct"] >= CPU_SATURATION * 100 * e["cpu_cores"] for e in s])
                     for s in series), default=0)
    if saturated >= SUSTAINED_SAMPLES:
        problems.append(f"its processes used {CPU_SATURATION:.0%} or more of all CPU cores for {saturated} s "
                        f"in a row (up to {max(cpu):g}% of one core, {max(cores):g} cores)")
    for key, limit, what in (("loop_lag_ms_max", LOOP_LAG_LIMIT_MS, "the load's event loop"),
                             ("pump_lag_ms_max", PUMP_LAG_LIMIT_MS, "a SIP engine's event pump")):
        late = max((longest_run([(e.get(key) or 0) > limit for e in s]) for s in series), default=0)
        if late >= SUSTAINED_SAMPLES:
            worst = max(e.get(key) or 0 for e in samples)
            problems.append(f"{what} ran more than {limit:g} ms late for {late} s in a row (up to {worst:g} ms)")

    idle = idle_slots(events, calls)
    held = longest_run([n >= IDLE_SLOTS_MIN and n > IDLE_SLOT_SHARE * in_flight for in_flight, n in idle])
    idle_max = max((n for _, n in idle), default=None)
    if held >= SUSTAINED_SAMPLES:
        problems.append(f"it held call slots for calls that were not up (up to {idle_max} of its calls in "
                        f"flight) for {held} s in a row: the load it offered fell short of the plan's")

    slot_waits = capped = lost = starved = None
    if samples:
        slot_waits = capped = lost = starved = 0
        for s in series:
            previous_waits = 0
            for e in s:
                waits = e.get("slot_waits") or 0
                slots = e.get("provisioned", engine_slots)
                if need is not None and slots is not None and slots < need:
                    starved += max(0, waits - previous_waits)
                previous_waits = waits
            slot_waits += s[-1].get("slot_waits") or 0
            capped += s[-1].get("capped") or 0
            lost += s[-1].get("lost") or 0
        if starved:
            problems.append(f"{starved} calls waited for an engine slot while it held fewer slots than the "
                            f"plan's provision of {need}")
        if lost:
            problems.append(f"{lost} calls were lost with their SIP engine process")
        starved += lost

    refused = [c for c in calls if not invite_sent(c)]
    if refused:
        reasons = sorted({c.final_reason for c in refused if c.final_reason})
        problems.append(f"{len(refused)} calls were refused by its own SIP stack before any INVITE was sent"
                        + (f" ({'; '.join(reasons)})" if reasons else ""))
        starved = (starved or 0) + len(refused)

    checked = [c for c in calls if expected_tx_packets(c) is not None]
    short = sum(media_starved(c) for c in checked)
    if checked and short / len(checked) > MEDIA_STARVED_SHARE:
        problems.append(f"{short} of {len(checked)} answered calls sent too few RTP packets for their talk time")

    valid: bool | None = not problems
    if not samples and not checked:
        valid = None
    return GeneratorValidity(
        valid=valid,
        reason=_reason(problems, valid, cpu, cores, samples, starved, short, checked),
        cpu_pct_max=_max(cpu),
        cpu_cores=max(cores) if cores else None,
        loop_lag_ms_max=_max([e["loop_lag_ms_max"] for e in samples if e.get("loop_lag_ms_max") is not None]),
        pump_lag_ms_max=_max([e["pump_lag_ms_max"] for e in samples if e.get("pump_lag_ms_max") is not None]),
        starved_calls=starved,
        refused_calls=len(refused),
        slot_waits=slot_waits,
        idle_slots_max=idle_max,
        capped=capped,
        lost=lost,
        media_starved_calls=short,
        media_checked_calls=len(checked),
        problems=tuple(problems),
    )


def _reason(problems: list[str], valid: bool | None, cpu: list[float], cores: list[float],
            samples: list[dict[str, Any]], starved: int | None, short: int, checked: list[CallRecord]) -> str:
    if valid is None:
        return "no health events and no media were recorded: the generator could not be checked"
    if problems:
        return "the load generator was the bottleneck: " + "; ".join(problems)
    facts = []
    if cpu and cores:
        facts.append(f"CPU at most {max(cpu):g}% of one core on {max(cores):g} cores")
    else:
        facts.append("CPU not recorded")
    for key, what in (("loop_lag_ms_max", "loop lag"), ("pump_lag_ms_max", "engine pump lag")):
        values = [e[key] for e in samples if e.get(key) is not None]
        facts.append(f"{what} at most {max(values):g} ms" if values else f"{what} not recorded")
    if starved is not None:
        facts.append("no call waited for a slot below the provision")
    if checked:
        facts.append(f"{len(checked) - short} of {len(checked)} answered calls sent their media")
    return "; ".join(facts)
