"""Scenarios for the run tests, and reading what a run leaves behind (the CLI itself: tests/cli.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import yaml

from callproof.harness.scenario.model import Sla


def read_calls(folder: Path) -> list[dict]:
    lines = (folder / "calls.jsonl").read_text().splitlines()
    records = []
    for number, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except ValueError:
            assert number == len(lines) - 1, f"line {number + 1} of {len(lines)} is corrupt"
    return records


def write_scenario(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


SLA_KEYS = tuple(field.name for field in dataclasses.fields(Sla))  # the scenario's `sla` keys, one list


def sla_yaml(**decided) -> str:
    """A scenario's `sla` section with only the `decided` lines on (a short run cannot decide the rest)."""
    return yaml.safe_dump({"sla": sla_lines(**decided)}, sort_keys=False)


def sla_lines(**decided) -> dict:
    unknown = set(decided) - set(SLA_KEYS)
    assert not unknown, f"not SLA keys: {unknown}"
    return {key: decided.get(key) for key in SLA_KEYS}


DEFAULT_SLA = object()  # scenario_file(sla=DEFAULT_SLA): no sla section, the scenario defaults apply


def scenario_file(path: Path, uri: str, *, sla=DEFAULT_SLA, load: dict | None = None, call: dict | None = None,
                  **sections) -> Path:
    """A test's own scenario against `uri`: a short closed loop of 1 s calls, no probes.

    `load` and `call` entries replace the defaults' one by one; other keyword arguments
    are whole sections. `sla` is a dict of the lines to decide (the others off), or
    DEFAULT_SLA for the scenario defaults.
    """
    data = {
        "name": path.stem, "description": f"The test scenario {path.stem}.", "seed": 7,
        "target": {"uri": uri},
        "load": {"mode": "concurrency", "peak_concurrent": 4, "ramp_up_s": 0, "duration_s": 10,
                 "ramp_down_s": 0, "max_cps": 50, "max_concurrent": 50, **(load or {})},
        "call": {"codecs": ["PCMU"], "ring_timeout_s": 5, "talk_time": {"distribution": "fixed", "value_s": 1},
                 **(call or {})},
        "probes": {"call_interval_s": None, "options_interval_s": None},
        **sections,
    }
    if data["load"]["mode"] == "arrivals":
        data["load"].pop("peak_concurrent")
    if sla is not DEFAULT_SLA:
        data["sla"] = sla_lines(**sla)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
