"""Errors raised by rtp_analysis on bad input; the message is one sentence for the user.

    CaptureError      exit_code 2: a capture that is missing, truncated, empty or not a capture
    └── AudioError    a recording (WAV) that cannot be read
"""


class CaptureError(ValueError):
    """A capture that is truncated, empty or not a capture; the message is one sentence."""

    exit_code = 2  # bad input (README, "Exit codes")


class AudioError(CaptureError):
    """A recording that is missing or not a readable WAV file."""
