"""Errors callproof raises on purpose, and the tool's one table of exit codes.

Exit codes (README, "Exit codes"):

    0  PASS          the run completed and every SLA line passed
    1  FAIL          an SLA line failed (or `verify` found a changed bundle)
    2  BAD_INPUT     scenario, arguments or input files are wrong
    3  HARNESS_ERROR the harness itself failed (ports, processes, engine)
    4  INCONCLUSIVE  too few calls to decide an SLA line
    5  INVALID       the load generator was the bottleneck; no verdict on the target

Exceptions: one root per package, each carrying its exit code as `exit_code`
(packages import nothing of each other, so theirs are plain numbers):

    callproof.harness.errors.CallproofError      3
    ├── BadInput                                 2
    └── HarnessError                             3
    callproof.sip.errors.SipError                3
    ├── SipConfigError                           2  (malformed URI, unsupported codec, missing WAV)
    └── EngineError                              3  (cannot bind a port, start a process)
    callproof.rtp_analysis.errors.CaptureError   2  (truncated, empty or foreign capture; AudioError)
    callproof.reports.errors.ReportsError        2  (not a bundle, unreadable key, corrupt records)

Anything without an `exit_code` is a bug and keeps its traceback.
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
    """The exit code a deliberate error carries, or None for a bug."""
    code = getattr(exc, "exit_code", None)
    return ExitCode(code) if isinstance(code, int) else None
