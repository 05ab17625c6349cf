"""summary.json from records: counts, nearest-rank percentiles, a truncated last line."""

from __future__ import annotations

import json

import jsonschema
import pytest

from callproof.harness.errors import HarnessError
from callproof.harness.scenario.loader import bundled_dir
from callproof.harness.verdict import summary as summary_module
from callproof.harness.verdict.summary import percentiles, summarize
from callproof.reports import summary_file
from callproof.sip.records import CallRecord, Failure


def record(i: int, *, answer_ms=None, failure=None, code=None, provisional=()) -> CallRecord:
    return CallRecord(call_id=f"c{i}", target="sip:t@127.0.0.1", invite_utc="2026-11-26T00:00:00.000000Z",
                      provisional_ms=provisional, final_ms=answer_ms, ack_ms=None, answer_ms=answer_ms,
                      agent_ms=None, cancel_ms=None, bye_ms=None, bye_response_ms=None, end_ms=1000.0,
                      final_code=code, final_reason="", failure=failure, hangup_by=None)


def test_percentiles_are_nearest_rank_values_of_the_data():
    values = list(range(1, 101))  # 1..100
    assert percentiles(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert percentiles([7.0]) == {"p50": 7.0, "p95": 7.0, "p99": 7.0}
    assert percentiles([None, None]) == {"p50": None, "p95": None, "p99": None}


def test_summary_counts_and_tolerates_a_truncated_last_line(tmp_path):
    calls = [record(i, answer_ms=100.0 + i, code=200, provisional=((180, 10.0 + i),)) for i in range(8)]
    calls.append(record(8, failure=Failure.REJECTED, code=486, provisional=((100, 1.0),)))
    calls.append(record(9, failure=Failure.ABANDONED, answer_ms=50.0, code=200))
    lines = [json.dumps(c.to_dict()) for c in calls]
    (tmp_path / "calls.jsonl").write_text("\n".join(lines) + "\n" + lines[0][:40])  # killed mid-write
    summary = summarize(tmp_path)

    assert summary["calls"] == {"attempted": 10, "answered": 9, "abandoned": 1, "failed": 1}
    assert summary["failures"]["rejected"] == 1 and summary["failures"]["abandoned"] == 1
    assert summary["rejected_codes"] == {"486": 1}
    # SRD: the 180 of the 8 answered calls (10..17 ms), the abandoned call's final (50 ms);
    # the 486 saw only a 100 and no final time. Nearest rank of 9 values: p50 is the 5th.
    assert summary["setup_ms"]["p50"] == 14.0
    assert summary["setup_ms"]["p95"] == 50.0
    assert summary["run"]["interrupted"] is True  # no run_end event
    assert summary_file.problem(summary) is None


def test_the_summary_schema_is_a_2020_12_schema_that_knows_every_failure_reason():
    schema = summary_file.schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["properties"]["failures"]["required"]) == {f.value for f in Failure}
    assert schema["properties"]["verdict"]["enum"] == [v.value for v in summary_file.Verdict] + [None]
    # Shipped beside the scenario schema, in the installed package.
    assert (bundled_dir() / summary_file.SCHEMA_NAME).is_file()


def test_the_verifier_never_makes_a_summary_its_schema_refuses(tmp_path, monkeypatch):
    calls = [record(i, answer_ms=100.0, code=200) for i in range(3)]
    (tmp_path / "calls.jsonl").write_text("".join(json.dumps(c.to_dict()) + "\n" for c in calls))
    assert summary_file.problem(summarize(tmp_path)) is None
    monkeypatch.setattr(summary_module, "timing_resolution_ms", lambda events: "fine")
    with pytest.raises(HarnessError) as caught:
        summarize(tmp_path)
    assert str(caught.value) == ('the summary the verifier made does not fit summary.schema.json: '
                                 'timing_resolution_ms must be a number or null (got "fine")')
