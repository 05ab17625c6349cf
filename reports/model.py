"""What a report shows, read from the bundle's files into frozen values.

`load(folder)` reads summary.json, calls.jsonl, probes.jsonl, events.jsonl and
engine.json once; every renderer (plots, HTML, PDF, JUnit, manifest) takes the
resulting `ReportData` and does no I/O of its own. The rest is pure: arrays
per call for plotting, and the worst calls for the table.

summary.json is the verifier's: it must fit callproof/scenarios/summary.schema.json
(callproof.reports.summary_file), or the report names its first wrong key in one
sentence and renders nothing. A value it holds as null shows as "not measured".
Per-call figures come from callproof.rtp_analysis.call_figures, the functions the
verifier's SLA lines use, so a plot never disagrees with a line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from callproof.reports import bundle_files, layout, summary_file
from callproof.reports.bundle_files import shown
from callproof.reports.errors import ReportInputError
from callproof.reports.records import RecordsError, load_calls, read_events, read_hearing, read_probes
from callproof.reports.summary_file import Outage, RunFacts, SlaLine, Verdict
from callproof.rtp_analysis import call_figures
from callproof.sip.uri import redact


@dataclasses.dataclass(frozen=True)
class Generator:
    valid: bool | None
    reason: str
    cpu_pct_max: float | None
    loop_lag_ms_max: float | None
    starved_calls: int | None
    machine_busy_pct_max: float | None = None  # every program on the load machine, % of all cores
    own_socket_drops: int | None = None  # packets the kernel dropped on our own sockets
    limits: dict[str, float] = dataclasses.field(default_factory=dict)  # the checks' thresholds, by name


@dataclasses.dataclass(frozen=True)
class LegFigures:
    """One leg's calls in the figures the report puts side by side: the target's and the control leg's."""

    calls: int
    answered: int
    setup_ms_p95: float | None  # RFC 6076 SRD
    loss_pct_p95: float | None  # RFC 3550 A.3, per call
    jitter_ms_p95: float | None  # RFC 3550 A.8, mean per call


@dataclasses.dataclass(frozen=True)
class Queue:
    """The calls as a call center reads them: summary.json's `call_center` and `service_level`."""

    by_agent: bool  # an agent's pickup is the agent marker; False: the 200 OK
    offered: int
    reached_agent: int
    answer_rate_pct: float | None  # reached an agent / offered
    abandoned: int
    abandonment_pct: float | None
    time_to_abandon_ms: dict[str, float | None]
    time_to_agent_ms: dict[str, float | None]  # the first answer (ASA's distribution)
    service_level_s: float | None  # None: no service level line in the scenario
    service_level_pct: float | None
    handle_time_mean_s: float | None  # the average handle time
    system_answer_ms: dict[str, float | None]  # the 200 OK


@dataclasses.dataclass(frozen=True)
class Summary:
    verdict: Verdict | None  # None: no thresholds to judge by (verdict_reason says why)
    verdict_reason: str
    sla: tuple[SlaLine, ...]
    calls: dict[str, int]  # attempted, answered, abandoned, failed
    setup_ms: dict[str, float | None]  # p50, p95, p99 (RFC 6076 4.3 SRD)
    answer_ms: dict[str, float | None]
    failures: dict[str, int]
    rejected_codes: dict[str, int]  # final SIP status of rejected calls: count
    timing_resolution_ms: float | None
    availability_pct: float | None
    outages: tuple[Outage, ...]
    rto_s: float | None
    rto_resolution_s: float | None
    generator: Generator | None
    run: RunFacts
    probes_judged: bool  # False: no availability verdict (no thresholds), so no probe call is judged
    probes_down_utc: tuple[str, ...]
    probes_undecided_utc: tuple[str, ...]
    # The target's calls and the control leg's (callproof.harness.run.control); None: no control leg ran.
    legs: tuple[LegFigures, LegFigures] | None = None
    pesq_calls: int = 0  # recorded calls PESQ scored (media.pesq_mos_lqo)
    pesq_p50: float | None = None  # their median MOS-LQO
    pesq_unscored: str | None = None  # why none was scored (media.pesq_unscored)
    hearing: dict[str, Any] | None = None  # summary.json's `hearing` (docs/hearing.md); None: not in it
    queue: Queue | None = None  # None: a summary without the verifier's keys
    harness_errors: tuple[dict[str, str], ...] = ()  # steps of the run's end that failed (exit 3)


