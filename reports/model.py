"""What a report shows, read from the bundle's files into frozen values.

`load(folder)` reads summary.json, calls.jsonl, probes.jsonl, events.jsonl and
engine.json once; every renderer (plots, HTML, PDF, JUnit, manifest) takes the
resulting `ReportData` and does no I/O of its own. The rest is pure: arrays
per call for plotting, and the worst calls for the table.

summary.json is the verifier's (issue 5); every key but `calls` may be missing
(a killed run), and a missing key shows as "not measured", never as a pass.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from callproof.reports import layout
from callproof.reports.errors import ReportInputError
from callproof.reports.records import RecordsError, read_jsonl

VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE", "INVALID")


@dataclasses.dataclass(frozen=True)
class SlaLine:
    """One SLA line as the verifier judged it: observed value, 95% CI, threshold, verdict."""

    name: str
    metric: str
    threshold: float | None
    comparison: str  # ">=" or "<="
    unit: str
    observed: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: str  # one of VERDICTS
    note: str


@dataclasses.dataclass(frozen=True)
class Outage:
    start_utc: str
    end_utc: str | None  # None: still down when the run ended
    cause: str


@dataclasses.dataclass(frozen=True)
class RunFacts:
    scenario_name: str | None
    start_utc: str | None
    end_utc: str | None
    interrupted: bool
    seed: int | str | None


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
class Summary:
    verdict: str | None  # None: the summary has no verdict (a killed run)
    verdict_reason: str
    sla: tuple[SlaLine, ...]
    calls: dict[str, int]  # attempted, answered, abandoned, failed
    setup_ms: dict[str, float | None]  # p50, p95, p99 (RFC 6076 4.1 SRD)
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
    # The target's calls and the control leg's (callproof.harness.run.control); None: no control leg ran.
    legs: tuple[LegFigures, LegFigures] | None = None


@dataclasses.dataclass(frozen=True)
class Event:
    at_s: float  # seconds after the run's start
    kind: str
    data: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Probe:
    at_s: float
    kind: str  # "call" | "options"
    ok: bool
    code: int | None
    setup_ms: float | None


@dataclasses.dataclass(frozen=True, eq=False)
class CallTable:
    """One entry per call, as numpy arrays (NaN where a call has no value)."""

    invite_s: np.ndarray  # INVITE time, seconds after the run's start
    setup_ms: np.ndarray  # RFC 6076 4.1 SRD
    answer_ms: np.ndarray  # 200 OK to the INVITE
    end_ms: np.ndarray  # the call's last event, after the INVITE
    answered: np.ndarray  # bool
    failed: np.ndarray  # bool: a failure other than the caller's own abandonment
    mos_cqe: np.ndarray  # ITU-T G.107 Annex B MOS-CQE, the worse direction
    jitter_ms: np.ndarray  # RFC 3550 A.8 interarrival jitter, mean over the call (received stream)
    loss_pct: np.ndarray  # RFC 3550 A.3: lost / expected, received stream

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

    def at_s(self, utc: str) -> float:
        """An ISO 8601 time from the bundle as seconds on the report's time axis."""
        return _seconds(utc, self.origin)


