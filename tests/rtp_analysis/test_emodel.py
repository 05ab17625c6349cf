"""G.107 E-model against the worked values in FIELD-NOTES (other parameters at defaults)."""

from __future__ import annotations

import pytest

from callproof.rtp_analysis.emodel import EModelInput, codec_impairment, idd, ie_eff, mos_cqe, rating


def test_defaults_give_r_93_21_and_mos_4_41():
    result = rating()
    assert round(result.r, 2) == 93.21
    assert result.r == pytest.approx(93.2062, abs=5e-5)
    assert round(result.mos_cqe, 2) == 4.41


def test_g711_without_plc_at_1_percent_loss():
    result = rating(EModelInput(ie=0, bpl=4.3, ppl_percent=1.0, burst_r=1.0))
    assert round(result.r, 2) == 75.28
    assert round(result.mos_cqe, 2) == 3.83


def test_g711_with_plc_at_2_percent_loss_is_on_a_rounding_edge():
    result = rating(EModelInput(ie=0, bpl=25.1, ppl_percent=2.0, burst_r=1.0))
    assert result.r == pytest.approx(86.195, abs=0.005)


@pytest.mark.parametrize(("ta_ms", "expected"), [(200, 3.04), (300, 14.76), (100, 0.0), (50, 0.0)])
def test_delay_impairment(ta_ms, expected):
    assert round(idd(ta_ms), 2) == expected


def test_ie_eff_formula_by_hand():
    # Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl) = 11 + 84 * 3 / (3 / 2 + 19) = 23.2927
    assert ie_eff(11, 3, 2, 19) == pytest.approx(11 + 84 * 3 / 20.5)


@pytest.mark.parametrize(("r", "mos"), [(-5, 1.0), (0, 1.0), (50, 2.5750), (80, 4.024), (100, 4.5), (120, 4.5)])
def test_annex_b_mos(r, mos):
    assert mos_cqe(r) == pytest.approx(mos, abs=5e-5)


def test_wideband_and_unknown_codecs_have_no_narrowband_rating():
    values, reason = codec_impairment("G722", 8000)
    assert values is None and "G.107.1" in reason
    values, reason = codec_impairment("opus", 48000)
    assert values is None and "G.107.1" in reason
    values, reason = codec_impairment("GSM", 8000)
    assert values is None and reason == "G.113 Appendix I gives no Ie and Bpl for GSM, so G.107 cannot rate it"
    values, reason = codec_impairment("PCMA", 8000)
    assert reason is None and (values.ie, values.bpl_concealed, values.bpl_unconcealed) == (0.0, 25.1, 4.3)
