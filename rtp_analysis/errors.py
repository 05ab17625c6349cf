"""Errors raised by rtp_analysis on bad input; the message is one sentence for the user.

    CaptureError      a capture that is missing, truncated, empty or not a capture
    └── AudioError    a recording (WAV) that cannot be read

AudioError derives from CaptureError so the CLI maps both to exit code 2.
"""


class CaptureError(ValueError):
    """A capture that is truncated, empty or not a capture; the message is one sentence."""


class AudioError(CaptureError):
    """A recording that is missing or not a readable WAV file."""
