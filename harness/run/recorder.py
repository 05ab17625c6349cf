"""Append-only JSON-lines files of a run folder, flushed line by line.

calls.jsonl is the run's source of truth: every finished call is appended and
flushed (and fsync'ed at most every `sync_interval_s`) as it ends, so a run
killed even with SIGKILL keeps every call that had finished. Observers see each
line once it is written (the live views, callproof.harness.run.live).

The fsync runs on gevent's thread pool, never on the event loop: on a machine whose
disk is busy with other work one fsync took seconds, and the loop stalled that long
with it (issue 13: 19.6 s, seen with gevent's blocking monitor). One at a time; a line
written meanwhile is in the kernel already and goes with the next.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import gevent


def utc_now() -> str:
    return _iso(dt.datetime.now(dt.timezone.utc))


def utc_at_monotonic(instant: float) -> str:
    """The UTC wall time of a `time.monotonic()` instant (the two clocks read together)."""
    wall, mono = time.time(), time.monotonic()
    return _iso(dt.datetime.fromtimestamp(wall - (mono - instant), dt.timezone.utc))


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


class JsonLines:
    def __init__(self, path: Path, *, sync_interval_s: float = 1.0) -> None:
        self.path = Path(path)
        self._file = open(self.path, "a", encoding="utf-8")
        self._sync_interval_s = sync_interval_s
        self._last_sync = time.monotonic()
        self._observers: list[Callable[[dict[str, Any]], None]] = []
        self._syncing = None  # the fsync in progress on the thread pool
        self.count = 0

    def observe(self, observer: Callable[[dict[str, Any]], None]) -> None:
        """`observer(line)` for every line written from now on, after it is in the file."""
        self._observers.append(observer)

    def write(self, obj: dict[str, Any]) -> None:
        self._file.write(json.dumps(obj, separators=(",", ":"), allow_nan=False) + "\n")
        self._file.flush()  # in the kernel: survives our own SIGKILL
        self.count += 1
        now = time.monotonic()
        if now - self._last_sync >= self._sync_interval_s and (self._syncing is None or self._syncing.ready()):
            # On disk: survives the machine, within a second or so.
            self._syncing = gevent.get_hub().threadpool.spawn(os.fsync, self._file.fileno())
            self._last_sync = now
        for observer in self._observers:
            observer(obj)

    def close(self) -> None:
        if not self._file.closed:
            if self._syncing is not None:
                self._syncing.wait()  # its descriptor must stay open until it is done
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


class CallLog(JsonLines):
    """calls.jsonl and agents.jsonl: a CallRecord dict per line, its recording named relative to the run
    folder ("audio/call-0-000001.wav", as callproof.sip.records documents it): the engine writes to an
    absolute path, and no absolute local path goes into a bundle (callproof.reports.layout)."""

    def write(self, obj: dict[str, Any]) -> None:
        recording = obj.get("recording")
        if recording:
            path = Path(recording)
            try:
                recording = path.relative_to(self.path.parent).as_posix()
            except ValueError:
                recording = path.name
            obj = {**obj, "recording": recording}
        super().write(obj)


class EventLog(JsonLines):
    """events.jsonl: the run's timeline (start, shape changes, faults, breaker, health, end)."""

    def event(self, kind: str, **fields: Any) -> None:
        self.write({"at_utc": utc_now(), "kind": kind, **fields})
