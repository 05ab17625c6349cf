"""summary.json, between the verifier that writes it and the report that reads it.

One definition of each thing both sides handle: the verdicts, an SLA line, an outage,
the run's facts and the times in a bundle. The verifier (callproof.harness.verdict) builds
these records and writes them; the report (callproof.reports.model) reads them back. They
live in reports/ because the verdict may import reports while reports may not import
the harness (tests/test_boundaries.py).

The file's shape is a JSON Schema (2020-12) shipped beside the scenario schema,
callproof/scenarios/summary.schema.json. Both sides check against it (`problem`): the
verifier never writes a summary the schema refuses, and the report names the first key
of one it cannot read in one sentence, rather than rendering it.

    Verdict     PASS < INCONCLUSIVE < FAIL < INVALID, written as those strings
    SlaLine     an entry of `sla`
    Outage      an entry of `outages`
    RunFacts    `run`, from the timeline in events.jsonl (`run_facts`)
    parse_utc   a time as the bundle's files write it
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import importlib.resources
import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from callproof.reports.errors import ReportInputError

SCHEMA_NAME = "summary.schema.json"  # in the package callproof.scenarios


class Verdict(enum.StrEnum):
    """A verdict, from the best to the worst; summary.json and junit.xml write it as its name.

    PASS          every line's interval clears its threshold
    INCONCLUSIVE  a line could not be decided, or was not measured
    FAIL          a line's interval misses its threshold
    INVALID       the load generator could not vouch for its measurements: nothing is said
                  about the target (a line: a media line our own sockets spoiled)
    """

    PASS = "PASS"
    INCONCLUSIVE = "INCONCLUSIVE"
    FAIL = "FAIL"
    INVALID = "INVALID"

    @property
    def severity(self) -> int:
        return _ORDER.index(self)

    @classmethod
    def worst(cls, verdicts: Iterable[Verdict]) -> Verdict:
        return max(verdicts, key=lambda v: v.severity)


_ORDER = tuple(Verdict)


def _rounded(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


@dataclasses.dataclass(frozen=True)
class SlaLine:
    """One SLA line as the verifier judged it: observed value, 95% interval, threshold, verdict."""

    name: str
    metric: str
    threshold: float
    comparison: str  # ">=" or "<="
    unit: str
    observed: float | None  # None: not measured (the note says why)
    ci_low: float | None  # None: no bound on that side
    ci_high: float | None
    verdict: Verdict  # INVALID only for a media line our own sockets spoiled (callproof.harness.verdict.sla)
    note: str

    def to_dict(self) -> dict[str, Any]:
        out = {k: _rounded(v) for k, v in dataclasses.asdict(self).items()}
        out["verdict"] = self.verdict.value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SlaLine:
        """A line of a summary that passed `problem`."""
        return cls(name=data["name"], metric=data["metric"], threshold=float(data["threshold"]),
                   comparison=data["comparison"], unit=data["unit"], observed=_float(data["observed"]),
                   ci_low=_float(data["ci_low"]), ci_high=_float(data["ci_high"]), verdict=Verdict(data["verdict"]),
                   note=data["note"])


@dataclasses.dataclass(frozen=True)
class Outage:
    start_utc: str
    end_utc: str | None  # None: the run ended before service was restored
    cause: str  # the down probes' causes, most frequent first
    down_probes: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outage:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class RunFacts:
    scenario_name: str | None
    seed: int | None
    start_utc: str | None
    end_utc: str | None  # None: no run_end event
    interrupted: bool  # stopped early, or killed (no run_end event)
    stop_reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunFacts:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


def run_facts(events: Sequence[dict[str, Any]]) -> RunFacts:
    """The run's facts from its timeline (events.jsonl): a run without a `run_end` event was killed."""
    start = next((e for e in events if e.get("kind") == "run_start"), {})
    end = next((e for e in reversed(events) if e.get("kind") == "run_end"), None)
    return RunFacts(
        scenario_name=start.get("scenario"),
        seed=start.get("seed"),
        start_utc=start.get("at_utc"),
        end_utc=end.get("at_utc") if end else None,
        interrupted=end is None or bool(end.get("interrupted")),
        stop_reason=end.get("reason") if end else "killed",
    )


def parse_utc(text: Any, where: str) -> dt.datetime:
    """A time as the bundle's files write it (ISO 8601); a time without zone is taken as UTC."""
    try:
        when = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ReportInputError(f"{where}: the time {text!r} is not ISO 8601") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


@functools.cache
def schema() -> dict[str, Any]:
    return json.loads(importlib.resources.files("callproof.scenarios").joinpath(SCHEMA_NAME).read_text("utf-8"))


def problem(summary: Any) -> str | None:
    """What is wrong with a summary, as a sentence that starts with the key, or None when it fits."""
    unfit = json_problem(summary)
    if unfit is not None:
        return unfit
    errors = list(jsonschema.Draft202012Validator(schema()).iter_errors(summary))
    if not errors:
        return None
    return _sentence(best_match(errors))


MAX_JSON_DEPTH = 32  # summary.json nests four levels


def json_problem(value: Any, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why a parsed JSON value is no data callproof reads, as a sentence starting with its key, or None.

    A number that is not finite (JSON's 1e400 reads as inf), or nesting deeper than
    `max_depth` (the schema check and the renderers recurse). Walked without recursion.
    """
    pending: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while pending:
        item, path = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return f"{dotted(path) or 'the value'} is not a finite number"
        if len(path) > max_depth:
            return f"{dotted(path[:max_depth])} nests deeper than {max_depth} levels"
        if isinstance(item, dict):
            pending += [(child, path + (key,)) for key, child in reversed(item.items())]
        elif isinstance(item, list):
            pending += [(child, path + (index,)) for index, child in reversed(list(enumerate(item)))]
    return None


_TYPE_WORDS = {"integer": "a whole number", "number": "a number", "string": "text", "boolean": "true or false",
               "array": "a list", "object": "an object", "null": "null"}


def _sentence(error: jsonschema.ValidationError) -> str:
    path = tuple(error.absolute_path)
    got = f"(got {_shown(error.instance)})"
    if error.validator == "required":
        missing = next(k for k in error.validator_value if k not in error.instance)
        return f"{dotted(path + (missing,))} is missing"
    if error.validator == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        extra = sorted(k for k in error.instance if k not in known and not any(_matches(p, k) for p in patterns))
        return f"{dotted(path + (extra[0],))} is not a key summary.json has" if extra else error.message
    key = dotted(path) or "the summary"
    if "propertyNames" in error.relative_schema_path:
        return f"{key} has the key {_shown(error.instance)}, which is not a SIP status code"
    if error.validator == "type":
        kinds = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return f"{key} must be {' or '.join(_TYPE_WORDS[k] for k in kinds)} {got}"
    if error.validator in ("enum", "const"):
        allowed = error.validator_value if error.validator == "enum" else [error.validator_value]
        return f"{key} must be one of {', '.join(json.dumps(v) for v in allowed)} {got}"
    if error.validator == "minimum":
        return f"{key} must be at least {error.validator_value} {got}"
    return f"{key} does not fit {SCHEMA_NAME} ({error.validator} {json.dumps(error.validator_value)[:60]})"


def _matches(pattern: str, key: str) -> bool:
    return re.search(pattern, key) is not None


def dotted(path: tuple[Any, ...]) -> str:
    """A key path as the messages write it: run.seed, sla[2].verdict."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _shown(value: Any, limit: int = 60) -> str:
    """A value as JSON (control characters escaped, so nothing reaches a terminal raw), shortened."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