def parse_utc(text: str) -> dt.datetime:
    """ISO 8601 as written in the bundle; a time without zone is taken as UTC."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ReportInputError(f"the time {text!r} in the bundle is not ISO 8601") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def load(folder: Path, worst_per_reason: int = 5, lowest_mos_count: int = 20) -> ReportData:
    """Read the bundle's documented files into a `ReportData` (the report's only I/O)."""
    folder = Path(folder)
    summary_dict = _read_json(folder / layout.SUMMARY, required=True)
    # The calls we placed; "inbound" records are our own agents' side of them (as in callproof.harness.verdict.summary).
    records = [r for r in read_calls(folder) if r.direction == "outbound"]
    try:
        raw_probes = list(read_jsonl(folder / layout.PROBES))
        raw_events = list(read_jsonl(folder / layout.EVENTS))
    except RecordsError as exc:
        raise ReportInputError(str(exc)) from None
    engine = _read_json(folder / layout.ENGINE, required=False)
    summary = parse_summary(summary_dict, raw_events, folder)
    origin = _origin(summary.run, raw_events, records)
    events = tuple(
        Event(_seconds(e["at_utc"], origin), str(e.get("kind", "")), e)
        for e in raw_events
        if isinstance(e.get("at_utc"), str)
    )
    probes = tuple(
        Probe(
            at_s=_seconds(p["at_utc"], origin),
            kind=str(p.get("kind", "call")),
            ok=bool(p.get("ok")),
            code=p.get("code"),
            setup_ms=p.get("setup_ms"),
        )
        for p in raw_probes
        if isinstance(p.get("at_utc"), str)
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
    )


def read_calls(folder: Path) -> list[Any]:
    """Every CallRecord in calls.jsonl; a record that cannot be read is named by its number."""
    from callproof.sip.records import CallRecord  # imported late: reports/ reads records, not the engine

    path = Path(folder) / layout.CALLS
    records = []
    try:
        for number, data in enumerate(read_jsonl(path), start=1):
            try:
                records.append(CallRecord.from_dict(data))
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise ReportInputError(f"{path}: record {number} is not a call record ({exc})") from None
    except RecordsError as exc:
        raise ReportInputError(str(exc)) from None
    return records


def _read_json(path: Path, required: bool) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        if required:
            raise ReportInputError(f"{path.parent} has no {path.name}; it is not a callproof output folder") from None
        return None
    except ValueError:
        raise ReportInputError(f"{path} is not valid JSON") from None
    if not isinstance(data, dict):
        raise ReportInputError(f"{path} does not hold a JSON object")
    return data


def parse_summary(data: dict[str, Any], raw_events: list[dict[str, Any]], folder: Path) -> Summary:
    """summary.json into a `Summary`; a wrong type names the key, a missing key is 'not measured'."""
    where = folder / layout.SUMMARY
    verdict = data.get("verdict")
    if verdict is not None and verdict not in VERDICTS:
        raise ReportInputError(f"{where}: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
    sla = tuple(_sla_line(line, where, i) for i, line in enumerate(_list(data, "sla", where)))
    generator = data.get("generator")
    return Summary(
        verdict=verdict,
        verdict_reason=str(data.get("verdict_reason") or ""),
        sla=sla,
        calls=_counts(data, "calls", where, ("attempted", "answered", "abandoned", "failed")),
        setup_ms=_percentiles(_dict(data, "setup_ms", where)),
        answer_ms=_percentiles(_dict(data, "answer_ms", where)),
        failures=_counts(data, "failures", where),
        rejected_codes=_counts(data, "rejected_codes", where),
        timing_resolution_ms=_number(data.get("timing_resolution_ms")),
        availability_pct=_number(data.get("availability_pct")),
        outages=tuple(
            Outage(str(o.get("start_utc", "")), o.get("end_utc"), str(o.get("cause", "")))
            for o in _list(data, "outages", where)
        ),
        rto_s=_number(data.get("rto_s")),
        rto_resolution_s=_number(data.get("rto_resolution_s")),
        generator=None
        if not isinstance(generator, dict)
        else Generator(
            valid=generator.get("valid"),
            reason=str(generator.get("reason") or ""),
            cpu_pct_max=_number(generator.get("cpu_pct_max")),
            loop_lag_ms_max=_number(generator.get("loop_lag_ms_max")),
            starved_calls=generator.get("starved_calls"),
            machine_busy_pct_max=_number(generator.get("machine_busy_pct_max")),
            own_socket_drops=_whole(generator.get("socket_drops_media"), generator.get("socket_drops_sip")),
            limits={str(k): float(v) for k, v in _dict(generator, "limits", where).items()
                    if _number(v) is not None},
        ),
        run=run_facts(_dict(data, "run", where), raw_events, folder),
        legs=_legs(data, where),
    )


def _whole(*values: Any) -> int | None:
    """The sum of the whole numbers among `values`; None when there is none."""
    counts = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    return sum(counts) if counts else None


def _leg(calls: dict[str, Any], setup_ms: dict[str, Any], media: dict[str, Any]) -> LegFigures:
    def p95(figure: str) -> float | None:
        value = media.get(figure)
        return _number(value.get("p95")) if isinstance(value, dict) else None

    return LegFigures(calls=_whole(calls.get("attempted")) or 0, answered=_whole(calls.get("answered")) or 0,
                      setup_ms_p95=_number(setup_ms.get("p95")), loss_pct_p95=p95("loss_pct"),
                      jitter_ms_p95=p95("jitter_ms"))


def _legs(data: dict[str, Any], where: Path) -> tuple[LegFigures, LegFigures] | None:
    """The target's calls beside the control leg's, when a control leg placed any."""
    control = _dict(data, "control", where)
    if not control or not _whole(_dict(control, "calls", where).get("attempted")):
        return None
    target = _leg(_dict(data, "calls", where), _dict(data, "setup_ms", where), _dict(data, "media", where))
    return target, _leg(_dict(control, "calls", where), _dict(control, "setup_ms", where),
                        _dict(control, "media", where))


def run_facts(run: dict[str, Any], raw_events: list[dict[str, Any]], folder: Path) -> RunFacts:
    """Start, end, seed, interrupted: from summary.run, else from the timeline in events.jsonl.

    A run with no `run_end` event was killed, so it counts as interrupted unless
    the summary says otherwise (callproof.harness.verdict.summary.run_facts reads the timeline the same way).
    """
    start = next((e for e in raw_events if e.get("kind") == "run_start"), {})
    end = next((e for e in reversed(raw_events) if e.get("kind") == "run_end"), None)
    interrupted = run.get("interrupted")
    return RunFacts(
        scenario_name=run.get("scenario_name") or start.get("scenario"),
        start_utc=run.get("start_utc") or start.get("at_utc"),
        end_utc=run.get("end_utc") or (end or {}).get("at_utc"),
        interrupted=bool(interrupted) if interrupted is not None else end is None or bool(end.get("interrupted")),
        seed=run.get("seed") if run.get("seed") is not None else start.get("seed", _scenario_seed(folder)),
    )


def _scenario_seed(folder: Path) -> int | str | None:
    """The seed as written in scenario.yaml (only that key is read)."""
    import yaml

    try:
        scenario = yaml.safe_load((folder / layout.SCENARIO).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return scenario.get("seed") if isinstance(scenario, dict) else None


def _sla_line(line: Any, where: Path, index: int) -> SlaLine:
    if "name" not in line:
        raise ReportInputError(f"{where}: sla[{index}] has no name")
    verdict = line.get("verdict")
    if verdict not in VERDICTS:
        raise ReportInputError(f"{where}: sla[{index}] ({line['name']}) has verdict {verdict!r}")
    comparison = line.get("comparison", ">=")
    if comparison not in (">=", "<="):
        raise ReportInputError(f"{where}: sla[{index}] ({line['name']}) has comparison {comparison!r}")
    return SlaLine(
        name=str(line["name"]),
        metric=str(line.get("metric") or line["name"]),
        threshold=_number(line.get("threshold")),
        comparison=comparison,
        unit=str(line.get("unit") or ""),
        observed=_number(line.get("observed")),
        ci_low=_number(line.get("ci_low")),
        ci_high=_number(line.get("ci_high")),
        verdict=verdict,
        note=str(line.get("note") or ""),
    )


def _dict(data: dict[str, Any], key: str, where: Path) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ReportInputError(f"{where}: {key} is not an object")
    return value


def _list(data: dict[str, Any], key: str, where: Path) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ReportInputError(f"{where}: {key} is not a list of objects")
    return value


def _counts(data: dict[str, Any], section: str, where: Path, keys: tuple[str, ...] | None = None) -> dict[str, int]:
    """A section of whole counts; with `keys`, exactly those (a missing one is 0)."""
    values = _dict(data, section, where)
    counts = {}
    for key in keys if keys is not None else values:
        value = values.get(key) or 0
        if isinstance(value, bool) or not isinstance(value, int):
            raise ReportInputError(f"{where}: {section}.{key} is not a number")
        counts[str(key)] = value
    return counts


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def _percentiles(values: dict[str, Any]) -> dict[str, float | None]:
    return {p: _number(values.get(p)) for p in ("p50", "p95", "p99")}


def _origin(run: RunFacts, raw_events: list[dict[str, Any]], records: list[Any]) -> dt.datetime:
    """Time zero of every plot: the run's start, else its first event or call."""
    candidates = [run.start_utc] + [e.get("at_utc") for e in raw_events[:1]] + [r.invite_utc for r in records[:1]]
    for text in candidates:
        if isinstance(text, str):
            return parse_utc(text)
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _seconds(text: str, origin: dt.datetime) -> float:
    return (parse_utc(text) - origin).total_seconds()


