"""Waiting in tests for the event that matters (a line in a file, a count, a bound port), never for a guess.

`wait_until` polls a condition and returns its first truthy value, or raises TimeoutError
saying what did not happen. It sleeps with gevent.sleep: a test running engine pools (or
the fake one) keeps the hub turning while it waits, and outside gevent it is a plain sleep.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, TypeVar

import gevent

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout_s: float, *, what: str, poll_s: float = 0.05) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:g} s")
        gevent.sleep(poll_s)


def json_lines(path: Path) -> list[dict]:
    """The whole lines of a JSON-lines file another process is appending to (a partial last line is skipped)."""
    if not path.exists():
        return []
    text = path.read_text()
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]


def wait_for_lines(path: Path, count: int, timeout_s: float) -> list[dict]:
    """The whole lines of a JSON-lines file, once there are at least `count`."""
    def enough() -> list[dict] | None:
        lines = json_lines(path)
        return lines if len(lines) >= count else None

    return wait_until(enough, timeout_s, what=f"{path} holding {count} lines", poll_s=0.2)
