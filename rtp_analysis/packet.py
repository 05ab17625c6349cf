"""The RTP fixed header (RFC 3550 5.1) of many packets, as numpy columns."""

from __future__ import annotations

import dataclasses

import numpy as np

RTP_VERSION = 2
FIXED_HEADER_BYTES = 12


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
