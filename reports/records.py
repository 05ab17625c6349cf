"""Reading the JSON-lines files of an output folder.

A run killed mid-write leaves a truncated last line: it is skipped (and
counted), never an error. A bad line elsewhere is corruption and is an error.
Files are read through callproof.reports.bundle_files: a regular file directly in
the folder, no link followed, lines and totals capped (callproof.reports.layout).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from callproof.reports import bundle_files, layout
from callproof.reports.errors import RecordsError
from callproof.reports.summary_file import json_problem
from callproof.reports.terminal import escape


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield each JSON object in `path` (a file directly in its folder); a missing file yields nothing."""
    path = Path(path)
    for number, line in enumerate(bundle_files.read_lines(path.parent, path.name), start=1):
        if not line.strip():
            continue
        data, problem = _object(line)
        if data is not None:
            yield data
        elif line.endswith(b"\n"):
            raise RecordsError(f"{escape(str(path))}: line {number} {problem}")
        # else: the last line, cut short by a kill mid-write


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


def load_calls(folder: Path) -> list["CallRecord"]:  # noqa: F821 - imported lazily
    """Every CallRecord in calls.jsonl; a record that cannot be read is named by its number."""
    from callproof.sip.records import CallRecord

    path = Path(folder) / layout.CALLS
    records = []
    for number, data in enumerate(read_jsonl(path), start=1):
        try:
            records.append(CallRecord.from_dict(data))
        except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as exc:
            raise RecordsError(f"{escape(str(path))}: record {number} is not a call record ({escape(str(exc))})") \
                from None
    return records
