"""The progress line and the end-of-run table name the queue's figures as summary.json does."""

from __future__ import annotations

import io
import types

from callproof.harness.run.progress import Progress
from callproof.harness.verdict import connect
from callproof.harness.verdict.stats import percentiles
from callproof.harness.verdict.summary import call_counts, failure_counts, rejected_codes
from callproof.sip.records import Failure
from tests.verify import records as r


def queue_run():
    """The issue's run: the IVR answers every call in 9 ms; 52 reach an agent, 69 abandon."""
    calls = [r.answered(i, answer_ms=9.0, agent_ms=12_000.0 + 10.0 * i, talk_ms=20_000.0) for i in range(52)]
    calls += [r.abandoned(100 + i, answer_ms=9.0, patience_ms=8_000.0) for i in range(69)]
    return calls


def summary_of(calls, *, by_agent: bool) -> dict:
    centre = connect.call_center(calls, by_agent=by_agent, service_level_s=20.0)
    return {"calls": call_counts(calls), "failures": failure_counts(calls), "rejected_codes": rejected_codes(calls),
            "setup_ms": percentiles(c.setup_ms for c in calls), "answer_ms": percentiles(c.answer_ms for c in calls),
            "timing_resolution_ms": None, "verdict": "FAIL", "call_center": centre.to_dict(),
            "service_level": centre.service_level_dict()}


def test_the_table_shows_the_queue_and_the_200_ok_apart():
    out = io.StringIO()
    Progress.print_table(summary_of(queue_run(), by_agent=True), "results/x", stream=out)
    table = dict(line.split(None, 1) if "  " not in line else [part.strip() for part in line.split("  ", 1)]
                 for line in out.getvalue().splitlines())
    assert table["offered"] == "121"
    assert table["reached an agent"] == "52  (43.0%)"
    assert table["abandoned"] == "69  (57.0%)"
    assert table["time to agent s"] == "p50 12.25  p95 12.49  p99 12.51"
    assert table["time to abandon s"] == "p50 8.01  p95 8.01  p99 8.01"
    assert table["service level"] == "43.0% reached an agent within 20 s"
    assert table["average handle time s"] == "7.8"  # marker at 12.00-12.51 s, BYE at 20.009 s: 8.0 to 7.5 s
    assert table["answered (200 OK)"] == "121"  # the SIP dialog's figure, under its own heading
    assert "SIP dialog (RFC 6076)" in out.getvalue()
    assert "answered" not in table  # never an unqualified "answered" beside the queue


def test_without_a_marker_the_table_is_the_calls_and_the_200_ok():
    out = io.StringIO()
    calls = [r.answered(i) for i in range(5)] + [r.rejected(503)]
    Progress.print_table(summary_of(calls, by_agent=False), "results/x", stream=out)
    text = out.getvalue()
    assert "offered" not in text and "reached an agent" not in text
    assert [line.split()[-1] for line in text.splitlines()[:4]] == ["6", "5", "0", "1"]  # attempted .. failed


def test_the_progress_line_counts_who_reached_an_agent_not_the_200_ok():
    stream = io.StringIO()
    progress = Progress(by_agent=True, stream=stream)
    context = types.SimpleNamespace(attempted=121, in_flight=3, setups=121, answered=121, failed=0,
                                    queued_ended=121, reached_agent=52, abandoned=69)
    progress.update(10.0, context)
    line = stream.getvalue()
    assert "reached an agent  43.0%" in line and "abandoned 69" in line and "offered    121" in line
    assert "answered" not in line
    plain = io.StringIO()
    Progress(stream=plain).update(10.0, context)
    assert "answered 100.0%" in plain.getvalue()


def test_the_load_counts_the_queue_when_each_call_ends():
    from callproof.harness.run.load import LoadContext

    context = LoadContext.__new__(LoadContext)  # only the counters of _on_done are used
    context.failed = context.queued_ended = context.reached_agent = context.abandoned = 0
    context.in_flight = 3
    context.enrich, context.worker, context.sink = (lambda rec: rec), "local", (lambda data: None)
    stopped_in_queue = r.answered(9, agent_ms=None, failure=Failure.STOPPED)
    for record in (queue_run()[0], queue_run()[-1], stopped_in_queue):
        result = types.SimpleNamespace(successful=lambda: True, value=record)
        context._on_done(result, lambda: None, None)
    assert (context.queued_ended, context.reached_agent, context.abandoned) == (2, 1, 1)
