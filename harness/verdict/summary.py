"""summary.json, computed from a run folder's files alone.

`callproof run` writes it at the end; `callproof report` recomputes it after a
crash or on another machine. Percentiles are nearest-rank order statistics
(numpy's "inverted_cdf"): every reported value is one a call really had. Its shape
is callproof/scenarios/summary.schema.json (callproof.reports.summary_file), and
`summarize` never returns a summary that does not fit it.

The verifier's keys (callproof.harness.verdict.sla: sla, verdict, verdict_reason, connect,
call_center, service_level, media, availability_pct, availability, outages,
rto_s, rto_resolution_s, failover, generator) judge the records against the
thresholds of the folder's own scenario.yaml, read offline (callproof.harness.scenario.loader):
credentials named there need not be set on the machine that reports.

`verdict` is always one of PASS, FAIL, INCONCLUSIVE, INVALID: without thresholds to
judge by (no readable scenario.yaml) every line is off and the run is INCONCLUSIVE,
the reason saying why; when callproof itself failed during the load (events.jsonl
`harness_error`, step "load") the run is INVALID: the target is not judged on a load
the harness broke. The steps of `summarize` (`read_run`, `thresholds`, `figures`,
`verdict_keys`, `check_fits`) are separate so the end of a run
(callproof.harness.run.conclude) keeps the figures when the verifier fails.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from callproof.harness.errors import BadInput, HarnessError
from callproof.harness.scenario.loader import load_scenario
from callproof.harness.scenario.model import Probes, Scenario, Sla
from callproof.harness.verdict import media
from callproof.harness.verdict.recordings import why_not_scored
from callproof.harness.verdict.sla import judge
from callproof.harness.verdict.stats import percentiles
from callproof.reports import bundle_files, layout, summary_file
from callproof.reports.errors import ReportInputError
from callproof.reports.records import RecordsError, load_calls, read_events, read_hearing, read_pesq, read_probes
from callproof.reports.summary_file import Verdict
from callproof.sip.records import CallRecord, Failure


def call_counts(calls: list[CallRecord]) -> dict[str, int]:
    """`failed` counts the target's failures (CallRecord.failed); `stopped`, the calls the run's
    end hung up; callproof's own engine errors are in `failures` and the generator's reason."""
    return {
        "attempted": len(calls),
        "answered": sum(c.answered for c in calls),
        "abandoned": sum(c.failure is Failure.ABANDONED for c in calls),
        "failed": sum(c.failed for c in calls),
        "stopped": sum(c.failure is Failure.STOPPED for c in calls),
    }


def failure_counts(calls: list[CallRecord]) -> dict[str, int]:
    counts = {f.value: 0 for f in Failure}
    for call in calls:
        if call.failure is not None:
            counts[call.failure.value] += 1
    return counts


def rejected_codes(calls: list[CallRecord]) -> dict[str, int]:
    codes: dict[str, int] = {}
    for call in calls:
        if call.failure is Failure.REJECTED and call.final_code is not None:
            codes[str(call.final_code)] = codes.get(str(call.final_code), 0) + 1
    return dict(sorted(codes.items()))


def timing_resolution_ms(events: list[dict[str, Any]], calls: list[CallRecord]) -> float | None:
    """The resolution of the calls' SIP timestamps: the worst lag of an engine's event pump (a
    message waits for the next poll) in the health samples taken while the calls ran.

    A health sample covers (at_utc - interval_s, at_utc]. Those that began at or after the
    first INVITE and before the last call ended count; engine start-up, registrations and
    the wait before the first call are not the calls' (they showed 82-162 ms where the calls
    saw 16-20 ms). A run shorter than one sample takes the samples that overlap its calls.
    None without calls or without such a sample."""
    if not calls:
        return None

    def _utc(text: str) -> float:
        return summary_file.parse_utc(text, layout.EVENTS).timestamp()

    first = min(_utc(c.invite_utc) for c in calls)
    last = max(_utc(c.invite_utc) + c.end_ms / 1000.0 for c in calls)
    windows = [(_utc(e["at_utc"]) - float(e.get("interval_s") or 0.0), _utc(e["at_utc"]), e["pump_lag_ms_max"])
               for e in events if e.get("kind") == "health" and e.get("pump_lag_ms_max") is not None
               and isinstance(e.get("at_utc"), str)]
    lags = [lag for begin, _, lag in windows if first <= begin < last]
    if not lags:
        lags = [lag for begin, end, lag in windows if begin < last and end > first]
    return round(max(lags), 3) if lags else None


@dataclasses.dataclass(frozen=True)
class RunFiles:
    """What the verifier reads from a run folder."""

    calls: list[CallRecord]  # the load's calls (direction "outbound")
    events: list[dict[str, Any]]
    probes: list[dict[str, Any]]
    pesq: list[dict[str, Any]]
    control: list[CallRecord]  # the control leg's (control.jsonl)
    hearing: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # hearing.jsonl


def read_run(folder: Path) -> RunFiles:
    try:
        return RunFiles(calls=[c for c in load_calls(folder) if c.direction == "outbound"],
                        events=read_events(folder), probes=read_probes(folder), pesq=read_pesq(folder),
                        control=load_calls(folder, layout.CONTROL), hearing=read_hearing(folder))
    except RecordsError as exc:
        raise BadInput(str(exc)) from None


def figures(files: RunFiles, scenario: Scenario | None = None) -> dict[str, Any]:
    """The measured figures, which need no thresholds (summary.json's keys before the verifier's)."""
    run = summary_file.run_facts(files.events)
    if run.seed is None and scenario is not None:  # killed before its run_start event
        run = dataclasses.replace(run, seed=scenario.seed)
    calls = files.calls
    return {
        "run": run.to_dict(),
        "calls": call_counts(calls),
        "failures": failure_counts(calls),
        "rejected_codes": rejected_codes(calls),
        "setup_ms": percentiles(c.setup_ms for c in calls),  # RFC 6076 4.3 SRD
        "answer_ms": percentiles(c.answer_ms for c in calls),
        "timing_resolution_ms": timing_resolution_ms(files.events, calls),
        "control": control_summary(files.control),
    }


def summarize(folder: Path, scenario: Scenario | None = None) -> dict[str, Any]:
    """summary.json's content for a run folder; `scenario` defaults to the folder's scenario.yaml."""
    folder = Path(folder)
    files = read_run(folder)
    scenario, no_verdict = thresholds(folder, scenario)
    summary = figures(files, scenario)
    summary.update(verdict_keys(files, scenario, interrupted=summary["run"]["interrupted"], no_verdict=no_verdict))
    check_fits(summary)
    return summary


def check_fits(summary: dict[str, Any]) -> None:
    """HarnessError unless `summary` fits summary.schema.json: the verifier's own bug, never
    written silently (callproof.harness.run.conclude still writes the figures, and says so)."""
    unfit = summary_file.problem(summary)
    if unfit is not None:
        raise HarnessError(f"the summary the verifier made does not fit {summary_file.SCHEMA_NAME}: {unfit}")


def thresholds(folder: Path, scenario: Scenario | None = None) -> tuple[Scenario | None, str]:
    """The thresholds to judge by: `scenario`, else the folder's scenario.yaml; without one, why not."""
    if scenario is not None:
        return scenario, ""
    try:
        raw = bundle_files.read_bytes(folder, layout.SCENARIO, layout.MAX_FILE_BYTES[layout.SCENARIO], missing_ok=True)
    except ReportInputError as exc:
        return None, f"no thresholds to judge by: {exc}"
    if raw is None:
        return None, f"the folder has no {layout.SCENARIO}: no thresholds to judge by"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, f"no thresholds to judge by: {layout.SCENARIO} is not UTF-8 text"
    try:
        # Named by its name alone: no local path goes into summary.json (callproof.reports.layout).
        return load_scenario(folder / layout.SCENARIO, offline=True, text=text, label=layout.SCENARIO), ""
    except BadInput as exc:
        return None, f"no thresholds to judge by: {exc}"


