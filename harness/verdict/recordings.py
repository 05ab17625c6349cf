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

from callproof.harness.scenario.model import Scenario
from callproof.reports import layout
from callproof.reports.records import load_calls


def reference_prompt(scenario: Scenario) -> Path | None:
    if scenario.target.embedded and scenario.agents.mode == "prompt":
        return scenario.agents.prompt
    return scenario.call.prompt


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
            result = pesq_score(reference, folder / call.recording)
            rx = (call.quality or {}).get("rx")
            entry = {"call_id": call.call_id, "recording": (folder / call.recording).relative_to(folder).as_posix(),
                     "reference": reference.name, "pesq": dataclasses.asdict(result),
                     "disagreement": quality_disagreement(rx, result) if rx else None}
            out.write(json.dumps(entry, separators=(",", ":"), allow_nan=False) + "\n")
    return len(recorded)
