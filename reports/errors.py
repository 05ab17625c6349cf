"""Errors the reports package raises on purpose.

    ReportsError
    └── ReportInputError   bad input -> exit 2: a folder that is not a bundle, a key
                           that cannot be read, a summary.json of the wrong shape

A bundle that fails verification is not an exception: `reports.verify` returns
what it found. Anything else is a bug and keeps its traceback.
"""


class ReportsError(Exception):
    """Base of the reports package's errors; the message is one sentence for the user."""


class ReportInputError(ReportsError, ValueError):
    pass