@dataclasses.dataclass(frozen=True)
class Event:
    at_s: float  # seconds after the run's start
    kind: str
    data: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Probe:
    at_s: float
    kind: str  # "call" | "options"
    # A probe call as the verifier judged its interval (summary.json's availability); an
    # OPTIONS "up" when answered at all, as the verifier counts them (reported, never deciding).
    state: str  # "up" | "down" | "undecided"


@dataclasses.dataclass(frozen=True, eq=False)
class CallTable:
    """One entry per call, as numpy arrays (NaN where a call has no value)."""

    invite_s: np.ndarray  # INVITE time, seconds after the run's start
    setup_ms: np.ndarray  # RFC 6076 4.1 SRD
    answer_ms: np.ndarray  # 200 OK to the INVITE
    agent_ms: np.ndarray  # INVITE to the agent marker (NaN: none arrived)
    abandon_ms: np.ndarray  # INVITE to the abandoning caller's hang-up (NaN: not abandoned)
    end_ms: np.ndarray  # the call's last event, after the INVITE
    answered: np.ndarray  # bool
    failed: np.ndarray  # bool: a failure other than the caller's own abandonment
    # callproof.rtp_analysis.call_figures, as the SLA lines and summary.json's `media` count them:
    mos_cqe: np.ndarray  # ITU-T G.107 Annex B MOS-CQE, the worse direction
    jitter_ms: np.ndarray  # RFC 3550 A.8 interarrival jitter, mean over the call (received stream)
    loss_pct: np.ndarray  # RFC 3550 A.3 lost / expected, the worse direction; 100 for no RTP at all

    def __len__(self) -> int:
        return len(self.invite_s)


@dataclasses.dataclass(frozen=True)
class WorstCall:
    call_id: str
    invite_utc: str
    target: str  # with any password removed from the URI
    outcome: str  # the Failure value, or "completed"
    final_code: int | None
    final_reason: str
    setup_ms: float | None
    answer_ms: float | None
    duration_s: float
    mos_cqe: float | None
    jitter_ms: float | None
    loss_pct: float | None
    recording: str | None


@dataclasses.dataclass(frozen=True, eq=False)
class ReportData:
    summary: Summary
    calls: CallTable
    lowest_mos: tuple[WorstCall, ...]
    failed_calls: tuple[WorstCall, ...]
    failed_total: int  # failed calls in all, of which `failed_calls` shows some
    failed_per_reason: int  # how many of each failure reason `failed_calls` shows
    probes: tuple[Probe, ...]
    events: tuple[Event, ...]
    engine: dict[str, Any] | None
    origin: dt.datetime  # time zero of the report's time axis: the run's start
    duration_s: float  # the run's length as the report's time axis shows it
    # hearing.jsonl's call.expect prompts: (prompt name, time to prompt in ms or None when not heard)
    prompts: tuple[tuple[str, float | None], ...] = ()

    def at_s(self, utc: str) -> float:
        """An ISO 8601 time from summary.json as seconds on the report's time axis."""
        return _seconds(utc, self.origin, layout.SUMMARY)


