"""From the scenario's `call` section to one `CallSpec` per call.

Random choices (talk time, which calls are recorded) come from generators
seeded by the scenario's seed, so a run can be repeated call for call.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Callable

from callproof.harness.scenario import plan
from callproof.harness.scenario.model import Call
from callproof.sip.settings import CallSpec, DtmfStep

_BATCH = 256  # talk times are drawn in batches (numpy), used one by one


class CallFactory:
    def __init__(self, call: Call, *, seed: int, audio_dir: Path, stream: int | str = 0) -> None:
        self.call = call
        self.audio_dir = audio_dir
        self._talk = plan.rng(seed, f"talk-time-{stream}")
        self._sample = plan.rng(seed, f"record-sample-{stream}")
        self._pending: list[float] = []
        self._numbers = itertools.count(1)
        self._stream = stream
        self._dtmf = tuple(DtmfStep(wait_s=s.wait_s, digits=s.digits, method=s.method, timeout_s=s.timeout_s)
                           for s in call.dtmf)

    def _next_talk_s(self) -> float:
        if not self._pending:
            self._pending = [float(x) for x in plan.sample_durations(self.call.talk_time, _BATCH, self._talk)][::-1]
        return self._pending.pop()

    def make(self, uri: str, *, scheduled_mono: float | None = None) -> CallSpec:
        call = self.call
        number = next(self._numbers)
        record_to = None
        if call.record_fraction > 0 and self._sample.random() < call.record_fraction:
            self.audio_dir.mkdir(parents=True, exist_ok=True)
            record_to = str(self.audio_dir / f"call-{self._stream}-{number:06d}.wav")
        return CallSpec(
            uri=uri,
            ring_timeout_s=call.ring_timeout_s,
            talk_s=self._next_talk_s(),
            prompt=str(call.prompt) if call.prompt else None,
            record_to=record_to,
            dtmf=self._dtmf,
            agent_marker=call.agent_marker,
            patience_s=call.patience_s,
            media_timeout_s=call.media_timeout_s,
            scheduled_mono=scheduled_mono,
        )


TargetChooser = Callable[[], tuple[str, Callable[[], None]]]


def fixed_target(uri: str) -> TargetChooser:
    """Every call to the same URI; nothing to release."""
    return lambda: (uri, lambda: None)
