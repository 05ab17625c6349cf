"""PESQ of the recorded sample, after the load (it costs CPU the load must not lose).

The reference is what the far end should send back: the caller's own prompt
when the target echoes it (SIPp, our echo agents, an echo extension), or our
agents' prompt when they play one. Each result is set beside the network
metrics of the same call, and a disagreement between them is flagged.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.scenario import Scenario
from reports import layout
from reports.records import load_calls


def reference_prompt(scenario: Scenario) -> Path | None:
    if scenario.target.embedded and scenario.agents.mode == "prompt":
        return scenario.agents.prompt
    return scenario.call.prompt


def score_recordings(folder: Path, scenario: Scenario) -> int:
    """Write pesq.jsonl for every recorded call; the number scored."""
    from harness.recorder import JsonLines
    from rtp_analysis.pesq import pesq_score
    from rtp_analysis.quality import quality_disagreement

    reference = reference_prompt(scenario)
    recorded = [c for c in load_calls(folder) if c.recording and Path(c.recording).exists()]
    if reference is None or not recorded:
        return 0
    out = JsonLines(Path(folder) / layout.PESQ)
    try:
        for call in recorded:
            result = pesq_score(reference, call.recording)
            rx = (call.quality or {}).get("rx")
            out.write({"call_id": call.call_id, "recording": str(Path(call.recording).relative_to(folder)),
                       "reference": reference.name, "pesq": dataclasses.asdict(result),
                       "disagreement": quality_disagreement(rx, result) if rx else None})
    finally:
        out.close()
    return len(recorded)
