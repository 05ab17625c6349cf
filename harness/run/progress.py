"""What a user sees while a run goes: one progress line, then a short table."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from callproof.sip.records import Failure

_LINE_EVERY_S = 5.0  # when stderr is not a terminal (CI logs), one line per 5 s


class Progress:
    def __init__(self, *, quiet: bool = False, stream=sys.stderr) -> None:
        self.quiet = quiet
        self.stream = stream
        self.tty = stream.isatty()
        self._last_attempted = 0
        self._last_elapsed = 0.0
        self._last_line = -_LINE_EVERY_S

    def update(self, elapsed_s: float, context) -> None:
        if self.quiet:
            return
        interval = max(elapsed_s - self._last_elapsed, 1e-9)
        cps = (context.attempted - self._last_attempted) / interval
        self._last_attempted, self._last_elapsed = context.attempted, elapsed_s
        decided = context.setups
        answered = f"{100.0 * context.answered / decided:5.1f}%" if decided else "    -"
        line = (f"{elapsed_s:6.0f}s  in progress {context.in_flight:4d}  {cps:6.1f} calls/s  "
                f"attempted {context.attempted:6d}  answered {answered}  failed {context.failed}")
        if self.tty:
            self.stream.write("\r" + line)
            self.stream.flush()
        elif elapsed_s - self._last_line >= _LINE_EVERY_S:
            self.stream.write(line + "\n")
            self._last_line = elapsed_s

    def done(self) -> None:
        if self.tty and not self.quiet:
            self.stream.write("\n")

    @staticmethod
    def print_table(summary: dict[str, Any], folder: Path, stream=sys.stdout) -> None:
        calls = summary["calls"]
        rows = [
            ("calls attempted", calls["attempted"]),
            ("answered", calls["answered"]),
            ("abandoned", calls["abandoned"]),
            ("failed", calls["failed"]),
        ]
        failures = summary["failures"]
        rows += [(f"  {name}", count) for name, count in failures.items() if count and Failure(name).target_failure]
        if calls.get("stopped"):
            rows.append(("stopped by the run's end", calls["stopped"]))
        if failures.get(Failure.ENGINE_ERROR.value):
            rows.append(("failed inside callproof's engine", failures[Failure.ENGINE_ERROR.value]))
        for key, label in (("setup_ms", "setup delay (SRD) ms"), ("answer_ms", "answer ms")):
            p = summary[key]
            if p["p50"] is not None:
                rows.append((label, f"p50 {p['p50']:.1f}  p95 {p['p95']:.1f}  p99 {p['p99']:.1f}"))
        if summary.get("timing_resolution_ms") is not None:
            rows.append(("timing resolution ms", summary["timing_resolution_ms"]))
        if summary.get("verdict"):
            rows.append(("verdict", summary["verdict"]))
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            print(f"{label:<{width}}  {value}", file=stream)
        print(f"results: {folder}", file=stream)
