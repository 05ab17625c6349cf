"""call_quality on the SIP engine's media statistics, with numbers worked by hand."""

from __future__ import annotations

import json

import pytest

from callproof.rtp_analysis.pesq import PesqResult
from callproof.rtp_analysis.quality import DELAY_FULL, DELAY_NO_RTT, call_quality, quality_disagreement

R_DEFAULT = 93.20620772327571  # G.107 defaults, checked in test_emodel

MEDIA = dict(
    codec="PCMU/8000", clock_rate=8000, ptime_ms=20,
    rx_packets=980, rx_lost=20, rx_dup=0, rx_discard=0, rx_jitter_mean_ms=2.5, rx_jitter_max_ms=9.0,
    rx_loss_bursts=5, tx_packets=1000, tx_lost=7, tx_jitter_mean_ms=1.25, rtcp_rr_received=4,
    rtt_ms=120.0, rtt_max_ms=150.0, jbuf_delay_ms=40.0, jbuf_lost=20, jbuf_discard=10, jbuf_empty=0, srtp=False,
)  # fmt: skip


def test_rx_direction_by_hand():
    rx = call_quality(MEDIA, concealment=True, echo_path=False)["rx"]
    # Ppl = (20 lost + 10 jitter-buffer discards) / (980 + 20) = 3 %.
    assert rx["loss_fraction"] == 0.03
    # BurstR = (20 lost / 5 runs) * (1 - 0.02) = 3.92.
    assert rx["burst_r"] == pytest.approx(3.92)
    # Ta = 120 / 2 + 40 + 20 = 120 ms -> Idd = 0.001374 (X = log2(1.2)).
    assert rx["one_way_delay_ms"] == 120.0 and rx["delay_method"] == DELAY_FULL
    # Ie,eff = 95 * 3 / (3 / 3.92 + 25.1) = 11.018621; R = 93.206208 - 0.001374 - 11.018621.
    assert rx["bpl"] == 25.1 and rx["ie"] == 0.0 and rx["concealment"] is True
    assert rx["r_factor"] == pytest.approx(82.186213, abs=1e-6)
    assert rx["mos_cqe"] == pytest.approx(4.103889, abs=1e-6)
    assert (rx["packets"], rx["lost"], rx["discarded"], rx["loss_bursts"]) == (980, 20, 10, 5)
    assert (rx["jitter_ms"], rx["jitter_max_ms"], rx["rtt_ms"]) == (2.5, 9.0, 120.0)
    assert rx["mos_reason"] is None and rx["round_trip"] is False and rx["direction"] == "rx"


def test_tx_direction_uses_the_peers_receiver_report():
    tx = call_quality(MEDIA, concealment=True, echo_path=False)["tx"]
    assert tx["loss_fraction"] == 0.007
    assert tx["burst_r"] == 1.0 and tx["loss_bursts"] is None  # no run counts from an RR: random loss
    assert tx["one_way_delay_ms"] == 80.0  # 120 / 2 + 20, the peer's jitter buffer unknown
    assert tx["r_factor"] == pytest.approx(R_DEFAULT - 95 * 0.7 / (0.7 + 25.1), abs=1e-9)


def test_echo_path_without_rtcp_and_without_concealment():
    media = dict(MEDIA, rx_packets=990, rx_lost=10, rx_loss_bursts=10, jbuf_discard=0, rtt_ms=None,
                 rtt_max_ms=None, rtcp_rr_received=0, tx_lost=0, tx_jitter_mean_ms=None)  # fmt: skip
    quality = call_quality(media, concealment=False, echo_path=True)
    rx, tx = quality["rx"], quality["tx"]
    assert rx["round_trip"] is True and tx["round_trip"] is True
    assert rx["one_way_delay_ms"] == 60.0 and rx["delay_method"] == DELAY_NO_RTT
    # Ppl 1 %, BurstR = 1 * 0.99, Bpl 4.3: Ie,eff = 95 / (1 / 0.99 + 4.3); Ta 60 ms -> Idd 0.
    assert rx["bpl"] == 4.3
    assert rx["r_factor"] == pytest.approx(75.315776, abs=1e-6)
    assert rx["mos_cqe"] == pytest.approx(3.835368, abs=1e-6)
    assert tx["mos_cqe"] is None and tx["r_factor"] is None
    assert tx["mos_reason"] == "the peer sent no RTCP receiver report, so the loss of our stream at its end is unknown"
    assert tx["one_way_delay_ms"] is None


def test_wideband_codec_is_not_rated_and_says_why():
    quality = call_quality(dict(MEDIA, codec="G722/8000"), concealment=True, echo_path=False)
    for direction in ("rx", "tx"):
        assert quality[direction]["mos_cqe"] is None
        assert "G.107.1" in quality[direction]["mos_reason"]


def test_result_is_json_ready():
    quality = call_quality(MEDIA, concealment=True, echo_path=False)
    assert json.loads(json.dumps(quality)) == quality


def _audio(score, *, silent=False, ref_s=3.0, deg_s=3.0):
    return PesqResult(
        score=score, offset_ms=120.0, reference_speech_s=ref_s, degraded_speech_s=deg_s, degraded_silent=silent
    )


def test_disagreement_flags():
    good = call_quality(dict(MEDIA, rx_lost=0, rx_loss_bursts=0, jbuf_discard=0), concealment=True, echo_path=False)[
        "rx"
    ]
    assert good["mos_cqe"] > 4.3
    assert quality_disagreement(good, _audio(4.4)) is None
    assert quality_disagreement(good, _audio(None, silent=True, deg_s=0.0)) == (
        "the network delivered 980 packets (MOS-CQE 4.41) but the recording is silent: "
        "one-way audio or a muted media path"
    )
    assert quality_disagreement(good, _audio(3.9, deg_s=1.2)) == (
        "the network looks good (MOS-CQE 4.41) but the recording holds only 1.2 s of the prompt's 3.0 s of speech: "
        "the prompt was clipped"
    )
    assert quality_disagreement(good, _audio(2.1)).startswith("the network looks good (MOS-CQE 4.41) but PESQ is 2.10")
    bad = call_quality(dict(MEDIA, rx_lost=200, rx_loss_bursts=20), concealment=False, echo_path=False)["rx"]
    assert bad["mos_cqe"] < 3.1
    assert quality_disagreement(bad, _audio(4.2)).startswith("the network looks bad (MOS-CQE")
    silent_network = dict(good, packets=0)
    assert quality_disagreement(silent_network, _audio(4.0)) == (
        "the recording holds speech but no RTP packet was received: the recording is not of this stream"
    )


def test_accepts_the_sip_engines_media_stats_as_a_mapping():
    """The contract with the SIP engine: call_quality reads callproof.sip.records.MediaStats fields."""
    import dataclasses

    from callproof.sip.records import MediaStats

    stats = MediaStats(**MEDIA)
    assert call_quality(dataclasses.asdict(stats), concealment=True, echo_path=False) == call_quality(
        MEDIA, concealment=True, echo_path=False
    )
