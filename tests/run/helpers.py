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


def unexplained_problems(summary: dict) -> list[str]:
    """The generator's problems that are not what a busy machine does to it, or not backed by their figure.

    What the harness guarantees on a busy machine: a run it cannot vouch for is INVALID, and
    each reason is one of the generator checks that watch the machine or what starving it
    does (callproof.harness.verdict.generator), with the measured figure behind it in
    summary.json. Calls lost with an engine, refused by our own stack or starved of slots
    are never the machine's doing: they stay unexplained.
    """
    generator = summary["generator"]
    limits = generator["limits"]
    backed = {
        "the load machine was saturated by other programs": generator["saturated_s"] >= limits["machine_saturated_s"],
        "the load generator's event loop stalled": (generator["loop_lag_ms_max"] or 0) > limits["loop_lag_ms"],
        "a SIP engine of the load generator stalled": (generator["pump_lag_ms_max"] or 0) > limits["pump_lag_ms"],
        "the load generator's own sockets dropped": (
            (generator["socket_drops_media"] or 0) + (generator["socket_drops_sip"] or 0) > limits["own_drops"]),
        "calls to the load generator's own echo on this machine (the control leg) were degraded": bool(
            generator["control"] and generator["control"]["degraded"]),
        "the load generator's own processes used": (generator["cpu_pct_max"] or 0) >= (
            limits["own_cpu_pct_of_all_cores"] * (generator["cpu_cores"] or 1)),
        "the load generator held call slots for calls that were not up": (generator["idle_slots_max"] or 0) > 0,
    }
    starved = generator["media_starved_calls"]
    backed[f"{starved} of {generator['media_checked_calls']} answered calls sent too few RTP packets"] = starved > 0
    return [problem for problem in generator["problems"]
            if not any(problem.startswith(start) and ok for start, ok in backed.items())]


def records_mentioning(folder: Path, text: str) -> list[str]:
    """Lines of calls.jsonl, probes.jsonl and control.jsonl that contain `text`."""
    return [line for name in ("calls.jsonl", "probes.jsonl", "control.jsonl") if (folder / name).exists()
            for line in (folder / name).read_text().splitlines() if text in line]


EXIT_CODES = {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 4, "INVALID": 5}


def assert_verdict(summary: dict, returncode: int, expected: str) -> bool:
    """The verdict a live test expects, or INVALID for what a busy machine did to the generator,
    with every reason backed by its figure (`unexplained_problems`): what the harness guarantees
    whether or not the machine is busy. True when the expected verdict came, so the test's finer
    checks of it apply; False when the run was INVALID instead."""
    if summary["verdict"] == "INVALID" and expected != "INVALID":
        assert returncode == EXIT_CODES["INVALID"], summary["verdict_reason"]
        assert unexplained_problems(summary) == [], summary["verdict_reason"]
        return False
    assert summary["verdict"] == expected and returncode == EXIT_CODES[expected], summary["verdict_reason"]
    return True
