"""PESQ of the recorded sample, after the load (it costs CPU the load must not lose).

The reference is what the far end should send back: the caller's own prompt
when the target echoes it (SIPp, our echo agents, an echo extension), or our
agents' prompt when they play one. Each result is set beside the network
metrics of the same call, and a disagreement between them is flagged.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

from callproof.harness.scenario.model import Scenario
from callproof.reports import layout
from callproof.reports.records import load_calls
from callproof.sip.records import CallRecord


def reference_prompt(scenario: Scenario) -> Path | None:
    """Our agents' prompt only when they answer the callers directly: behind a PBX, its own media (a
    menu, queue music) comes first in the recording, and PESQ would score it as distortion."""
    if scenario.target.embedded and scenario.agents.mode == "prompt":
        return scenario.agents.prompt
    return scenario.call.prompt


def why_not_scored(scenario: Scenario | None, calls: Sequence[CallRecord],
                   pesq: Sequence[dict[str, Any]]) -> str | None:
    """Why no recorded call has a PESQ score, in one sentence (summary.json media.pesq_unscored); None
    when one has. `calls`: the load's (calls.jsonl), `pesq`: pesq.jsonl's entries."""
    results = [entry.get("pesq") or {} for entry in pesq]
    if any(isinstance(r.get("score"), (int, float)) for r in results):
        return None
    if results:
        reasons = sorted({str(r.get("reason") or "no reason given") for r in results})
        return f"PESQ could not score any of the {len(results)} recorded calls: {'; '.join(reasons[:3])}"
    if scenario is not None and scenario.call.record_fraction == 0:
        return "no call was recorded (call.record_fraction is 0)"
    if scenario is not None and reference_prompt(scenario) is None:
        behind_pbx = (" and our agents' prompt reaches callers only after the PBX's own media (menu, queue music),"
                      " which PESQ would score as distortion") if scenario.agents.mode == "prompt" else ""
        return ("no reference to score against: call.prompt is null (PESQ compares a recording with the prompt "
                f"the far end sends back: the caller's own prompt from an echo){behind_pbx}")
    recorded = sum(1 for c in calls if c.recording)
    if recorded == 0:
        answered = sum(1 for c in calls if c.answered)
        return (f"no call was recorded: call.record_fraction picked none of the {answered} answered calls"
                if answered else "no call was recorded: no call was answered")
    return f"the {recorded} recorded calls were not scored (the run ended before PESQ ran, or PESQ failed)"


def score_recordings(folder: Path, scenario: Scenario) -> int:
    """Write pesq.jsonl for every recorded call; the number scored."""
    from callproof.rtp_analysis.pesq import pesq_score
    from callproof.rtp_analysis.quality import quality_disagreement

    reference = reference_prompt(scenario)
    folder = Path(folder)
    # calls.jsonl names a recording relative to the run folder (older runs: absolutely; `/` keeps either).
    recorded = [c for c in load_calls(folder) if c.recording and (folder / c.recording).is_file()]
    if reference is None or not recorded:
        return 0
    with open(folder / layout.PESQ, "a", encoding="utf-8") as out:
        for call in recorded:
            assert call.recording is not None, "recorded holds calls with a recording"
            result = pesq_score(reference, folder / call.recording)
            rx = (call.quality or {}).get("rx")
            entry = {"call_id": call.call_id, "recording": (folder / call.recording).relative_to(folder).as_posix(),
                     "reference": reference.name, "pesq": dataclasses.asdict(result),
                     "disagreement": quality_disagreement(rx, result) if rx else None}
            out.write(json.dumps(entry, separators=(",", ":"), allow_nan=False) + "\n")
    return len(recorded)
