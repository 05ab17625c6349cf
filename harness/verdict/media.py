"""summary.json's `media`: percentiles over calls of each per-call media figure, and PESQ.

The per-call figures themselves (loss, jitter, RTT, one-way delay, MOS-CQE) are defined
once, in callproof.rtp_analysis.call_figures, which the report reads as well. PESQ of the
recorded sample comes from pesq.jsonl (callproof.reports.layout).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from callproof.harness.verdict.stats import percentiles
from callproof.rtp_analysis import call_figures
from callproof.sip.records import CallRecord

POINTS = (5, 50, 95)
FIGURES = {
    "mos_cqe": call_figures.mos_cqe,
    "jitter_ms": call_figures.jitter_ms,
    "loss_pct": call_figures.loss_pct,
    "rtt_ms": call_figures.rtt_ms,
    "one_way_delay_ms": call_figures.one_way_delay_ms,
}


def pesq_scores(entries: Iterable[dict[str, Any]]) -> list[float]:
    """ITU-T P.862.1 MOS-LQO of each recorded call PESQ could score (pesq.jsonl entries)."""
    out = []
    for entry in entries:
        score = (entry.get("pesq") or {}).get("score")
        if isinstance(score, (int, float)) and not isinstance(score, bool):
            out.append(float(score))
    return out


def media_summary(calls: Sequence[CallRecord], pesq: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Percentiles (p5, p50, p95) over calls of each figure, and how many calls had it;
    PESQ from the recorded sample's scores (pesq.jsonl entries)."""
    out: dict[str, Any] = {}
    for name, figure in FIGURES.items():
        values = [v for c in calls if (v := figure(c)) is not None]
        out[name] = {"calls": len(values), **percentiles(values, POINTS)}
    scores = pesq_scores(pesq)
    out["pesq_mos_lqo"] = {"calls": len(scores), **percentiles(scores, POINTS)}
    return out
