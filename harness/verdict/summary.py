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
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from callproof.harness.errors import BadInput, HarnessError
from callproof.harness.scenario.loader import load_scenario
from callproof.harness.scenario.model import Scenario
from callproof.harness.verdict import media
from callproof.harness.verdict.sla import judge
from callproof.harness.verdict.stats import percentiles
from callproof.reports import layout, summary_file
from callproof.reports.records import RecordsError, load_calls, read_jsonl
from callproof.sip.records import CallRecord, Failure


def call_counts(calls: list[CallRecord]) -> dict[str, int]:
    return {
        "attempted": len(calls),
        "answered": sum(c.answered for c in calls),
        "abandoned": sum(c.failure is Failure.ABANDONED for c in calls),
        "failed": sum(c.failure is not None and c.failure is not Failure.ABANDONED for c in calls),
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


def timing_resolution_ms(events: list[dict[str, Any]]) -> float | None:
    """How late the slowest engine's event pump was: the resolution of every SIP timestamp."""
    lags = [e["pump_lag_ms_max"] for e in events if e.get("kind") == "health" and "pump_lag_ms_max" in e]
    return round(max(lags), 3) if lags else None


def summarize(folder: Path, scenario: Scenario | None = None) -> dict[str, Any]:
    """summary.json's content for a run folder; `scenario` defaults to the folder's scenario.yaml."""
    folder = Path(folder)
    try:
        calls = [c for c in load_calls(folder) if c.direction == "outbound"]
        control = load_calls(folder, layout.CONTROL)
        events = list(read_jsonl(folder / layout.EVENTS))
        probes = list(read_jsonl(folder / layout.PROBES))
        pesq = list(read_jsonl(folder / layout.PESQ))
    except RecordsError as exc:
        raise BadInput(str(exc)) from None
    run = summary_file.run_facts(events)
    summary = {
        "run": run.to_dict(),
        "calls": call_counts(calls),
        "failures": failure_counts(calls),
        "rejected_codes": rejected_codes(calls),
        "setup_ms": percentiles(c.setup_ms for c in calls),  # RFC 6076 4.3 SRD
        "answer_ms": percentiles(c.answer_ms for c in calls),
        "timing_resolution_ms": timing_resolution_ms(events),
        "control": control_summary(control),
    }
    summary.update(verdict_keys(folder, calls, probes, events, pesq, scenario, interrupted=run.interrupted,
                                control=control))
    unfit = summary_file.problem(summary)
    if unfit is not None:  # the verifier's own bug: never write what the report would refuse
        raise HarnessError(f"the summary the verifier made does not fit {summary_file.SCHEMA_NAME}: {unfit}")
    return summary


def control_summary(control: list[CallRecord]) -> dict[str, Any]:
    """The control leg's calls (callproof.harness.run.control) in the figures the target's calls are
    shown in, so a report can put them side by side; never part of an SLA line."""
    return {"calls": call_counts(control), "setup_ms": percentiles(c.setup_ms for c in control),
            "media": media.media_summary(control)}


def verdict_keys(folder: Path, calls: list[CallRecord], probes: list[dict[str, Any]], events: list[dict[str, Any]],
                 pesq: list[dict[str, Any]], scenario: Scenario | None, *, interrupted: bool,
                 control: list[CallRecord] = ()) -> dict[str, Any]:
    """The verifier's keys; without readable thresholds, a null verdict that says why."""
    if scenario is None:
        path = folder / layout.SCENARIO
        if not path.is_file():
            reason = f"the folder has no {layout.SCENARIO}: no thresholds to judge by"
            return {"verdict": None, "verdict_reason": reason}
        try:
            scenario = load_scenario(path, offline=True)
        except BadInput as exc:
            return {"verdict": None, "verdict_reason": f"no thresholds to judge by: {exc}"}
    result = judge(calls, probes, events, sla=scenario.sla, probes=scenario.probes,
                    by_agent=scenario.call.agent_marker is not None, faults_planned=len(scenario.faults),
                    interrupted=interrupted, pesq=pesq, control=control)
    return result.summary()


def write_summary(folder: Path, summary: dict[str, Any]) -> Path:
    path = Path(folder) / layout.SUMMARY
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)  # never a half-written summary
    return path
