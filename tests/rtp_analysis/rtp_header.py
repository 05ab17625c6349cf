"""One RTP fixed header (RFC 3550 5.1) as a dataclass, for building and checking test packets.

The analysis reads headers as numpy columns (callproof.rtp_analysis.packet); this is the
packet-at-a-time view the capture generator writes with, checked on its own in test_metrics.
"""

from __future__ import annotations

import dataclasses
import struct

from callproof.rtp_analysis.errors import CaptureError
from callproof.rtp_analysis.packet import FIXED_HEADER_BYTES, RTP_VERSION

_FIXED = struct.Struct("!BBHII")


@dataclasses.dataclass(frozen=True)
class RtpHeader:
    """One RTP header; `parse` and `bytes()` are exact inverses for headers without CSRCs/extension."""

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    marker: bool = False
    csrc_count: int = 0
    extension: bool = False
    padding: bool = False

    @classmethod
    def parse(cls, data: bytes) -> "RtpHeader":
        if len(data) < FIXED_HEADER_BYTES:
            raise CaptureError(f"RTP header is truncated: {len(data)} bytes, the fixed header needs 12.")
        b0, b1, seq, ts, ssrc = _FIXED.unpack_from(data)
        if b0 >> 6 != RTP_VERSION:
            raise CaptureError(f"RTP version is {b0 >> 6}, expected 2.")
        return cls(
            payload_type=b1 & 0x7F,
            sequence_number=seq,
            timestamp=ts,
            ssrc=ssrc,
            marker=bool(b1 & 0x80),
            csrc_count=b0 & 0x0F,
            extension=bool(b0 & 0x10),
            padding=bool(b0 & 0x20),
        )

    def __bytes__(self) -> bytes:
        b0 = (RTP_VERSION << 6) | (0x20 if self.padding else 0) | (0x10 if self.extension else 0) | self.csrc_count
        b1 = (0x80 if self.marker else 0) | self.payload_type
        return _FIXED.pack(b0, b1, self.sequence_number, self.timestamp, self.ssrc)
