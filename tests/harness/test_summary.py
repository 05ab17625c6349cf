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
from callproof.sip.records import Failure
from tests.verify import records as r


def test_percentiles_are_nearest_rank_values_of_the_data():
    values = list(range(1, 101))  # 1..100
    assert percentiles(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert percentiles([7.0]) == {"p50": 7.0, "p95": 7.0, "p99": 7.0}
    assert percentiles([None, None]) == {"p50": None, "p95": None, "p99": None}


def test_summary_counts_and_tolerates_a_truncated_last_line(tmp_path):
    calls = [r.answered(i, answer_ms=100.0 + i, ringing_ms=10.0 + i) for i in range(8)]
    calls.append(r.rejected(486, 8, final_ms=80.0))
    calls.append(r.abandoned(9, answer_ms=50.0))
    calls.append(r.timed_out(10))  # no response at all: no setup delay
    lines = [json.dumps(c.to_dict()) for c in calls]
    (tmp_path / "calls.jsonl").write_text("\n".join(lines) + "\n" + lines[0][:40])  # killed mid-write
    summary = summarize(tmp_path)

    assert summary["calls"] == {"attempted": 11, "answered": 9, "abandoned": 1, "failed": 2, "stopped": 0}
    assert summary["failures"]["rejected"] == 1 and summary["failures"]["abandoned"] == 1
    assert summary["failures"]["timeout"] == 1
    assert summary["rejected_codes"] == {"486": 1}
    # SRD (RFC 6076 4.1): the 180 of the 8 answered calls (10..17 ms), the abandoned call's 200
    # (50 ms), the 486 (80 ms); a 100 Trying never counts, and the timed-out call has none.
    # Nearest rank of 10 values: p50 is the 5th.
    assert summary["setup_ms"]["p50"] == 14.0
    assert summary["setup_ms"]["p95"] == 80.0
    assert summary["run"]["interrupted"] is True  # no run_end event
    assert summary_file.problem(summary) is None


def test_the_summary_schema_is_a_2020_12_schema_that_knows_every_failure_reason():
    schema = summary_file.schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["properties"]["failures"]["required"]) == {f.value for f in Failure}
    assert schema["properties"]["verdict"]["enum"] == [v.value for v in summary_file.Verdict]  # never null
    # Shipped beside the scenario schema, in the installed package.
    assert (bundled_dir() / summary_file.SCHEMA_NAME).is_file()


def test_the_verifier_never_makes_a_summary_its_schema_refuses(tmp_path, monkeypatch):
    calls = [r.answered(i) for i in range(3)]
    (tmp_path / "calls.jsonl").write_text("".join(json.dumps(c.to_dict()) + "\n" for c in calls))
    assert summary_file.problem(summarize(tmp_path)) is None
    monkeypatch.setattr(summary_module, "timing_resolution_ms", lambda events, calls: "fine")
    with pytest.raises(HarnessError) as caught:
        summarize(tmp_path)
    assert str(caught.value) == ('the summary the verifier made does not fit summary.schema.json: '
                                 'timing_resolution_ms must be a number or null (got "fine")')


def test_timing_resolution_is_the_pump_lag_while_the_calls_ran():
    """Engine start-up (a 120 ms pump lag before the first INVITE) is not the calls' resolution; a sample
    that began while a call was up is, also the last one that overlaps its end."""
    calls = [r.answered(10.0, talk_ms=5000.0), r.answered(12.0, talk_ms=5000.0)]  # up from 10 s to 17.2 s
    lag = {8.0: 120.0, 9.0: 90.0, 10.0: 60.0, 11.0: 12.0, 15.0: 18.0, 17.0: 14.0, 18.0: 400.0}
    events = [{"kind": "health", "at_utc": r.utc(at), "interval_s": 1.0, "pump_lag_ms_max": ms}
              for at, ms in lag.items()]
    # Samples are named by their end: those of (10, 11], (14, 15], (16, 17] and (17, 18] began in 10-17.2 s.
    assert summary_module.timing_resolution_ms(events, calls) == 400.0
    events = [e for e in events if e["at_utc"] != r.utc(18.0)]
    assert summary_module.timing_resolution_ms(events, calls) == 18.0
    assert summary_module.timing_resolution_ms(events, []) is None
    # A run shorter than one sample: the samples that overlap its calls.
    short = [r.answered(10.2, talk_ms=300.0)]
    assert summary_module.timing_resolution_ms(events, short) == 12.0
