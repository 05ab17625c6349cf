"""Reading the JSON-lines files of an output folder.

A run killed mid-write leaves a truncated last line: it is skipped (and
counted), never an error. A bad line elsewhere is corruption and is an error.
Files are read through callproof.reports.bundle_files: a regular file directly in
the folder, no link followed, lines and totals capped (callproof.reports.layout).

The records are the other party's words when a bundle is rebuilt or checked, so the
readers of events.jsonl, probes.jsonl and pesq.jsonl check each entry against the shape
callproof.reports.layout documents (EVENT_FIELDS, PROBE_FIELDS, PESQ_FIELDS): a field
may be absent, but one that is present has its type, and the line is named otherwise.
calls.jsonl is checked by CallRecord.from_dict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from callproof.reports import bundle_files, layout
from callproof.reports.errors import RecordsError, ReportInputError
from callproof.reports.summary_file import json_problem, parse_utc
from callproof.reports.terminal import escape

if TYPE_CHECKING:
    from callproof.sip.records import CallRecord


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield each JSON object in `path` (a file directly in its folder); a missing file yields nothing."""
    for _, data in numbered_jsonl(path):
        yield data


def numbered_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, JSON object) of each entry in `path`."""
    path = Path(path)
    for number, line in enumerate(bundle_files.read_lines(path.parent, path.name), start=1):
        if not line.strip():
            continue
        data, problem = _object(line)
        if data is not None:
            yield number, data
        elif line.endswith(b"\n"):
            raise RecordsError(f"{escape(str(path))}: line {number} {problem}")
        # else: the last line, cut short by a kill mid-write


# Field -> type ("?": or null). Types: str, int, number (finite), bool, object, time (ISO 8601 text),
# status (a SIP status code, 100-699).
_ALL_EVENTS = {"at_utc": "time", "kind": "str"}
EVENT_FIELDS: dict[str, dict[str, str]] = {
    "run_start": {"scenario": "str?", "seed": "int?", "role": "str?", "target": "str?"},
    "engine": {"max_calls_per_process": "int?", "processes": "int?", "provisioned_calls": "int?"},
    "health": {"cpu_pct": "number?", "cpu_cores": "number?", "loop_lag_ms_max": "number?",
               "pump_lag_ms_max": "number?", "in_flight": "int?", "provisioned": "int?", "attempted": "int?",
               "capped": "int?", "lost": "int?", "slot_waits": "int?", "slot_wait_ms_max": "number?",
               "worker": "str?"},
    "fault": {"at_s": "number?", "action": "str?", "detail": "str?", "ok": "bool?", "error": "str?"},
    "breaker": {"answer_rate": "number?", "calls": "int?", "window_s": "number?", "at_s": "number?"},
    "run_end": {"reason": "str?", "interrupted": "bool?"},
}
_ALL_PROBES = {"at_utc": "time", "kind": "str"}
PROBE_FIELDS: dict[str, dict[str, str]] = {
    "call": {"record": "object?", "error": "str?"},
    "options": {"code": "status?", "rtt_ms": "number?", "reason": "str?"},
}
PESQ_FIELDS = {"call_id": "str?", "recording": "str?", "reference": "str?", "pesq": "object?",
               "disagreement": "str?"}
HEARING_FIELDS = {"call_id": "str?", "recording": "str?", "recording_s": "number?", "dead_air_s": "number?",
                  "dead_air_from_ms": "number?", "signal_s": "number?", "audio_in": "bool?", "audio_out": "bool?",
                  "one_way": "bool?", "prompts": "list?"}
PROMPT_FIELDS = {"prompt": "str?", "after": "str?", "within_s": "number?", "heard": "bool?",
                 "time_to_prompt_ms": "number?", "score": "number?", "reason": "str?"}


def read_events(folder: Path) -> list[dict[str, Any]]:
    """events.jsonl, each entry checked against EVENT_FIELDS."""
    return _checked(Path(folder) / layout.EVENTS, _ALL_EVENTS, EVENT_FIELDS)


def read_probes(folder: Path) -> list[dict[str, Any]]:
    """probes.jsonl, each entry checked against PROBE_FIELDS (a kind other than call or options is refused)."""
    return _checked(Path(folder) / layout.PROBES, _ALL_PROBES, PROBE_FIELDS, closed=True)


def read_pesq(folder: Path) -> list[dict[str, Any]]:
    """pesq.jsonl, each entry checked against PESQ_FIELDS."""
    return _checked(Path(folder) / layout.PESQ, {}, {"": PESQ_FIELDS})


def read_hearing(folder: Path) -> list[dict[str, Any]]:
    """hearing.jsonl, each entry and each of its prompts checked against HEARING_FIELDS and PROMPT_FIELDS."""
    path = Path(folder) / layout.HEARING
    entries = _checked(path, {}, {"": HEARING_FIELDS})
    for number, entry in enumerate(entries, start=1):
        for prompt in entry.get("prompts") or []:
            if not isinstance(prompt, dict):
                raise RecordsError(f"{escape(str(path))}: entry {number} has a prompt that is not an object")
            _check_fields(prompt, PROMPT_FIELDS, f"{escape(str(path))}: entry {number}'s prompt")
    return entries


def _checked(path: Path, common: dict[str, str], by_kind: dict[str, dict[str, str]], *,
             closed: bool = False) -> list[dict[str, Any]]:
    entries = []
    for number, entry in numbered_jsonl(path):
        kind = entry.get("kind", "")
        where = f"{escape(str(path))}: line {number}"
        if closed and (not isinstance(kind, str) or kind not in by_kind):
            raise RecordsError(f"{where} has kind {escape(json.dumps(kind))}, not {' or '.join(by_kind)}")
        for field in common:
            if field not in entry:
                raise RecordsError(f"{where} has no {field}")
        _check_fields(entry, {**common, **by_kind.get(kind if isinstance(kind, str) else "", {})}, where)
        entries.append(entry)
    return entries


def _check_fields(entry: dict[str, Any], fields: dict[str, str], where: str) -> None:
    for field, expected in fields.items():
        if field in entry and not _fits(entry[field], expected):
            raise RecordsError(f"{where}: {field} must be {_WORDS[expected.rstrip('?')]}"
                               f"{' or null' if expected.endswith('?') else ''}")


_WORDS = {"str": "text", "int": "a whole number", "number": "a number", "bool": "true or false",
          "object": "an object", "list": "a list", "time": "an ISO 8601 time", "status": "a SIP status code (100-699)"}


def _fits(value: Any, expected: str) -> bool:
    if value is None:
        return expected.endswith("?")
    kind = expected.rstrip("?")
    whole = isinstance(value, int) and not isinstance(value, bool)
    if kind == "int":
        return whole
    if kind == "status":
        return whole and 100 <= value <= 699
    if kind == "number":
        return whole or isinstance(value, float)  # finite: json_problem refused the rest
    if kind == "time":
        try:
            parse_utc(value, "")
        except ReportInputError:
            return False
        return True
    return isinstance(value, {"str": str, "bool": bool, "object": dict, "list": list}[kind])


def _object(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """A line's JSON object, or None and what is wrong with the line."""
    def refuse(constant: str) -> None:  # NaN and Infinity are Python's, not JSON's
        raise ValueError(constant)

    try:
        data = json.loads(line, parse_constant=refuse)
    except (ValueError, RecursionError):
        return None, "is not JSON"
    if not isinstance(data, dict):
        return None, "is not a JSON object"
    problem = json_problem(data)
    if problem is not None:
        return None, f"is no record callproof reads: {escape(problem)}"
    return data, ""


def load_calls(folder: Path, name: str = layout.CALLS) -> list[CallRecord]:
    """Every CallRecord in calls.jsonl (or in `name`, e.g. control.jsonl); a record that cannot be
    read is named by its number."""
    from callproof.sip.records import CallRecord

    path = Path(folder) / name
    records = []
    for number, data in enumerate(read_jsonl(path), start=1):
        try:
            records.append(CallRecord.from_dict(data))
        except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as exc:
            raise RecordsError(f"{escape(str(path))}: record {number} is not a call record ({escape(str(exc))})") \
                from None
    return records
