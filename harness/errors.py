"""Errors callproof raises on purpose, and the tool's one table of exit codes.

Exit codes (README, "Exit codes"):

    0  PASS          the run completed and every SLA line passed
    1  FAIL          an SLA line failed (or `verify` found a changed bundle)
    2  BAD_INPUT     scenario, arguments or input files are wrong
    3  HARNESS_ERROR the harness itself failed (ports, processes, engine)
    4  INCONCLUSIVE  too few calls to decide an SLA line
    5  INVALID       the load generator was the bottleneck; no verdict on the target

Exceptions, by package (each package keeps its own base so it imports nothing
from the others; `exit_code_for` maps them onto the table):

    harness.errors.CallproofError
    ├── BadInput        -> 2
    └── HarnessError    -> 3
    sip.errors.SipError
    ├── SipConfigError  -> 2   (malformed URI, unsupported codec, missing WAV)
    └── EngineError     -> 3   (cannot bind a port, start a process)
    rtp_analysis.errors.CaptureError -> 2  (truncated, empty or foreign capture)
    reports.errors.ReportInputError -> 2   (not a bundle, unreadable key, bad summary.json)

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    PASS = 0
    FAIL = 1
    BAD_INPUT = 2
    HARNESS_ERROR = 3
    INCONCLUSIVE = 4
    INVALID = 5


class CallproofError(Exception):
    """Base of the harness's deliberate errors; the message is one sentence for the user."""

    exit_code = ExitCode.HARNESS_ERROR


class BadInput(CallproofError):
    exit_code = ExitCode.BAD_INPUT


class HarnessError(CallproofError):
    exit_code = ExitCode.HARNESS_ERROR


def exit_code_for(exc: BaseException) -> ExitCode | None:
    """The exit code for a deliberate error, or None for a bug."""
    if isinstance(exc, CallproofError):
        return exc.exit_code
    # Imported here: the CLI must not pay for (or monkey-patch with) packages
    # a command does not use.
    from sip.errors import EngineError, SipConfigError

    if isinstance(exc, SipConfigError):
        return ExitCode.BAD_INPUT
    if isinstance(exc, EngineError):
        return ExitCode.HARNESS_ERROR
    from rtp_analysis.errors import CaptureError

    if isinstance(exc, CaptureError):
        return ExitCode.BAD_INPUT
    from reports.errors import ReportInputError

    if isinstance(exc, ReportInputError):
        return ExitCode.BAD_INPUT
    return None
