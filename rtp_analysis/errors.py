"""Errors raised by rtp_analysis on bad input."""


class CaptureError(ValueError):
    """A capture that is truncated, empty or not a capture; the message is one sentence."""