def _duration(
    run: RunFacts, origin: dt.datetime, table: CallTable, events: tuple[Event, ...], probes: tuple[Probe, ...]
) -> float:
    if run.end_utc:
        return max(_seconds(run.end_utc, origin), 1.0)
    ends = [0.0]
    if len(table):
        ends.append(float(np.nanmax(table.invite_s + table.end_ms / 1000.0)))
    ends += [e.at_s for e in events[-1:]] + [p.at_s for p in probes[-1:]]
    return max(max(ends), 1.0)


def mos_cqe(quality: dict[str, Any] | None) -> float | None:
    """The call's MOS-CQE (G.107 Annex B) from `CallRecord.quality`, the worse direction.

    `quality` holds rtp_analysis results per direction ({"rx": {...}, "tx": {...}});
    a flat {"mos_cqe": ...} is read as well.
    """
    if not quality:
        return None
    if _number(quality.get("mos_cqe")) is not None:
        return float(quality["mos_cqe"])
    values = [_number(v.get("mos_cqe")) for v in quality.values() if isinstance(v, dict)]
    values = [v for v in values if v is not None]
    return min(values) if values else None


def loss_pct(media: Any) -> float | None:
    """RFC 3550 A.3 fraction lost of the received stream: lost / (received + lost), in %."""
    if media is None:
        return None
    expected = media.rx_packets + media.rx_lost
    return 100.0 * media.rx_lost / expected if expected > 0 else None