def control_summary(control: list[CallRecord]) -> dict[str, Any]:
    """The control leg's calls (callproof.harness.run.control) in the figures the target's calls are
    shown in, so a report can put them side by side; never part of an SLA line."""
    return {"calls": call_counts(control), "setup_ms": percentiles(c.setup_ms for c in control),
            "media": media.media_summary(control)}


def verdict_keys(files: RunFiles, scenario: Scenario | None, *, interrupted: bool,
                 no_verdict: str = "") -> dict[str, Any]:
    """The verifier's keys, judged against `scenario`'s thresholds; without them
    (`no_verdict` says why), `unjudged_keys`."""
    if scenario is None:
        return unjudged_keys(files, interrupted=interrupted, reason=no_verdict)
    result = judge(files.calls, files.probes, files.events, sla=scenario.sla, probes=scenario.probes,
                   by_agent=scenario.call.agent_marker is not None, faults_planned=len(scenario.faults),
                   interrupted=interrupted, pesq=files.pesq, control=files.control,
                   agent_marker=scenario.call.agent_marker, hearing_entries=files.hearing)
    keys = result.summary()
    keys["media"]["pesq_unscored"] = why_not_scored(scenario, files.calls, files.pesq)
    failed = load_failure(files.events)
    if failed is not None:
        keys["verdict"] = Verdict.INVALID.value
        keys["verdict_reason"] = (f"callproof itself failed during the load ({failed}): no verdict on the "
                                  "target; the figures are those of the calls it recorded")
    return keys


