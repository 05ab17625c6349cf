"""StreamQuality: one direction of one call (or one captured stream), rated by the E-model.

`call_quality` turns the SIP engine's per-call media statistics (a plain mapping with
the fields of callproof.sip.records.MediaStats, so this package does not import sip) into one
StreamQuality per direction. `capture_quality` does the same for a stream measured in
a capture. `quality_disagreement` compares the network's verdict with PESQ's.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Mapping

from callproof.rtp_analysis.emodel import EModelInput, codec_impairment, rating
from callproof.rtp_analysis.loss import burst_ratio

if TYPE_CHECKING:
    from callproof.rtp_analysis.pesq import PesqResult

DELAY_FULL = "rtt/2+jbuf+packetisation"
DELAY_TX = "rtt/2+packetisation (the peer's jitter-buffer delay is unknown and not included)"
DELAY_NO_RTT = "jbuf+packetisation (no RTT measured: network delay not included, so R is an upper bound)"
DELAY_CAPTURE = "packetisation only (no RTCP round trip in the capture: R is an upper bound)"
DELAY_CAPTURE_RTT = "rtt/2+packetisation (RTT from RTCP seen at the capture point; the jitter buffer is unknown)"


@dataclasses.dataclass(frozen=True)
class StreamQuality:
    """Measured quality of one RTP direction. Units are in the names; None means not measured."""

    direction: str  # "rx" (what we received), "tx" (what the peer reported about ours), "capture"
    codec: str  # e.g. "PCMU/8000"
    packets: int  # received (rx, capture) or sent (tx)
    lost: int  # never arrived (RFC 3550 A.3, duplicates not netted off)
    discarded: int  # arrived but thrown away (late/early, jitter-buffer discards)
    loss_fraction: float  # G.107 Ppl / 100 = (lost + discarded) / expected
    loss_bursts: int | None  # runs of consecutive lost packets; None when nobody counted them
    burst_r: float  # G.107 BurstR; 1.0 (random) when loss_bursts is None
    jitter_ms: float | None  # mean RFC 3550 interarrival jitter
    jitter_max_ms: float | None
    rtt_ms: float | None  # RFC 3550 6.4.1 round trip from RTCP RR
    one_way_delay_ms: float | None  # G.107 Ta fed to the E-model
    delay_method: str  # how one_way_delay_ms was obtained, or why it is missing
    concealment: bool  # Bpl assumes a receiver that conceals lost packets
    ie: float | None  # G.113 equipment impairment of the codec
    bpl: float | None  # G.113 packet-loss robustness used
    r_factor: float | None  # G.107 R
    mos_cqe: float | None  # G.107 Annex B; None with mos_reason when G.107 cannot rate
    mos_reason: str | None
    round_trip: bool  # measured over an echo path: impairments of both directions

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def call_quality(media: Mapping[str, Any], *, concealment: bool, echo_path: bool) -> dict[str, dict[str, Any]]:
    """{"rx": ..., "tx": ...}: StreamQuality of each direction of one call, as JSON-ready dicts.

    `media` has the fields of callproof.sip.records.MediaStats. `concealment`: the receiver hides
    lost packets (pjmedia's PLC), which selects G.113's Bpl. `echo_path`: the far end
    echoes our RTP, so rx figures cover the round trip.
    """
    codec = str(media["codec"])
    encoding, _, rate = codec.partition("/")
    clock = int(rate) if rate.isdigit() else int(media["clock_rate"])
    ptime = float(media["ptime_ms"])
    rtt = media.get("rtt_ms")
    jbuf = float(media.get("jbuf_delay_ms") or 0.0)

    rx_lost = int(media["rx_lost"])
    rx_discarded = int(media["rx_discard"]) + int(media["jbuf_discard"])
    rx_expected = int(media["rx_packets"]) + rx_lost
    if rtt is not None:
        rx_delay, rx_method = rtt / 2 + jbuf + ptime, DELAY_FULL
    else:
        rx_delay, rx_method = jbuf + ptime, DELAY_NO_RTT
    rx = _rate(
        direction="rx",
        encoding=encoding,
        clock=clock,
        codec=codec,
        packets=int(media["rx_packets"]),
        lost=rx_lost,
        discarded=rx_discarded,
        expected=rx_expected,
        loss_bursts=int(media["rx_loss_bursts"]),
        jitter_ms=float(media["rx_jitter_mean_ms"]),
        jitter_max_ms=float(media["rx_jitter_max_ms"]),
        rtt_ms=rtt,
        delay_ms=rx_delay,
        delay_method=rx_method,
        concealment=concealment,
        round_trip=echo_path,
        unrated=_rx_unrated(media),
    )
    reports = int(media.get("rtcp_rr_received") or 0)
    tx_jitter = media.get("tx_jitter_mean_ms")
    tx = _rate(
        direction="tx",
        encoding=encoding,
        clock=clock,
        codec=codec,
        packets=int(media["tx_packets"]),
        lost=int(media["tx_lost"]),
        discarded=0,
        expected=int(media["tx_packets"]),
        loss_bursts=None,
        jitter_ms=float(tx_jitter) if tx_jitter is not None else None,
        jitter_max_ms=None,
        rtt_ms=rtt,
        delay_ms=rtt / 2 + ptime if rtt is not None else None,
        delay_method=DELAY_TX
        if rtt is not None
        else "unknown: the peer sent no RTCP receiver report with which to measure RTT",
        concealment=concealment,
        round_trip=echo_path,
        unrated=None
        if reports
        else "the peer sent no RTCP receiver report, so the loss of our stream at its end is unknown",
    )
    return {"rx": rx.to_dict(), "tx": tx.to_dict()}


def capture_quality(
    *,
    encoding: str | None,
    clock_rate_hz: int | None,
    packets: int,
    lost: int,
    expected: int,
    loss_runs: int,
    jitter_ms: float | None,
    jitter_max_ms: float | None,
    ptime_ms: float | None,
    rtt_ms: float | None,
    concealment: bool,
) -> StreamQuality:
    """StreamQuality of a stream seen in a capture: loss and runs from A.3, Ta from RTCP and packetisation."""
    name = encoding or "unknown"
    codec = f"{name}/{clock_rate_hz}" if clock_rate_hz else name
    unrated = None
    if encoding is None:
        unrated = "the payload type is dynamic and no SDP in the capture names its codec"
    elif ptime_ms is None:
        unrated = "the packetisation time cannot be read from the RTP timestamps"
    return _rate(
        direction="capture",
        encoding=name,
        clock=clock_rate_hz,
        codec=codec,
        packets=packets,
        lost=lost,
        discarded=0,
        expected=expected,
        loss_bursts=loss_runs,
        jitter_ms=jitter_ms,
        jitter_max_ms=jitter_max_ms,
        rtt_ms=rtt_ms,
        delay_ms=None if ptime_ms is None else ptime_ms + (rtt_ms / 2 if rtt_ms is not None else 0.0),
        delay_method=DELAY_CAPTURE if rtt_ms is None else DELAY_CAPTURE_RTT,
        concealment=concealment,
        round_trip=False,
        unrated=unrated,
    )


def _rx_unrated(media: Mapping[str, Any]) -> str | None:
    """Why the received direction cannot be rated, or None."""
    if not media["rx_packets"]:
        return "no RTP was received"
    if not media.get("rx_loss_separated", True):
        return ("the received SSRC changed and this engine counted the change as lost packets and jitter, "
                "so the received stream's own loss is unknown")
    return None


def _rate(
    *,
    direction: str,
    encoding: str,
    clock: int | None,
    codec: str,
    packets: int,
    lost: int,
    discarded: int,
    expected: int,
    loss_bursts: int | None,
    jitter_ms: float | None,
    jitter_max_ms: float | None,
    rtt_ms: float | None,
    delay_ms: float | None,
    delay_method: str,
    concealment: bool,
    round_trip: bool,
    unrated: str | None,
) -> StreamQuality:
    loss_fraction = min((lost + discarded) / expected, 1.0) if expected > 0 else 0.0
    burst_r = burst_ratio(lost, loss_bursts, expected) if loss_bursts is not None else 1.0
    values, reason = codec_impairment(encoding, clock)
    ie = bpl = r = mos = None
    if values is not None:
        ie = values.ie
        bpl = values.bpl_concealed if concealment or values.bpl_unconcealed is None else values.bpl_unconcealed
    if reason is None:
        reason = unrated
    if reason is None and delay_ms is None:
        reason = "the one-way delay is unknown"
    if reason is None and values is not None and delay_ms is not None:
        assert bpl is not None, "set from values above"
        result = rating(
            EModelInput(ie=values.ie, bpl=bpl, ppl_percent=100 * loss_fraction, burst_r=burst_r, ta_ms=delay_ms)
        )
        r, mos = result.r, result.mos_cqe
    return StreamQuality(
        direction=direction,
        codec=codec,
        packets=packets,
        lost=lost,
        discarded=discarded,
        loss_fraction=loss_fraction,
        loss_bursts=loss_bursts,
        burst_r=burst_r,
        jitter_ms=jitter_ms,
        jitter_max_ms=jitter_max_ms,
        rtt_ms=rtt_ms,
        one_way_delay_ms=delay_ms,
        delay_method=delay_method,
        concealment=concealment,
        ie=ie,
        bpl=bpl,
        r_factor=r,
        mos_cqe=mos,
        mos_reason=reason,
        round_trip=round_trip,
    )


def quality_disagreement(
    network: StreamQuality | Mapping[str, Any],
    audio: "PesqResult",
    *,
    network_good_mos: float = 4.0,
    network_bad_mos: float = 3.1,
    audio_bad_pesq: float = 3.0,
    audio_good_pesq: float = 3.8,
    clipped_share: float = 0.8,
) -> str | None:
    """One sentence when the network's verdict and the recorded audio's disagree, else None.

    Network good / audio bad: silence (one-way audio, a muted path), a clipped prompt, or
    a PESQ far below what the loss and delay predict. Network bad / audio good: the
    recording does not reflect the stream. Without a MOS-CQE the network is judged by its
    loss (good below 1 %, bad from 5 %).
    """
    net = network.to_dict() if isinstance(network, StreamQuality) else dict(network)
    packets, loss = int(net["packets"]), float(net["loss_fraction"])
    mos = net.get("mos_cqe")
    good = mos >= network_good_mos if mos is not None else loss < 0.01
    bad = mos < network_bad_mos if mos is not None else loss >= 0.05
    network_text = f"MOS-CQE {mos:.2f}" if mos is not None else f"{100 * loss:.1f}% loss"
    if audio.degraded_silent and packets > 0:
        return (
            f"the network delivered {packets} packets ({network_text}) but the recording is silent: "
            "one-way audio or a muted media path"
        )
    if packets == 0 and not audio.degraded_silent:
        return "the recording holds speech but no RTP packet was received: the recording is not of this stream"
    if audio.reference_speech_s > 0 and audio.degraded_speech_s < clipped_share * audio.reference_speech_s and good:
        return (
            f"the network looks good ({network_text}) but the recording holds only "
            f"{audio.degraded_speech_s:.1f} s of the prompt's {audio.reference_speech_s:.1f} s of speech: "
            "the prompt was clipped"
        )
    if audio.score is not None and good and audio.score < audio_bad_pesq:
        return (
            f"the network looks good ({network_text}) but PESQ is {audio.score:.2f}: the audio is impaired "
            "beyond what loss and delay explain (transcoding, noise, or a different prompt)"
        )
    if audio.score is not None and bad and audio.score >= audio_good_pesq:
        return (
            f"the network looks bad ({network_text}) but PESQ is {audio.score:.2f}: "
            "the recording does not reflect the measured stream"
        )
    return None
