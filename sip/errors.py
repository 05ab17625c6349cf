"""Errors raised by the SIP engine.

Expected call outcomes (busy, no answer, timeout...) are not exceptions: they
are `callproof.sip.records.Failure` values inside a `CallRecord`. Exceptions are for bad
input and for an engine that cannot run. Each carries the tool's exit code
(README, "Exit codes"; plain numbers: this package imports nothing of the harness).

    SipError             exit_code 3
    ├── SipConfigError   2  bad input: malformed URI, unsupported codec, missing WAV
    └── EngineError      3  the engine cannot run: port in use, worker died, pjsua2 refused
"""


class SipError(Exception):
    """Base of the SIP engine's errors; the message is one sentence for the user."""

    exit_code = 3


class SipConfigError(SipError, ValueError):
    exit_code = 2


class EngineError(SipError):
    exit_code = 3
