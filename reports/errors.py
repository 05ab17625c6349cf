"""Errors the reports package raises on purpose.

    ReportsError           exit_code 2
    └── ReportInputError   bad input: a folder that is not a bundle, a key that cannot
        │                  be read, a summary.json of the wrong shape
        └── RecordsError   a records file (calls.jsonl, events.jsonl...) is corrupt

A bundle that fails verification is not an exception: `callproof.reports.check`
returns what it found. Anything else is a bug and keeps its traceback.
"""


class ReportsError(Exception):
    """Base of the reports package's errors; the message is one sentence for the user."""

    exit_code = 2  # bad input (README, "Exit codes")


class ReportInputError(ReportsError, ValueError):
    pass


class RecordsError(ReportInputError):
    """A records file is corrupt (not just a truncated last line)."""