def load(folder: Path, worst_per_reason: int = 5, lowest_mos_count: int = 20) -> ReportData:
    """Read the bundle's documented files into a `ReportData` (the report's only I/O)."""
    folder = Path(folder)
    summary_dict = _read_json(folder, layout.SUMMARY, required=True)
    assert summary_dict is not None, "a required file is read or refused, never None"
    # The calls we placed; "inbound" records are our own agents' side of them (as in callproof.harness.verdict.summary).
    records = [r for r in read_calls(folder) if r.direction == "outbound"]
    try:
        raw_probes = read_probes(folder)
        raw_events = read_events(folder)
        hearing = read_hearing(folder)
    except RecordsError as exc:
        raise ReportInputError(str(exc)) from None
    engine = _read_json(folder, layout.ENGINE, required=False)
    summary = parse_summary(summary_dict, folder)
    origin = _origin(summary.run, raw_events, records)
    events = tuple(
        Event(_seconds(e["at_utc"], origin, layout.EVENTS), str(e.get("kind", "")), e)
        for e in raw_events
        if isinstance(e.get("at_utc"), str)
    )
    timed = [p for p in raw_probes if isinstance(p.get("at_utc"), str)]
    probes = tuple(
        Probe(at_s=_seconds(p["at_utc"], origin, layout.PROBES), kind=str(p.get("kind", "call")), state=state)
        for p, state in zip(timed, _probe_states(timed, summary), strict=True)
    )
    table = call_table(records, origin)
    lowest, failed, failed_total = worst_calls(records, table, worst_per_reason, lowest_mos_count)
    return ReportData(
        summary=summary,
        calls=table,
        lowest_mos=lowest,
        failed_calls=failed,
        failed_total=failed_total,
        failed_per_reason=worst_per_reason,
        probes=probes,
        events=events,
        engine=engine,
        origin=origin,
        duration_s=_duration(summary.run, origin, table, events, probes),
        prompts=tuple((str(p.get("prompt") or ""), float(p["time_to_prompt_ms"])
                       if p.get("heard") is True and p.get("time_to_prompt_ms") is not None else None)
                      for entry in hearing for p in entry.get("prompts") or ()),
    )


def _probe_states(raw_probes: list[dict[str, Any]], summary: Summary) -> list[str]:
    """Each probes.jsonl entry's state as the verifier decided it (callproof.harness.verdict.availability)."""
    down = {summary_file.parse_utc(text, layout.SUMMARY) for text in summary.probes_down_utc}
    undecided = {summary_file.parse_utc(text, layout.SUMMARY) for text in summary.probes_undecided_utc}
    states = []
    for entry in raw_probes:
        if entry.get("kind") == "options":
            states.append("up" if entry.get("code") is not None else "down")
        elif not summary.probes_judged:
            states.append("undecided")
        else:
            at = summary_file.parse_utc(entry["at_utc"], layout.PROBES)
            states.append("down" if at in down else "undecided" if at in undecided else "up")
    return states


def read_calls(folder: Path) -> list[Any]:
    """Every CallRecord in calls.jsonl; a record that cannot be read is named by its number."""
    try:
        return load_calls(folder)
    except RecordsError as exc:
        raise ReportInputError(str(exc)) from None


def _read_json(folder: Path, name: str, required: bool) -> dict[str, Any] | None:
    def refuse(constant: str) -> None:  # NaN and Infinity are Python's, not JSON's
        raise ReportInputError(f"{shown(folder, name)} holds {constant}, which is not a JSON number")

    raw = bundle_files.read_bytes(folder, name, layout.MAX_FILE_BYTES[name], missing_ok=not required)
    if raw is None:
        return None
    try:
        data = json.loads(raw, parse_constant=refuse)
    except ReportInputError:
        raise
    except (ValueError, RecursionError):
        raise ReportInputError(f"{shown(folder, name)} is not valid JSON") from None
    if not isinstance(data, dict):
        raise ReportInputError(f"{shown(folder, name)} does not hold a JSON object")
    unfit = summary_file.json_problem(data)
    if unfit is not None:
        raise ReportInputError(f"{shown(folder, name)}: {unfit}")
    return data