def call_table(records: list[Any], origin: dt.datetime) -> CallTable:
    from callproof.sip.records import Failure

    def column(values: list[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    return CallTable(
        invite_s=column([_seconds(r.invite_utc, origin) for r in records]),
        setup_ms=column([r.setup_ms for r in records]),
        answer_ms=column([r.answer_ms for r in records]),
        end_ms=column([r.end_ms for r in records]),
        answered=np.array([r.answered for r in records], dtype=bool),
        failed=np.array([r.failure not in (None, Failure.ABANDONED) for r in records], dtype=bool),
        mos_cqe=column([mos_cqe(r.quality) for r in records]),
        jitter_ms=column([r.media.rx_jitter_mean_ms if r.media else None for r in records]),
        loss_pct=column([loss_pct(r.media) for r in records]),
    )


_URI_PASSWORD = re.compile(
    r"^(sips?:[^:@;?]+):.*@", re.IGNORECASE
)  # up to the last @: a raw @ in a password must not leak its tail


def redact_uri(uri: str) -> str:
    """Drop the password of a `sip:user:password@host` URI (RFC 3261 19.1.1 allows, and deprecates, it)."""
    return _URI_PASSWORD.sub(r"\1@", uri)


def _worst_call(record: Any, table: CallTable, index: int) -> WorstCall:
    def value(array: np.ndarray) -> float | None:
        v = float(array[index])
        return None if math.isnan(v) else v

    return WorstCall(
        call_id=record.call_id,
        invite_utc=record.invite_utc,
        target=redact_uri(record.target),
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
