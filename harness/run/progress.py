"""What a user sees while a run goes: one progress line, then a short table.

With an agent marker (`call.agent_marker`) both show the queue as a call center reads
it (callproof.harness.verdict.connect): offered, reached an agent, abandoned, time to
agent, service level, handle time; the 200 OK, which an IVR or a queue sends long
before any agent, is shown apart as the SIP dialog's figure. Without a marker the
200 OK is the answer. The names are summary.json's and the report's.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from callproof.sip.records import Failure

_LINE_EVERY_S = 5.0  # when stderr is not a terminal (CI logs), one line per 5 s


class Progress:
    def __init__(self, *, quiet: bool = False, by_agent: bool = False, stream=sys.stderr) -> None:
        self.quiet = quiet
        self.by_agent = by_agent
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
        line = f"{elapsed_s:6.0f}s  in progress {context.in_flight:4d}  {cps:6.1f} calls/s  "
        if self.by_agent:
            # Known when each call ends: an agent's pickup comes after the 200 OK.
            reached = _pct(context.reached_agent, context.queued_ended)
            line += (f"offered {context.attempted:6d}  reached an agent {reached}  abandoned {context.abandoned}"
                     f"  failed {context.failed}")
        else:
            line += (f"attempted {context.attempted:6d}  answered {_pct(context.answered, context.setups)}"
                     f"  failed {context.failed}")
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
        centre = summary.get("call_center")
        rows: list[tuple[str, object]] = []
        if centre and centre["by_agent_marker"]:
            rows += queue_rows(centre, summary.get("service_level"))
            rows += [("SIP dialog (RFC 6076)", ""), ("calls attempted", calls["attempted"]),
                     ("answered (200 OK)", calls["answered"])]
        else:
            rows += [("calls attempted", calls["attempted"]), ("answered", calls["answered"]),
                     ("abandoned", calls["abandoned"])]
        rows.append(("failed", calls["failed"]))
        failures = summary["failures"]
        rows += [(f"  {name}", count) for name, count in failures.items() if count and Failure(name).target_failure]
        if calls.get("stopped"):
            rows.append(("stopped by the run's end", calls["stopped"]))
        if failures.get(Failure.ENGINE_ERROR.value):
            rows.append(("failed inside callproof's engine", failures[Failure.ENGINE_ERROR.value]))
        for key, label in (("setup_ms", "setup delay (SRD) ms"), ("answer_ms", "answer (200 OK) ms")):
            if summary[key]["p50"] is not None:
                rows.append((label, _percentiles(summary[key], 1.0)))
        if summary.get("timing_resolution_ms") is not None:
            rows.append(("timing resolution ms", summary["timing_resolution_ms"]))
        if summary.get("verdict"):
            rows.append(("verdict", summary["verdict"]))
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            print(f"{label:<{width}}  {value}".rstrip(), file=stream)
        print(f"results: {folder}", file=stream)


def queue_rows(centre: dict[str, Any], service_level: dict[str, Any] | None) -> list[tuple[str, object]]:
    """The call center's rows of the table (summary.json's `call_center` and `service_level`)."""
    offered = centre["offered"]
    rows: list[tuple[str, object]] = [
        ("offered", offered),
        ("reached an agent", f"{centre['answer_rate_count']}  ({_share(centre['answer_rate_pct'])})"),
        ("abandoned", f"{centre['abandonment_count']}  ({_share(centre['abandonment_pct'])})"),
    ]
    if centre["time_to_abandon_ms"]["p50"] is not None:
        rows.append(("time to abandon s", _percentiles(centre["time_to_abandon_ms"], 1000.0)))
    if centre["time_to_agent_ms"]["p50"] is not None:
        rows.append(("time to agent s", _percentiles(centre["time_to_agent_ms"], 1000.0)))
    if service_level is not None:
        rows.append(("service level", f"{_share(service_level['answered_within_pct'])} reached an agent within "
                                      f"{service_level['within_s']:g} s"))
    if centre["handle_time_s"]["mean"] is not None:
        rows.append(("average handle time s", f"{centre['handle_time_s']['mean']:.1f}"))
    return rows


def _percentiles(values: dict[str, float], divide: float) -> str:
    # The caller checked p50: p95 and p99 come from the same calls, so all three are there.
    return "  ".join(f"{p} {values[p] / divide:.{1 if divide == 1.0 else 2}f}" for p in ("p50", "p95", "p99"))


def _share(pct: float | None) -> str:
    return "-" if pct is None else f"{pct:.1f}%"


def _pct(count: int, total: int) -> str:
    return f"{100.0 * count / total:5.1f}%" if total else "    -"