def parse_summary(data: dict[str, Any], folder: Path) -> Summary:
    """summary.json into a `Summary`; one that does not fit the schema is named by its first wrong key."""
    unfit = summary_file.problem(data)
    if unfit is not None:
        raise ReportInputError(f"{shown(folder, layout.SUMMARY)}: {unfit}")
    run = RunFacts.from_dict(data["run"])
    generator = data.get("generator")
    availability = data.get("availability")
    return Summary(
        verdict=None if data["verdict"] is None else Verdict(data["verdict"]),
        verdict_reason=data["verdict_reason"],
        sla=tuple(SlaLine.from_dict(line) for line in data.get("sla", ())),
        calls=dict(data["calls"]),
        setup_ms=_percentiles(data["setup_ms"]),
        answer_ms=_percentiles(data["answer_ms"]),
        failures=dict(data["failures"]),
        rejected_codes=dict(data["rejected_codes"]),
        timing_resolution_ms=_number(data["timing_resolution_ms"]),
        availability_pct=_number(data.get("availability_pct")),
        outages=tuple(Outage.from_dict(o) for o in data.get("outages", ())),
        rto_s=_number(data.get("rto_s")),
        rto_resolution_s=_number(data.get("rto_resolution_s")),
        generator=None
        if generator is None
        else Generator(
            valid=generator["valid"],
            reason=generator["reason"],
            cpu_pct_max=_number(generator["cpu_pct_max"]),
            loop_lag_ms_max=_number(generator["loop_lag_ms_max"]),
            starved_calls=generator["starved_calls"],
            machine_busy_pct_max=_number(generator.get("machine_busy_pct_max")),
            own_socket_drops=_whole(generator.get("socket_drops_media"), generator.get("socket_drops_sip")),
            limits={str(k): float(v) for k, v in (generator.get("limits") or {}).items() if _number(v) is not None},
        ),
        run=run,
        probes_judged=availability is not None,
        probes_down_utc=tuple(availability["down_utc"]) if availability else (),
        probes_undecided_utc=tuple(availability["undecided_utc"]) if availability else (),
        legs=_legs(data),
        **_pesq(data.get("media") or {}),
        hearing=data.get("hearing"),
        queue=_queue(data),
        harness_errors=tuple(dict(e) for e in data.get("harness_errors", ())),
    )


def _queue(data: dict[str, Any]) -> Queue | None:
    centre, level = data.get("call_center"), data.get("service_level")
    if not centre:
        return None
    handle = centre.get("handle_time_s") or {}
    return Queue(
        by_agent=centre["by_agent_marker"],
        offered=centre["offered"],
        reached_agent=centre["answer_rate_count"],
        answer_rate_pct=_number(centre["answer_rate_pct"]),
        abandoned=centre["abandonment_count"],
        abandonment_pct=_number(centre["abandonment_pct"]),
        time_to_abandon_ms=_percentiles(centre["time_to_abandon_ms"]),
        time_to_agent_ms=_percentiles(centre["time_to_agent_ms"]),
        service_level_s=None if level is None else _number(level["within_s"]),
        service_level_pct=None if level is None else _number(level["answered_within_pct"]),
        handle_time_mean_s=_number(handle.get("mean")),
        system_answer_ms=_percentiles(centre["system_answer_ms"]),
    )


def _pesq(media: dict[str, Any]) -> dict[str, Any]:
    scores = media.get("pesq_mos_lqo") or {}
    return {"pesq_calls": int(scores.get("calls") or 0), "pesq_p50": _number(scores.get("p50")),
            "pesq_unscored": media.get("pesq_unscored")}


def _whole(*values: Any) -> int | None:
    """The sum of the whole numbers among `values`; None when there is none."""
    counts = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    return sum(counts) if counts else None


def _leg(calls: dict[str, Any], setup_ms: dict[str, Any], media: dict[str, Any]) -> LegFigures:
    def p95(figure: str) -> float | None:
        value = media.get(figure)
        return _number(value.get("p95")) if isinstance(value, dict) else None

    return LegFigures(calls=calls["attempted"], answered=calls["answered"], setup_ms_p95=_number(setup_ms.get("p95")),
                      loss_pct_p95=p95("loss_pct"), jitter_ms_p95=p95("jitter_ms"))


def _legs(data: dict[str, Any]) -> tuple[LegFigures, LegFigures] | None:
    """The target's calls beside the control leg's, when a control leg placed any."""
    control = data.get("control")
    if not control or not control["calls"]["attempted"]:
        return None
    target = _leg(data["calls"], data["setup_ms"], data.get("media") or {})
    return target, _leg(control["calls"], control["setup_ms"], control["media"])


def _number(value: int | float | None) -> float | None:
    """A number of a summary that fits the schema (finite, or null) as a float."""
    return None if value is None else float(value)


