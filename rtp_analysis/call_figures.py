"""Per-call media figures, one definition each: what the SLA lines judge and the report plots.

The verifier (callproof.harness.verdict: the `loss_p95`, `mos_cqe_p5` and `one_way_delay_p95`
lines, summary.json's `media`) and the report (callproof.reports.model: the per-call table,
its plots and the worst calls) both call these functions, so a plot and an SLA line can
never disagree. They live here because both sides may import rtp_analysis and it imports
neither (tests/test_boundaries.py), and because they are metric code: numbers in, numbers out.

A call is read structurally (`Call` below): callproof.sip.records.CallRecord fits as it is,
without this package importing sip or copying each record into another form. Its `media`
is the SIP engine's own count of the call's stream (RFC 3550 receiver statistics for what
we received, the peer's RTCP receiver reports for what we sent); its `quality` holds this
package's StreamQuality dicts per direction ({"rx": ..., "tx": ...}, callproof.rtp_analysis.quality).

A figure that was not measured is None, never a default: a peer that sends no RTCP
leaves the round trip unknown, and the line that needs it cannot pass. Only finite
numbers are read from `quality` (a bundle's records are input from the other party).

A change of the received SSRC is a new source (RFC 3550 8.2), never loss. An engine that
restarts its receive statistics at the change (the built engine) keeps loss and jitter
apart from it; one that cannot (the PyPI wheel) marks the call `rx_loss_separated`
False, and such a call has no loss, jitter or MOS-CQE here (`loss_separated`): left out
of the figures and the SLA lines, which say how many, rather than counted wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol


class MediaCounts(Protocol):
    """The fields of callproof.sip.records.MediaStats these figures read."""

    @property
    def rx_packets(self) -> int: ...
    @property
    def rx_lost(self) -> int: ...
    @property
    def rx_jitter_mean_ms(self) -> float: ...
    @property
    def tx_packets(self) -> int: ...
    @property
    def tx_lost(self) -> int: ...  # as the peer's RTCP receiver reports counted it
    @property
    def rtcp_rr_received(self) -> int: ...
    @property
    def rtt_ms(self) -> float | None: ...
    @property
    def rx_loss_separated(self) -> bool: ...  # False: an SSRC change is counted into rx loss and jitter


class Call(Protocol):
    """The fields of callproof.sip.records.CallRecord these figures read."""

    @property
    def answered(self) -> bool: ...
    @property
    def media(self) -> MediaCounts | None: ...
    @property
    def quality(self) -> Mapping[str, Any] | None: ...


def loss_separated(call: Call) -> bool:
    """Whether the call's received loss and jitter leave out every change of the received SSRC.

    False when the SSRC changed on an engine that counted the jump between the two sources'
    sequence numbers as lost packets and their timestamps' jump as jitter (the PyPI wheel's
    pjmedia; callproof.sip.records.MediaStats): the call's loss, jitter and MOS-CQE are unknown.
    """
    return call.media is None or call.media.rx_loss_separated


def loss_fraction(call: Call) -> float | None:
    """RFC 3550 A.3 cumulative lost / expected, the worse direction; None for a call without media.

    Received: lost / (received + lost), our own count. Sent: what the peer's RTCP
    receiver reports counted lost of the packets we sent (only when it sent any). An
    answered call that received no RTP at all lost everything during its talk time: 1.0.
    Packets that arrived and were discarded late are not lost here; the E-model's Ppl
    (StreamQuality.loss_fraction, callproof.rtp_analysis.quality) counts them.
    """
    media = call.media
    if media is None or not call.answered or not media.rx_loss_separated:
        return None
    expected = media.rx_packets + media.rx_lost
    worst = media.rx_lost / expected if expected > 0 else 1.0
    if media.rtcp_rr_received > 0 and media.tx_packets > 0:
        worst = max(worst, min(media.tx_lost / media.tx_packets, 1.0))
    return worst


def loss_pct(call: Call) -> float | None:
    """`loss_fraction` in percent, as the report shows it and summary.json's `media.loss_pct` counts it."""
    fraction = loss_fraction(call)
    return None if fraction is None else 100.0 * fraction


def jitter_ms(call: Call) -> float | None:
    """RFC 3550 A.8 interarrival jitter of what we received, mean over the call.

    A.8 needs two packets to measure a transit-time difference: with fewer, none was measured.
    """
    media = call.media
    if media is None or not call.answered or media.rx_packets < 2 or not media.rx_loss_separated:
        return None
    return media.rx_jitter_mean_ms


def rtt_ms(call: Call) -> float | None:
    """RFC 3550 6.4.1 round-trip time from the peer's receiver reports, mean over the call."""
    return call.media.rtt_ms if call.media is not None else None


def mos_cqe(call: Call) -> float | None:
    """ITU-T G.107 Annex B MOS-CQE of the call: the worse of the directions that were rated.

    None when the received loss is not separated from an SSRC change: the worse direction is unknown.
    """
    if not loss_separated(call):
        return None
    values = [mos for d in _directions(call) if (mos := _finite(d.get("mos_cqe"))) is not None]
    return min(values) if values else None


def one_way_delay_ms(call: Call) -> float | None:
    """G.107 Ta the E-model used, the worse direction, only where RTCP measured the round trip.

    Without an RTT the E-model's delay holds the jitter buffer and packetisation alone,
    which says nothing about the network: such a call has no one-way delay here.
    """
    values = [delay for d in _directions(call)
              if _finite(d.get("rtt_ms")) is not None and (delay := _finite(d.get("one_way_delay_ms"))) is not None]
    return max(values) if values else None


def _directions(call: Call) -> list[Mapping[str, Any]]:
    quality = call.quality or {}
    return [v for v in quality.values() if isinstance(v, Mapping)]


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)
