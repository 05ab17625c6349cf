"""Per-call media figures the SLA lines and summary.json use, read from `CallRecord`s.

`quality` holds rtp_analysis StreamQuality dicts per direction ({"rx": ..., "tx": ...});
`media` is the SIP engine's own count (callproof.sip.records.MediaStats); PESQ of the recorded
sample comes from pesq.jsonl (callproof.reports.layout). A figure that was not
measured is None, never a default: a peer that sends no RTCP leaves the one-way delay
unknown, and the line that needs it cannot pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from callproof.harness.verdict.stats import percentiles
from callproof.sip.records import CallRecord

POINTS = (5, 50, 95)


def _directions(call: CallRecord) -> list[dict[str, Any]]:
    quality = call.quality or {}
    return [v for v in quality.values() if isinstance(v, dict)]


def mos_cqe(call: CallRecord) -> float | None:
    """ITU-T G.107 Annex B MOS-CQE of the call: the worse of the directions that were rated."""
    values = [d["mos_cqe"] for d in _directions(call) if d.get("mos_cqe") is not None]
    return min(values) if values else None


def one_way_delay_ms(call: CallRecord) -> float | None:
    """G.107 Ta the E-model used, the worse direction, only where RTCP measured the round trip.

    Without an RTT the E-model's delay holds the jitter buffer and packetisation alone,
    which says nothing about the network: such a call has no one-way delay here.
    """
    values = [d["one_way_delay_ms"] for d in _directions(call)
              if d.get("rtt_ms") is not None and d.get("one_way_delay_ms") is not None]
    return max(values) if values else None


def loss_fraction(call: CallRecord) -> float | None:
    """RFC 3550 A.3 cumulative lost / expected, the worse direction; None for a call without media.

    Received: lost / (received + lost), our own count. Sent: what the peer's RTCP
    receiver reports counted lost of the packets we sent (only when it sent any). An
    answered call that received no RTP at all lost everything during its talk time: 1.0.
    """
    media = call.media
    if media is None or not call.answered:
        return None
    expected = media.rx_packets + media.rx_lost
    worst = media.rx_lost / expected if expected > 0 else 1.0
    if media.rtcp_rr_received > 0 and media.tx_packets > 0:
        worst = max(worst, min(media.tx_lost / media.tx_packets, 1.0))
    return worst


def pesq_scores(entries: Iterable[dict[str, Any]]) -> list[float]:
    """ITU-T P.862.1 MOS-LQO of each recorded call PESQ could score (pesq.jsonl entries)."""
    out = []
    for entry in entries:
        score = (entry.get("pesq") or {}).get("score")
        if isinstance(score, (int, float)) and not isinstance(score, bool):
            out.append(float(score))
    return out


def jitter_ms(call: CallRecord) -> float | None:
    """RFC 3550 A.8 interarrival jitter of what we received, mean over the call."""
    return call.media.rx_jitter_mean_ms if call.media is not None and call.answered else None


def rtt_ms(call: CallRecord) -> float | None:
    """RFC 3550 6.4.1 round-trip time from the peer's receiver reports, mean over the call."""
    return call.media.rtt_ms if call.media is not None else None


def media_summary(calls: Sequence[CallRecord], pesq: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Percentiles (p5, p50, p95) over calls of each figure, and how many calls had it;
    PESQ from the recorded sample's scores (pesq.jsonl entries)."""
    figures = {
        "mos_cqe": mos_cqe,
        "jitter_ms": jitter_ms,
        "loss_pct": lambda c: None if (v := loss_fraction(c)) is None else 100.0 * v,
        "rtt_ms": rtt_ms,
        "one_way_delay_ms": one_way_delay_ms,
    }
    out: dict[str, Any] = {}
    for name, figure in figures.items():
        values = [v for c in calls if (v := figure(c)) is not None]
        out[name] = {"calls": len(values), **percentiles(values, POINTS)}
    scores = pesq_scores(pesq)
    out["pesq_mos_lqo"] = {"calls": len(scores), **percentiles(scores, POINTS)}
    return out
