"""summary.json, computed from a run folder's records alone.

`callproof run` writes it at the end; `callproof report` recomputes it after a
crash or on another machine. Percentiles are nearest-rank order statistics
(numpy's "inverted_cdf"): every reported value is one a call really had.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from reports import layout
from reports.records import load_calls, read_jsonl
from sip.records import CallRecord, Failure

PERCENTILES = (50, 95, 99)


def percentiles(values: Iterable[float]) -> dict[str, float | None]:
    data = np.asarray([v for v in values if v is not None], dtype=float)
    if data.size == 0:
        return {f"p{q}": None for q in PERCENTILES}
    points = np.percentile(data, PERCENTILES, method="inverted_cdf")
    return {f"p{q}": round(float(v), 3) for q, v in zip(PERCENTILES, points, strict=True)}


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


def run_facts(events: list[dict[str, Any]]) -> dict[str, Any]:
    start = next((e for e in events if e.get("kind") == "run_start"), {})
    end = next((e for e in reversed(events) if e.get("kind") == "run_end"), None)
    return {
        "scenario_name": start.get("scenario"),
        "seed": start.get("seed"),
        "start_utc": start.get("at_utc"),
        "end_utc": end.get("at_utc") if end else None,
        "interrupted": end is None or bool(end.get("interrupted")),
        "stop_reason": end.get("reason") if end else "killed",
    }


def summarize(folder: Path) -> dict[str, Any]:
    folder = Path(folder)
    calls = [c for c in load_calls(folder) if c.direction == "outbound"]
    events = list(read_jsonl(folder / layout.EVENTS))
    return {
        "run": run_facts(events),
        "calls": call_counts(calls),
        "failures": failure_counts(calls),
        "rejected_codes": rejected_codes(calls),
        # RFC 6076 4.1 SRD: INVITE to the first non-100 provisional or final response.
        "setup_ms": percentiles(c.setup_ms for c in calls),
        "answer_ms": percentiles(c.answer_ms for c in calls),
        "timing_resolution_ms": timing_resolution_ms(events),
    }


def write_summary(folder: Path, summary: dict[str, Any]) -> Path:
    path = Path(folder) / layout.SUMMARY
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)  # never a half-written summary
    return path
