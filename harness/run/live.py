"""What a run's records say so far, while it goes: the figures the live views show.

`LiveFigures` reads what the run writes, line by line, as it writes it
(callproof.harness.run.recorder's observers): each call record of calls.jsonl, each
event of events.jsonl (the health samples among them) and each probe of probes.jsonl.
On a distributed master those are the workers' records and health, so one master
shows the whole run. Nothing is measured twice: the per-call figures are
callproof.rtp_analysis.call_figures' and callproof.harness.verdict.connect's, the
SLA lines callproof.harness.verdict.sla's `judge` on the records so far, so the
live views and the run's summary.json cannot disagree.

Two views read it: the OpenMetrics endpoint (callproof.harness.run.metrics) and the
callproof tab of Locust's web UI (callproof.harness.run.web_tab). Per record the work
is one histogram increment per figure; percentiles and the SLA lines are computed
only when a view asks, at most every `SLA_EVERY_S` seconds.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from callproof.harness.scenario.model import Scenario
from callproof.harness.verdict import connect
from callproof.harness.verdict.sla import RunVerdict, judge
from callproof.rtp_analysis import call_figures
from callproof.sip.records import CallRecord

SLA_EVERY_S = 5.0  # the SLA lines cost a pass over every record: at most this often
LINGER_MAX_S = 30.0  # the longest a finished run waits for its watcher's last look

# The per-call figures the live views show: (name, function of a CallRecord, unit).
# Delays from the record's own definitions, media from call_figures (the SLA lines' and the report's).
CALL_FIGURES: dict[str, tuple[Callable[[CallRecord], float | None], str]] = {
    "setup_delay_ms": (lambda c: c.setup_ms, "ms"),  # RFC 6076 4.3 SRD
    "loss_pct": (call_figures.loss_pct, "%"),
    "jitter_ms": (call_figures.jitter_ms, "ms"),
    "mos_cqe": (call_figures.mos_cqe, "MOS"),
}


@dataclasses.dataclass(frozen=True)
class HealthSample:
    """One source's latest health event (a worker's, or this machine's as "local")."""

    source: str
    fields: dict[str, Any]


class LiveFigures:
    """The run so far, from the lines the run writes (see the module docstring)."""

    def __init__(self, scenario: Scenario, *, role: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.scenario = scenario
        self.role = role
        self.target = scenario.target.uri
        self.by_agent = scenario.call.agent_marker is not None
        self._clock = clock
        self.calls: list[CallRecord] = []
        self.events: list[dict[str, Any]] = []
        self.probes: list[dict[str, Any]] = []
        self.outcomes: Counter[str] = Counter()  # "completed" or the Failure's value
        self.answered = 0  # the 200 OK arrived
        self.reached_agent = 0  # connect.agent_answered: the agent marker, or (no marker) the 200 OK
        self.health: dict[str, HealthSample] = {}
        self.finished = False  # the run_end event is written: every record is in
        self._listeners: list[Callable[[str, CallRecord], None]] = []
        self._reads: list[float] = []  # when a view was read (a scrape, a web UI refresh)
        self._verdict: RunVerdict | None = None
        self._verdict_at = -SLA_EVERY_S
        self._verdict_of: tuple[int, int, int] = (-1, -1, -1)  # (calls, events, probes) it was judged on

    # -- what the run writes -------------------------------------------------------------

    def on_call(self, data: dict[str, Any]) -> None:
        """A line of calls.jsonl."""
        record = CallRecord.from_dict(data)
        self.calls.append(record)
        self.outcomes[record.failure.value if record.failure else "completed"] += 1
        self.answered += record.answered
        self.reached_agent += connect.agent_answered(record, self.by_agent)
        for listener in self._listeners:
            listener("call", record)

    def on_event(self, data: dict[str, Any]) -> None:
        """A line of events.jsonl."""
        self.events.append(data)
        kind = data.get("kind")
        if kind == "health":
            source = str(data.get("worker") or "local")
            self.health[source] = HealthSample(source, data)
        elif kind == "run_start" and data.get("target"):
            self.target = str(data["target"])
        elif kind == "run_end":
            self.finished = True

    def on_probe(self, data: dict[str, Any]) -> None:
        """A line of probes.jsonl."""
        self.probes.append(data)

    def listen(self, listener: Callable[[str, CallRecord], None]) -> None:
        """`listener("call", record)` for every call record from now on (the exporter's histograms)."""
        self._listeners.append(listener)

    # -- who watches ----------------------------------------------------------------------

    def note_reader(self) -> None:
        """A view was read: a Prometheus scrape, the web UI's refresh."""
        self._reads.append(self._clock())
        del self._reads[:-16]

    def wait_for_last_read(self, sleep: Callable[[float], None]) -> bool:
        """Once the run has finished: wait until a watcher has read the final figures.

        Nobody watched: no wait. Otherwise until the next read, at most three of the
        longest gaps seen between reads (a scrape interval, the web UI's 2 s), within
        LINGER_MAX_S. True when the final figures were read.
        """
        if not self._reads:
            return False
        end = self._clock()
        gaps = [b - a for a, b in zip(self._reads, self._reads[1:], strict=False)]
        deadline = end + min(LINGER_MAX_S, max(2.0, 3 * max(gaps, default=1.0)))
        while self._reads[-1] <= end and self._clock() < deadline:
            sleep(0.1)
        return self._reads[-1] > end

    # -- what the views read --------------------------------------------------------------

    def health_total(self, field: str) -> float | None:
        """A health field summed over the sources' latest samples (calls in flight, attempts); None when none has it."""
        values = [s.fields[field] for s in self.health.values() if isinstance(s.fields.get(field), (int, float))]
        return sum(values) if values else None

    def figure_values(self, name: str) -> list[float]:
        """The per-call values of one of CALL_FIGURES, over the calls that have it."""
        figure, _ = CALL_FIGURES[name]
        return [v for c in self.calls if (v := figure(c)) is not None]

    def time_to_agent_ms(self) -> list[float]:
        """INVITE to the agent's pickup (connect.time_to_agent_ms), over the calls an agent answered."""
        return [v for c in self.calls if connect.agent_answered(c, self.by_agent)
                and (v := connect.time_to_agent_ms(c, self.by_agent)) is not None]

    def verdict(self) -> RunVerdict:
        """The SLA lines and the run's verdict on the records so far (callproof.harness.verdict.sla.judge),
        computed again when new records came and `SLA_EVERY_S` has passed, or once the run has finished."""
        now, seen = self._clock(), (len(self.calls), len(self.events), len(self.probes))
        if seen != self._verdict_of and (now - self._verdict_at >= SLA_EVERY_S or self.finished):
            scenario = self.scenario
            end = next((e for e in reversed(self.events) if e.get("kind") == "run_end"), None)
            self._verdict = judge(self.calls, self.probes, self.events, sla=scenario.sla, probes=scenario.probes,
                                  by_agent=self.by_agent, faults_planned=len(scenario.faults),
                                  interrupted=bool(end and end.get("interrupted")))
            self._verdict_at, self._verdict_of = now, seen
        assert self._verdict is not None
        return self._verdict

    @property
    def judged_calls(self) -> int:
        """How many calls the last `verdict` judged."""
        return max(self._verdict_of[0], 0)