def unjudged_keys(files: RunFiles, *, interrupted: bool, reason: str) -> dict[str, Any]:
    """The verifier's keys with every SLA line off: its figures (RFC 6076, call center, media, the
    generator's validity) without thresholds. No probe is judged up or down: that needs the
    scenario's setup cap. INCONCLUSIVE because of `reason`; INVALID when the generator was the
    bottleneck all the same."""
    result = judge(files.calls, [], files.events, sla=_NO_LINES, probes=_NO_PROBES, by_agent=False,
                   faults_planned=0, interrupted=interrupted, pesq=files.pesq, control=files.control,
                   hearing_entries=files.hearing)
    keys = result.summary()
    keys["media"]["pesq_unscored"] = why_not_scored(None, files.calls, files.pesq)
    if keys["verdict"] == Verdict.INVALID.value:
        keys["verdict_reason"] = f"{reason}; {keys['verdict_reason']}"
    else:
        keys["verdict"], keys["verdict_reason"] = Verdict.INCONCLUSIVE.value, reason
    return keys


_NO_LINES = Sla(**{field.name: None for field in dataclasses.fields(Sla)})
_NO_PROBES = Probes(call_interval_s=None, options_interval_s=None, setup_cap_ms=0.0, call_talk_s=0.0,
                    consecutive_ok=1, uri=None)


def load_failure(events: list[dict[str, Any]]) -> str | None:
    """What broke the harness while calls were being placed (events.jsonl `harness_error`), or None."""
    for event in events:
        if event.get("kind") == "harness_error" and event.get("step") == "load":
            return str(event.get("message") or "no message")
    return None


def write_summary(folder: Path, summary: dict[str, Any]) -> Path:
    """summary.json as a new file renamed into place: never half a summary, never through a planted link."""
    content = json.dumps(summary, indent=2, sort_keys=False, allow_nan=False) + "\n"
    bundle_files.write_new(folder, layout.SUMMARY, content.encode("utf-8"))
    return Path(folder) / layout.SUMMARY


def disagreement(folder: Path) -> str | None:
    """Where summary.json differs from what this verifier makes of the folder's records, or None.

    `callproof verify` asks this: a signature says who signed, not that the verdict follows
    from the calls. The summary is recomputed in memory (nothing is written) and compared
    key by key; the sentence names the first key that differs.
    """
    try:
        raw = bundle_files.read_bytes(folder, layout.SUMMARY, layout.MAX_FILE_BYTES[layout.SUMMARY])
        written = json.loads(raw, parse_constant=_refuse_constant)
    except ReportInputError as exc:
        return str(exc)
    except (ValueError, RecursionError):
        return f"{layout.SUMMARY} is not valid JSON"
    try:
        recomputed = summarize(folder)
    except (BadInput, ReportInputError) as exc:
        return f"{layout.SUMMARY} cannot be recomputed from the records: {exc}"
    path = _first_difference(written, recomputed, ())
    if path is None:
        return None
    key = summary_file.dotted(path) or "the summary"
    return (f"{layout.SUMMARY}: {key} says {_shown(_at(written, path))}, "
            f"the records give {_shown(_at(recomputed, path))}")


def _refuse_constant(constant: str) -> None:
    raise ValueError(constant)


_MISSING = object()


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return value


def _first_difference(written: Any, recomputed: Any, path: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The path of the first value that differs (floats within 1e-9), or None."""
    if isinstance(written, dict) and isinstance(recomputed, dict):
        for key in list(recomputed) + [k for k in written if k not in recomputed]:
            if key not in written or key not in recomputed:
                return path + (key,)
            found = _first_difference(written[key], recomputed[key], path + (key,))
            if found is not None:
                return found
        return None
    if isinstance(written, list) and isinstance(recomputed, list):
        for index, (a, b) in enumerate(zip(written, recomputed, strict=False)):  # lengths compared below
            found = _first_difference(a, b, path + (index,))
            if found is not None:
                return found
        return None if len(written) == len(recomputed) else path + (min(len(written), len(recomputed)),)
    if type(written) is not type(recomputed) and not {type(written), type(recomputed)} <= {int, float}:
        return path
    if isinstance(written, float) or isinstance(recomputed, float):
        return None if math.isclose(written, recomputed, rel_tol=1e-9, abs_tol=1e-9) else path
    return None if written == recomputed else path


def _shown(value: Any) -> str:
    if value is _MISSING:
        return "nothing"
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 80 else text[:77] + "..."
