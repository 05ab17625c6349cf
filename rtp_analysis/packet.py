"""The RTP fixed header (RFC 3550 5.1): one packet as a dataclass, many as numpy columns."""

from __future__ import annotations

import dataclasses
import struct

import numpy as np

from callproof.rtp_analysis.errors import CaptureError

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


def be16(rows: np.ndarray, at: int) -> np.ndarray:
    """Big-endian uint16 at column `at` of an (n, k) uint8 matrix of header bytes."""
    return (rows[:, at].astype(np.uint16) << 8) | rows[:, at + 1]


def be32(rows: np.ndarray, at: int) -> np.ndarray:
    """Big-endian uint32 at column `at` of an (n, k) uint8 matrix of header bytes."""
    return np.ascontiguousarray(rows[:, at : at + 4]).view(">u4").ravel().astype(np.uint32)


def rtp_columns(rows: np.ndarray) -> RtpColumns:
    """The fixed RTP header of each row of an (n, >=12) uint8 matrix."""
    return RtpColumns(
        version=rows[:, 0] >> 6,
        marker=(rows[:, 1] & 0x80).astype(bool),
        payload_type=rows[:, 1] & 0x7F,
        sequence_number=be16(rows, 2),
        timestamp=be32(rows, 4),
        ssrc=be32(rows, 8),
    )