def _percentiles(values: dict[str, Any]) -> dict[str, float | None]:
    return {p: _number(values[p]) for p in ("p50", "p95", "p99")}


def _origin(run: RunFacts, raw_events: list[dict[str, Any]], records: list[Any]) -> dt.datetime:
    """Time zero of every plot: the run's start, else its first event or call."""
    candidates = ([(run.start_utc, layout.SUMMARY)] + [(e.get("at_utc"), layout.EVENTS) for e in raw_events[:1]]
                  + [(r.invite_utc, layout.CALLS) for r in records[:1]])
    for text, where in candidates:
        if isinstance(text, str):
            return summary_file.parse_utc(text, where)
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _seconds(text: str, origin: dt.datetime, where: str) -> float:
    return (summary_file.parse_utc(text, where) - origin).total_seconds()


def _duration(
    run: RunFacts, origin: dt.datetime, table: CallTable, events: tuple[Event, ...], probes: tuple[Probe, ...]
) -> float:
    if run.end_utc:
        return max(_seconds(run.end_utc, origin, layout.SUMMARY), 1.0)
    ends = [0.0]
    if len(table):
        ends.append(float(np.nanmax(table.invite_s + table.end_ms / 1000.0)))
    ends += [e.at_s for e in events[-1:]] + [p.at_s for p in probes[-1:]]
    return max(max(ends), 1.0)


def call_table(records: list[Any], origin: dt.datetime) -> CallTable:
    from callproof.sip.records import Failure

    def column(values: list[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    return CallTable(
        invite_s=column([_seconds(r.invite_utc, origin, layout.CALLS) for r in records]),
        setup_ms=column([r.setup_ms for r in records]),
        answer_ms=column([r.answer_ms for r in records]),
        agent_ms=column([r.agent_ms for r in records]),
        abandon_ms=column([(r.bye_ms if r.bye_ms is not None else r.end_ms) if r.failure is Failure.ABANDONED
                           else None for r in records]),
        end_ms=column([r.end_ms for r in records]),
        answered=np.array([r.answered for r in records], dtype=bool),
        failed=np.array([r.failure not in (None, Failure.ABANDONED) for r in records], dtype=bool),
        mos_cqe=column([call_figures.mos_cqe(r) for r in records]),
        jitter_ms=column([call_figures.jitter_ms(r) for r in records]),
        loss_pct=column([call_figures.loss_pct(r) for r in records]),
    )


def _worst_call(record: Any, table: CallTable, index: int) -> WorstCall:
    def value(array: np.ndarray) -> float | None:
        v = float(array[index])
        return None if math.isnan(v) else v

    return WorstCall(
        call_id=record.call_id,
        invite_utc=record.invite_utc,
        target=redact(record.target),  # RFC 3261 19.1.1 allows, and deprecates, a password
        outcome=record.failure.value if record.failure else "completed",
        final_code=record.final_code,
        final_reason=record.final_reason,
        setup_ms=value(table.setup_ms),
        answer_ms=value(table.answer_ms),
        duration_s=record.end_ms / 1000.0,
        mos_cqe=value(table.mos_cqe),
        jitter_ms=value(table.jitter_ms),
        loss_pct=value(table.loss_pct),
        recording=record.recording,
    )


def worst_calls(
    records: list[Any], table: CallTable, per_reason: int, lowest_count: int
) -> tuple[tuple[WorstCall, ...], tuple[WorstCall, ...], int]:
    """The calls with the lowest MOS, and failed calls: the first `per_reason` of each reason."""
    with_mos = np.flatnonzero(~np.isnan(table.mos_cqe))
    lowest = with_mos[np.argsort(table.mos_cqe[with_mos], kind="stable")][:lowest_count]
    by_reason: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        if record.failure is not None:
            by_reason.setdefault(record.failure.value, []).append(i)
    chosen = sorted(i for indices in by_reason.values() for i in indices[:per_reason])
    failed_total = sum(len(v) for v in by_reason.values())
    return (
        tuple(_worst_call(records[i], table, i) for i in lowest),
        tuple(_worst_call(records[i], table, i) for i in chosen),
        failed_total,
    )
