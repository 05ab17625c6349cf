"""ITU-T G.107 (06/2015) E-model: rating factor R and MOS-CQE, with G.113 Appendix I codec values.

Every parameter defaults to G.107 Table 3; a measurement overrides the few it knows
(Ta, Ppl, BurstR, and the codec's Ie and Bpl). Clause numbers refer to G.107.
"""

from __future__ import annotations

import dataclasses
import functools
import math


@dataclasses.dataclass(frozen=True)
class EModelInput:
    """G.107 Table 3 parameters, at their default values unless given."""

    slr: float = 8.0  # send loudness rating, dB
    rlr: float = 2.0  # receive loudness rating, dB
    stmr: float = 15.0  # sidetone masking rating, dB
    lstr: float = 18.0  # listener sidetone rating, dB
    ds: float = 3.0  # D-value of telephone, send side
    dr: float = 3.0  # D-value of telephone, receive side
    telr: float = 65.0  # talker echo loudness rating, dB
    wepl: float = 110.0  # weighted echo path loss, dB
    t_ms: float = 0.0  # mean one-way delay of the echo path, T
    tr_ms: float = 0.0  # round-trip delay in a 4-wire loop, Tr
    ta_ms: float = 0.0  # absolute (mouth-to-ear) delay, Ta
    qdu: float = 1.0  # quantizing distortion units
    ie: float = 0.0  # equipment impairment factor
    bpl: float = 4.3  # packet-loss robustness factor
    ppl_percent: float = 0.0  # random packet-loss probability, Ppl (%)
    burst_r: float = 1.0  # burst ratio, BurstR
    nc: float = -70.0  # circuit noise referred to the 0 dBr point, dBm0p
    nfor: float = -64.0  # noise floor at the receive side, dBmp
    ps: float = 35.0  # room noise at the send side, dB(A)
    pr: float = 35.0  # room noise at the receive side, dB(A)
    a: float = 0.0  # advantage factor
    mt_ms: float = 100.0  # delay sensitivity: minimum perceivable delay, mT
    st: float = 1.0  # delay sensitivity, sT


@dataclasses.dataclass(frozen=True)
class EModelResult:
    r: float
    ro: float
    is_: float
    id: float
    idd: float
    ie_eff: float
    mos_cqe: float


def idd(ta_ms: float, mt_ms: float = 100.0, st: float = 1.0) -> float:
    """G.107 7.3: impairment from absolute delay Ta (0 up to mT)."""
    if ta_ms <= mt_ms:
        return 0.0
    x = math.log10(ta_ms / mt_ms) / math.log10(2)
    k = 6 * st
    return 25 * ((1 + x**k) ** (1 / k) - 3 * (1 + (x / 3) ** k) ** (1 / k) + 2)


def ie_eff(ie: float, ppl_percent: float, burst_r: float, bpl: float) -> float:
    """G.107 7.4: Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl)."""
    return ie + (95 - ie) * ppl_percent / (ppl_percent / burst_r + bpl)


def mos_cqe(r: float) -> float:
    """G.107 Annex B: MOS-CQE from R."""
    if r < 0:
        return 1.0
    if r > 100:
        return 4.5
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6


