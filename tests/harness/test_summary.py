"""summary.json from records: counts, nearest-rank percentiles, a truncated last line."""

from __future__ import annotations

import json

from callproof.harness.verdict.summary import percentiles, summarize
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

    assert summary["calls"] == {"attempted": 11, "answered": 9, "abandoned": 1, "failed": 2}
    assert summary["failures"]["rejected"] == 1 and summary["failures"]["abandoned"] == 1
    assert summary["failures"]["timeout"] == 1
    assert summary["rejected_codes"] == {"486": 1}
    # SRD (RFC 6076 4.1): the 180 of the 8 answered calls (10..17 ms), the abandoned call's 200
    # (50 ms), the 486 (80 ms); a 100 Trying never counts, and the timed-out call has none.
    # Nearest rank of 10 values: p50 is the 5th.
    assert summary["setup_ms"]["p50"] == 14.0
    assert summary["setup_ms"]["p95"] == 80.0
    assert summary["run"]["interrupted"] is True  # no run_end event
