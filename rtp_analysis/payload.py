"""RTP payload types: names and clock rates (RFC 3551 section 6; RFC 4733 for telephone-event).

Two clock-rate views are kept apart on purpose:
- `clock_rate_hz` is the true RTP clock, used for the RFC 3550 figures;
- `wireshark_clock_rate` is the rate Wireshark 4.0's ui/tap-rtp-analysis.c uses,
  0 where Wireshark skips jitter (telephone-event, a dynamic type it cannot name).
"""

from __future__ import annotations

import dataclasses

TELEPHONE_EVENT = "telephone-event"
COMFORT_NOISE_TYPES = frozenset({13, 19})  # RFC 3389 CN and the old reserved CN value

# RFC 3551 Table 4 (audio) and Table 5 (video): static payload types.
STATIC_TYPES: dict[int, tuple[str, int]] = {
    0: ("PCMU", 8000),
    3: ("GSM", 8000),
    4: ("G723", 8000),
    5: ("DVI4", 8000),
    6: ("DVI4", 16000),
    7: ("LPC", 8000),
    8: ("PCMA", 8000),
    9: ("G722", 8000),  # RFC 3551 4.5.2: the RTP clock is 8000 although G.722 samples at 16 kHz
    10: ("L16", 44100),
    11: ("L16", 44100),
    12: ("QCELP", 8000),
    13: ("CN", 8000),
    14: ("MPA", 90000),
    15: ("G728", 8000),
    16: ("DVI4", 11025),
    17: ("DVI4", 22050),
    18: ("G729", 8000),
    19: ("CN", 8000),
    25: ("CelB", 90000),
    26: ("JPEG", 90000),
    28: ("nv", 90000),
    31: ("H261", 90000),
    32: ("MPV", 90000),
    33: ("MP2T", 90000),
    34: ("H263", 90000),
}

# ui/tap-rtp-analysis.c (4.0) mimetype_and_clock_map: the rate Wireshark assumes for a
# named dynamic type when the SDP rtpmap gives none. Matched as a case-insensitive prefix,
# longest table entry first (Wireshark searches the sorted table backwards).
_WIRESHARK_DYNAMIC_CLOCKS: tuple[tuple[str, int], ...] = (
    ("AMR", 8000),
    ("AMR-WB", 16000),
    ("BMPEG", 90000),
    ("BT656", 90000),
    ("DV", 90000),
    ("EVRC", 8000),
    ("EVRC0", 8000),
    ("EVRC1", 8000),
    ("EVRCB", 8000),
    ("EVRCB0", 8000),
    ("EVRCB1", 8000),
    ("EVRCWB", 16000),
    ("EVRCWB0", 16000),
    ("EVRCWB1", 16000),
    ("EVS", 16000),
    ("G7221", 16000),
    ("G726-16", 8000),
    ("G726-24", 8000),
    ("G726-32", 8000),
    ("G726-40", 8000),
    ("G729D", 8000),
    ("G729E", 8000),
    ("GSM-EFR", 8000),
    ("H263-1998", 90000),
    ("H263-2000", 90000),
    ("H264", 90000),
    ("MP1S", 90000),
    ("MP2P", 90000),
    ("MP4V-ES", 90000),
    ("mpa-robust", 90000),
    ("opus", 48000),
    ("pointer", 90000),
    ("raw", 90000),
    ("red", 1000),
    ("SMV", 8000),
    ("SMV0", 8000),
    ("t140", 1000),
    ("telephone-event", 8000),
)


@dataclasses.dataclass(frozen=True)
class PayloadFormat:
    """What one payload type number means in one stream (static, or from an SDP rtpmap)."""

    payload_type: int
    encoding: str | None  # "PCMU", "opus", ...; None for a dynamic type nobody named
    clock_rate_hz: int | None  # None when unknown
    from_sdp: bool = False

    @property
    def name(self) -> str:
        if self.encoding is None:
            return f"PT{self.payload_type}"
        return f"{self.encoding}/{self.clock_rate_hz}" if self.clock_rate_hz else self.encoding

    @property
    def is_telephone_event(self) -> bool:
        return (self.encoding or "").lower() == TELEPHONE_EVENT

    @property
    def wireshark_clock_rate(self) -> int:
        """The rate rtppacket_analyse() would use for this type; 0 means no jitter."""
        if self.payload_type < 96:
            static = STATIC_TYPES.get(self.payload_type)
            return static[1] if static else 0
        if self.encoding is None or not self.from_sdp:
            return 0
        if self.encoding.lower().startswith(TELEPHONE_EVENT):
            return 0
        if self.clock_rate_hz:
            return self.clock_rate_hz
        for mime, rate in sorted(_WIRESHARK_DYNAMIC_CLOCKS, key=lambda e: e[0].lower(), reverse=True):
            if self.encoding.lower().startswith(mime.lower()):
                return rate
        return 0


def static_format(payload_type: int) -> PayloadFormat:
    """The RFC 3551 meaning of a payload type, or an unnamed dynamic/unassigned one."""
    encoding, rate = STATIC_TYPES.get(payload_type, (None, None))
    return PayloadFormat(payload_type, encoding, rate)
