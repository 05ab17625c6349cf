"""The RTP fixed header (RFC 3550 5.1): one packet as a dataclass, many as numpy columns."""

from __future__ import annotations

import dataclasses
import struct

import numpy as np

from rtp_analysis.errors import CaptureError

RTP_VERSION = 2
FIXED_HEADER_BYTES = 12
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


@dataclasses.dataclass(frozen=True)
class RtpColumns:
    """Header fields of many packets, one numpy array per field (index i is packet i)."""

    version: np.ndarray  # uint8
    marker: np.ndarray  # bool
    payload_type: np.ndarray  # uint8
    sequence_number: np.ndarray  # uint16
    timestamp: np.ndarray  # uint32
    ssrc: np.ndarray  # uint32


def byte(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The byte at each offset, clipped to the buffer: rows past a short frame's end are
    masked by the caller with the frame's captured length."""
    return data[np.minimum(at, data.size - 1)]


def be16(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Big-endian uint16 at each byte offset `at` of a uint8 buffer."""
    return (byte(data, at).astype(np.uint16) << 8) | byte(data, at + 1)


def be32(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Big-endian uint32 at each byte offset `at` of a uint8 buffer."""
    return (
        (byte(data, at).astype(np.uint32) << 24)
        | (byte(data, at + 1).astype(np.uint32) << 16)
        | (byte(data, at + 2).astype(np.uint32) << 8)
        | byte(data, at + 3)
    )


def rtp_columns(data: np.ndarray, at: np.ndarray) -> RtpColumns:
    """Read the fixed RTP header at each offset of `data`; the caller checks that 12 bytes exist."""
    b0 = byte(data, at)
    b1 = byte(data, at + 1)
    return RtpColumns(
        version=b0 >> 6,
        marker=(b1 & 0x80).astype(bool),
        payload_type=b1 & 0x7F,
        sequence_number=be16(data, at + 2),
        timestamp=be32(data, at + 4),
        ssrc=be32(data, at + 8),
    )
