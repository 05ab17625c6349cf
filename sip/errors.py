"""Errors raised by the SIP engine.

Expected call outcomes (busy, no answer, timeout...) are not exceptions: they
are `sip.records.Failure` values inside a `CallRecord`. Exceptions are for bad
input and for an engine that cannot run.

    SipError
    ├── SipConfigError   bad input: malformed URI, unsupported codec, missing WAV
    └── EngineError      the engine cannot run: port in use, worker died, pjsua2 refused
"""


class SipError(Exception):
    """Base of the SIP engine's errors; the message is one sentence for the user."""


class SipConfigError(SipError, ValueError):
    pass


class EngineError(SipError):
    pass
