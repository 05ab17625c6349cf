"""summary.json's `media`: percentiles over calls of each per-call media figure, and PESQ by band.

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
    out["pesq_bands"] = pesq_bands(pesq)
    out["source_changes"] = source_changes(calls)
    return out


def source_changes(calls: Sequence[CallRecord]) -> dict[str, int]:
    """Answered calls whose received SSRC changed (RFC 3550 8.2: a new source), and how many of them
    the loss and MOS figures leave out because their engine counted the change as loss."""
    answered = [c for c in calls if c.answered and c.media is not None]
    return {"calls": sum(1 for c in answered if c.media is not None and c.media.rx_ssrc_changes > 0),
            "loss_not_separated": sum(1 for c in answered if not call_figures.loss_separated(c))}


def pesq_bands(entries: Iterable[dict[str, Any]]) -> dict[str, int]:
    """How many scores each PESQ band gave: narrowband (P.862 + P.862.1) and wideband (P.862.2).

    Their MOS-LQO scales differ; a run's calls share one codec list, so normally one band holds them all.
    """
    counts = {"narrowband": 0, "wideband": 0}
    for entry in entries:
        result = entry.get("pesq") or {}
        if isinstance(result.get("score"), (int, float)) and not isinstance(result.get("score"), bool):
            band = result.get("band", "narrowband")  # pesq.jsonl from before bands were named: narrowband
            if band in counts:
                counts[band] += 1
    return counts