@functools.lru_cache(maxsize=4096)  # streams of one capture mostly share their inputs (no loss, one ptime)
def rating(p: EModelInput = EModelInput()) -> EModelResult:
    """R = Ro - Is - Id - Ie,eff + A (G.107 7.1)."""
    olr = p.slr + p.rlr
    # 7.2 Basic signal-to-noise ratio Ro.
    nfo = p.nfor + p.rlr
    pre = p.pr + 10 * math.log10(1 + 10 ** ((10 - p.lstr) / 10))
    nor = p.rlr - 121 + pre + 0.008 * (pre - 35) ** 2
    nos = p.ps - p.slr - p.ds - 100 + 0.004 * (p.ps - olr - p.ds - 14) ** 2
    no = 10 * math.log10(10 ** (p.nc / 10) + 10 ** (nos / 10) + 10 ** (nor / 10) + 10 ** (nfo / 10))
    ro = 15 - 1.5 * (p.slr + no)
    # 7.3 Simultaneous impairment factor Is.
    xolr = olr + 0.2 * (64 + no - p.rlr)
    iolr = 20 * ((1 + (xolr / 8) ** 8) ** (1 / 8) - xolr / 8)
    stmro = -10 * math.log10(10 ** (-p.stmr / 10) + math.exp(-p.t_ms / 4) * 10 ** (-p.telr / 10))
    ist = (
        12 * (1 + ((stmro - 13) / 6) ** 8) ** (1 / 8)
        - 28 * (1 + ((stmro + 1) / 19.4) ** 35) ** (1 / 35)
        - 13 * (1 + ((stmro - 3) / 33) ** 13) ** (1 / 13)
        + 29
    )
    q = 37 - 15 * math.log10(p.qdu)
    g = 1.07 + 0.258 * q + 0.0602 * q**2
    z = 46 / 30 - g / 40
    y = (ro - 100) / 15 + 46 / 8.4 - g / 9
    iq = 15 * math.log10(1 + 10**y + 10**z)
    is_ = iolr + ist + iq
    # 7.4 Delay impairment factor Id = Idte + Idle + Idd.
    roe = -1.5 * (no - p.rlr)
    terv = p.telr - 40 * math.log10((1 + p.t_ms / 10) / (1 + p.t_ms / 150)) + 6 * math.exp(-0.3 * p.t_ms**2)
    if p.stmr < 9:
        terv += ist / 2  # TERVs
    re = 80 + 2.5 * (terv - 14)
    idte = ((roe - re) / 2 + math.sqrt((roe - re) ** 2 / 4 + 100) - 1) * (1 - math.exp(-p.t_ms))
    if p.stmr > 20:
        idte = math.sqrt(idte**2 + ist**2)  # Idtes
    rle = 10.5 * (p.wepl + 7) * (p.tr_ms + 1) ** -0.25
    idle = (ro - rle) / 2 + math.sqrt((ro - rle) ** 2 / 4 + 169)
    idd_ = idd(p.ta_ms, p.mt_ms, p.st)
    id_ = idte + idle + idd_
    # 7.5 Equipment impairment with packet loss.
    ie_eff_ = ie_eff(p.ie, p.ppl_percent, p.burst_r, p.bpl)
    r = ro - is_ - id_ - ie_eff_ + p.a
    return EModelResult(r=r, ro=ro, is_=is_, id=id_, idd=idd_, ie_eff=ie_eff_, mos_cqe=mos_cqe(r))


@dataclasses.dataclass(frozen=True)
class CodecImpairment:
    """G.113 Appendix I values for one codec."""

    ie: float
    bpl_concealed: float  # Bpl with packet-loss concealment
    bpl_unconcealed: float | None  # Bpl without it; None when the codec always conceals
    reference: str


# G.113 (11/2007) Appendix I, Tables I.1 and I.3 (random loss).
G113_CODECS: dict[str, CodecImpairment] = {
    "PCMU": CodecImpairment(0.0, 25.1, 4.3, "G.711 (G.113 Table I.3; PLC per G.711 Appendix I)"),
    "PCMA": CodecImpairment(0.0, 25.1, 4.3, "G.711 (G.113 Table I.3; PLC per G.711 Appendix I)"),
    "G729": CodecImpairment(11.0, 19.0, None, "G.729A with VAD (G.113 Table I.3)"),
}
# Codecs G.107 (narrowband) must not rate: their scale is G.107.1's.
WIDEBAND_CODECS = frozenset({"G722", "G7221", "OPUS", "AMR-WB", "EVS", "SILK", "SPEEX/16000", "L16/16000"})


def codec_impairment(encoding: str, clock_rate_hz: int | None) -> tuple[CodecImpairment | None, str | None]:
    """(values, None), or (None, why this codec has no narrowband E-model rating)."""
    key = encoding.upper()
    if key in WIDEBAND_CODECS or f"{key}/{clock_rate_hz}" in WIDEBAND_CODECS or (clock_rate_hz or 0) > 8000:
        return None, (
            f"{encoding} is a wideband codec: G.107 covers narrowband only and its MOS needs "
            "the wideband E-model of ITU-T G.107.1, which callproof does not compute"
        )
    values = G113_CODECS.get(key)
    if values is None:
        return None, f"G.113 Appendix I gives no Ie and Bpl for {encoding}, so G.107 cannot rate it"
    return values, None
