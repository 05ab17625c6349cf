"""Reading the JSON-lines files of an output folder.

A run killed mid-write leaves a truncated last line: it is skipped (and
counted), never an error. A bad line elsewhere is corruption and is an error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from callproof.reports import layout
from callproof.reports.errors import RecordsError


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield each JSON object in `path`; a missing file yields nothing."""
    try:
        lines = Path(path).read_bytes().split(b"\n")
    except FileNotFoundError:
        return
    last = len(lines) - 1
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except ValueError:
            if number == last:  # truncated by a kill mid-write
                return
            raise RecordsError(f"{path}: line {number + 1} is not JSON") from None


def load_calls(folder: Path, name: str = layout.CALLS) -> list["CallRecord"]:  # noqa: F821 - imported lazily
    """The records of calls.jsonl (or of `name`, e.g. control.jsonl)."""
    from callproof.sip.records import CallRecord

    return [CallRecord.from_dict(d) for d in read_jsonl(Path(folder) / name)]
