"""The control leg: calls of our own, beside the target's, to an echo of our own.

`load.control_fraction` of the plan's peak calls in progress (callproof.harness.scenario.plan
.control_calls) are kept going, from the start of the load to its end, to an agent engine
process of ours that answers at once and echoes what it hears. They leave from the same
caller engine processes as the target's calls, with the same codecs, prompt, media
settings and talk times, and the echo listens on the callers' own address: nothing on
their path is the target's. Their loss, jitter and setup delay are the generator's own
baseline under the run's load, and a degraded control leg makes the run INVALID
(callproof.harness.verdict.generator).

Their records go to control.jsonl (reports.layout.CONTROL), marked `extra.leg = "control"`,
never to calls.jsonl: no SLA line can count them.

Not possible when the callers' account has an outbound proxy: pjsua routes every call of
that account through it, so a control call would cross the target's proxy. The leg is then
off, and the run's events say why.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import gevent
import gevent.pool

from callproof.harness.run.calls import CallFactory
from callproof.harness.run.engines import Fleet
from callproof.harness.scenario import plan
from callproof.harness.scenario.model import Call, Scenario
from callproof.sip.errors import EngineError
from callproof.sip.pool import EnginePool
from callproof.sip.records import CallRecord
from callproof.sip.settings import AccountSpec, AgentSpec

LEG = "control"


def control_off_reason(scenario: Scenario) -> str | None:
    """Why this scenario runs no control leg, or None when it does."""
    if scenario.load.control_fraction <= 0:
        return "load.control_fraction is 0"
    if scenario.target.outbound_proxy:
        return ("the callers' account routes every call through target.outbound_proxy, so a control call "
                "would cross the target's proxy")
    return None


def control_calls(scenario: Scenario) -> int:
    """Control calls this scenario keeps in progress (0 when the leg is off)."""
    return 0 if control_off_reason(scenario) else plan.control_calls(scenario)


def echo_uri(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"sip:control@{host}:{port}"


class ControlLeg:
    """`concurrent` control calls kept in progress through `callers`, each to the control echo."""

    def __init__(self, *, callers: EnginePool, echo: EnginePool, call: Call, seed: int, concurrent: int,
                 sink: Callable[[dict[str, Any]], None], enrich: Callable[[CallRecord], CallRecord],
                 stream: int | str = "local") -> None:
        self.callers = callers
        self.echo = echo
        self.call = call
        self.seed = seed
        self.use_stream(stream)
        self.concurrent = concurrent
        self.sink = sink
        self.enrich = enrich
        self.stopping = False
        self.placed = 0
        self.in_flight = 0
        self.uri = echo_uri(echo.processes[0].settings.bind_ip, echo.processes[0].sip_ports["udp"])
        self._loops = gevent.pool.Group()

    @classmethod
    def start_echo(cls, fleet: Fleet, scenario: Scenario, **kwargs) -> "ControlLeg":
        """The control echo's engine process(es), ready; the calls start with `start()`."""
        concurrent = control_calls(scenario)
        echo = fleet.start_pool(LEG, concurrent, spread=False, agent=dataclasses.asdict(AgentSpec(mode="echo")),
                                account=AccountSpec(user=LEG).to_dict())
        # Same talk times and prompt as the target's calls; no DTMF, no agent marker, no recording:
        # our echo answers at once and sends no marker.
        call = dataclasses.replace(scenario.call, dtmf=(), agent_marker=None, patience_s=None, record_fraction=0.0)
        return cls(echo=echo, call=call, seed=scenario.seed, concurrent=concurrent, **kwargs)

    def use_stream(self, stream: int | str) -> None:
        """Draw talk times from the seeded stream `stream` (distributed workers: one each)."""
        self.factory = CallFactory(self.call, seed=self.seed, audio_dir=Path(), stream=f"{LEG}-{stream}")

    def start(self, concurrent: int | None = None) -> None:
        if concurrent is not None:
            self.concurrent = concurrent
        for _ in range(self.concurrent):
            self._loops.spawn(self._keep_calling)

    def _keep_calling(self) -> None:
        while not self.stopping:
            try:
                pending = self.callers.place(self.factory.make(self.uri))
            except EngineError:
                return  # every caller engine process is gone: the load's own checks say so
            self.placed += 1
            self.in_flight += 1
            try:
                record = pending.wait_record()
            except EngineError:
                continue
            finally:
                self.in_flight -= 1
            record = self.enrich(record)
            self.sink({**record.to_dict(), "extra": {**record.extra, "leg": LEG}})

    def stop(self, drain_s: float) -> None:
        """Place no more control calls; wait up to `drain_s` for those in progress to end."""
        self.stopping = True
        self._loops.join(timeout=drain_s)
        self._loops.kill()
