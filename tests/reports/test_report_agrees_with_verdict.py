"""What the report shows of each call and probe is what the verifier judged (issue 16).

Both read callproof.rtp_analysis.call_figures. Before, the report counted received loss
only (0% for a call whose peer reported 20% of our packets lost, nothing for a call
without RTP) while `loss_p95` took the worse direction and counted a call without RTP
as 100% lost: the plot and the line disagreed on the same run. And the availability plot
read an `ok` key the prober never writes, so it showed every probe of every real run failed.
"""

from __future__ import annotations

import collections
import json
import shutil

import numpy as np
import pytest

from callproof.harness.verdict.summary import summarize, write_summary
from callproof.reports import i18n, layout, model, plots
from callproof.sip.records import Failure
from tests.verify import records as r

SCENARIO = """\
name: loss-directions
description: three calls, each losing packets in another direction
target: {uri: embedded}
load: {mode: concurrency, peak_concurrent: 2, duration_s: 10, max_cps: 5, max_concurrent: 4}
call: {talk_time: {distribution: fixed, value_s: 3}}
sla: {answer_rate_min: null, isa_max: null, first_answer_s_max: null, service_level: null, abandonment_max: null,
      setup_delay_p95_ms_max: null, mos_cqe_p5_min: null, one_way_delay_p95_ms_max: null, loss_p95_max: 0.01,
      availability_min: null, rto_s_max: null}
"""


@pytest.fixture
def run_folder(tmp_path):
    calls = [
        # Nothing lost on receive; the peer's RTCP receiver reports counted 30 of our 150 packets lost.
        r.answered(0, rx_packets=150, rx_lost=0, tx_packets=150, tx_lost=30, rr=3),
        # Answered, and no RTP ever arrived: everything of its talk time was lost.
        r.answered(10, rx_packets=0, rx_lost=0, failure=Failure.MEDIA_TIMEOUT),
        # 3 of 150 lost on receive; the peer sent no receiver report (the sent direction is unknown).
        r.answered(20, rx_packets=147, rx_lost=3),
    ]
    (tmp_path / layout.CALLS).write_text("".join(json.dumps(c.to_dict()) + "\n" for c in calls))
    (tmp_path / layout.SCENARIO).write_text(SCENARIO)
    summary = summarize(tmp_path)
    write_summary(tmp_path, summary)
    return tmp_path, calls, summary


def test_the_report_plots_the_loss_the_loss_line_judged(run_folder):
    folder, calls, summary = run_folder
    data = model.load(folder)
    # The per-call column every loss plot and table reads (reports.plots._draw_media: ECDF of it).
    shown = data.calls.loss_pct
    assert list(shown) == pytest.approx([20.0, 100.0, 2.0])  # the worse direction, by hand (RFC 3550 A.3)

    [line] = summary["sla"]
    assert line["name"] == "loss_p95" and "; 3 calls;" in line["note"]  # the line counted the same 3 calls
    # p95 of 3 values is the nearest rank ceil(2.85) = 3: the largest, the call without RTP.
    assert line["observed"] == pytest.approx(float(np.sort(shown)[2])) == 100.0
    # Its interval's lower bound is the second of the three, the transmit-only 20%: it misses 1%.
    assert (line["ci_low"], line["verdict"]) == (pytest.approx(20.0), "FAIL")
    # summary.json's media figure holds the same values, as the report's table and plot do.
    nearest = np.sort(shown)
    assert summary["media"]["loss_pct"] == {"calls": 3, "p5": nearest[0], "p50": nearest[1], "p95": nearest[2]}


def test_the_worst_calls_table_shows_the_same_loss(run_folder):
    folder, calls, _ = run_folder
    data = model.load(folder, lowest_mos_count=0)
    by_id = {c.call_id: c.loss_pct for c in data.failed_calls}
    assert by_id == {calls[1].call_id: 100.0}  # the media timeout is the failed one: 100%, not "–"


def test_the_availability_plot_marks_each_probe_as_the_verifier_judged_it(built_en, tmp_path):
    """probes.jsonl holds raw records (the prober judges nothing); up and down are the verifier's."""
    folder, truth = built_en
    judged = truth["summary"]["availability"]
    data = model.load(folder)
    calls = [p for p in data.probes if p.kind == "call"]
    assert collections.Counter(p.state for p in calls) == {"up": judged["up"], "down": judged["down"]}
    assert judged["down"] >= 1 and judged["undecided"] == 0  # the synthetic fault's 503s
    fault, restored = truth["fault_s"], truth["restored_s"]
    assert all((p.state == "down") == (fault <= p.at_s < restored) for p in calls)
    assert {p.state for p in data.probes if p.kind == "options"} == {"up"}  # every OPTIONS was answered

    # Without thresholds there is no availability verdict: no probe call is shown as up or down.
    shutil.copytree(folder, tmp_path / "run")
    (tmp_path / "run" / layout.SCENARIO).unlink()
    write_summary(tmp_path / "run", summarize(tmp_path / "run"))
    unjudged = model.load(tmp_path / "run")
    assert {p.state for p in unjudged.probes if p.kind == "call"} == {"undecided"}
    assert len(plots.render_all(unjudged, i18n.Translator("en"), ["DejaVu Sans"])) == 8
