"""RFC 3550 6.4.1: round-trip time from a receiver report's LSR and DLSR."""

from __future__ import annotations

NTP_UNIX_OFFSET_S = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01


def ntp_middle32(unix_time_s: float) -> int:
    """The middle 32 bits of a 64-bit NTP timestamp (16.16 fixed point seconds), as LSR uses."""
    ntp = (unix_time_s + NTP_UNIX_OFFSET_S) * 65536.0
    return int(ntp) & 0xFFFFFFFF


def round_trip_ms(arrival_middle32: int, lsr: int, dlsr: int) -> float | None:
    """RTT = A - LSR - DLSR (all 16.16 seconds, modulo 2**32); None when the RR had no SR to echo.

    RFC 3550 6.4.1: LSR = 0 means no sender report has been received yet.
    """
    if lsr == 0:
        return None
    units = (arrival_middle32 - lsr - dlsr) & 0xFFFFFFFF
    return units * 1000.0 / 65536.0
