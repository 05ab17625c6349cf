"""Per-call figures (callproof.rtp_analysis.call_figures), hand-checked, on plain objects and on CallRecords."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from callproof.rtp_analysis import call_figures as f
from callproof.sip.records import Failure
from tests.verify import records as r


def media(*, rx_packets=150, rx_lost=0, tx_packets=150, tx_lost=0, rr=0, jitter=0.5, rtt=None, separated=True):
    return SimpleNamespace(rx_packets=rx_packets, rx_lost=rx_lost, rx_jitter_mean_ms=jitter, tx_packets=tx_packets,
                           tx_lost=tx_lost, rtcp_rr_received=rr, rtt_ms=rtt, rx_loss_separated=separated)


def call(answered=True, quality=None, **media_kw):
    return SimpleNamespace(answered=answered, media=media(**media_kw), quality=quality)


@pytest.mark.parametrize(
    "kw, fraction",
    [
        ({}, 0.0),
        ({"rx_packets": 147, "rx_lost": 3}, 3 / 150),  # RFC 3550 A.3: lost / (received + lost)
        ({"tx_lost": 30, "rr": 2}, 0.2),  # only the peer's receiver report saw loss: transmit-only
        ({"tx_lost": 30, "rr": 0}, 0.0),  # no receiver report: the sent direction is unknown, not lost
        ({"rx_packets": 147, "rx_lost": 3, "tx_lost": 15, "rr": 1}, 0.1),  # the worse of 2% and 10%
        ({"tx_lost": 400, "rr": 1}, 1.0),  # a report cannot make a call lose more than everything
        ({"rx_packets": 0}, 1.0),  # answered, no RTP at all: all of its talk time lost
        ({"rx_packets": 0, "tx_packets": 0, "rr": 1}, 1.0),
    ],
)
def test_loss_is_the_worse_direction(kw, fraction):
    assert f.loss_fraction(call(**kw)) == pytest.approx(fraction)
    assert f.loss_pct(call(**kw)) == pytest.approx(100 * fraction)


def test_a_call_without_media_has_no_media_figures():
    for unmeasured in (call(answered=False), SimpleNamespace(answered=True, media=None, quality=None)):
        assert f.loss_fraction(unmeasured) is None and f.loss_pct(unmeasured) is None
        assert f.jitter_ms(unmeasured) is None and f.mos_cqe(unmeasured) is None


def test_jitter_needs_two_packets():
    assert f.jitter_ms(call(jitter=1.25)) == 1.25
    assert f.jitter_ms(call(rx_packets=1, jitter=0.0)) is None  # RFC 3550 A.8: one transit time, no difference
    assert f.jitter_ms(call(rx_packets=0, jitter=0.0)) is None


def test_mos_and_delay_take_the_worse_rated_direction():
    quality = {"rx": {"mos_cqe": 4.2, "rtt_ms": 30.0, "one_way_delay_ms": 75.0},
               "tx": {"mos_cqe": 3.9, "rtt_ms": 30.0, "one_way_delay_ms": 35.0}}
    assert f.mos_cqe(call(quality=quality)) == 3.9
    assert f.one_way_delay_ms(call(quality=quality)) == 75.0
    # Unrated directions, and values a hostile bundle might hold, are left out.
    odd = {"rx": {"mos_cqe": None}, "tx": {"mos_cqe": float("nan")}, "x": {"mos_cqe": True}, "y": "4.4"}
    assert f.mos_cqe(call(quality=odd)) is None
    # Without an RTCP round trip the E-model's delay says nothing about the network.
    assert f.one_way_delay_ms(call(quality={"rx": {"rtt_ms": None, "one_way_delay_ms": 40.0}})) is None


def test_call_records_fit_as_they_are():
    clean = r.answered(0, rr=3, rtt_ms=12.5, quality=r.quality(4.4, 4.3, rtt_ms=12.5, delay_tx_ms=30.0))
    silent = r.answered(1, rx_packets=0, failure=Failure.MEDIA_TIMEOUT)
    assert (f.loss_fraction(clean), f.mos_cqe(clean), f.rtt_ms(clean), f.one_way_delay_ms(clean)) == (
        0.0, 4.3, 12.5, 40.0)
    assert (f.loss_pct(silent), f.jitter_ms(silent)) == (100.0, None)
    assert f.loss_fraction(r.rejected(486)) is None


def test_a_call_whose_loss_is_mixed_with_an_ssrc_change_has_no_loss_jitter_or_mos():
    # The wheel's count after a source change: the jump between the two sources' sequence numbers
    # (500) is in rx_lost, the jump between their timestamps in the jitter (measured: 33 s).
    quality = {"rx": {"mos_cqe": 1.0}, "tx": {"mos_cqe": 4.4}}
    mixed = call(rx_packets=330, rx_lost=500, jitter=33212.3, rr=4, separated=False, quality=quality)
    assert not f.loss_separated(mixed)
    assert (f.loss_fraction(mixed), f.loss_pct(mixed), f.jitter_ms(mixed), f.mos_cqe(mixed)) == (None,) * 4
    # The built engine restarted its statistics at the change: its figures stand.
    separated = call(rx_packets=330, rx_lost=0, rr=4, quality={"rx": {"mos_cqe": 4.3}, "tx": {"mos_cqe": 4.4}})
    assert f.loss_separated(separated) and f.loss_fraction(separated) == 0.0 and f.mos_cqe(separated) == 4.3
    assert f.loss_separated(SimpleNamespace(answered=True, media=None, quality=None))
