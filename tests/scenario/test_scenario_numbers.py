"""Numbers that are not numbers (issue 14, section 5): every number a scenario holds is finite and in the
range the schema documents, refused otherwise with one sentence naming the file, the line and the key.

The issue's cases each ran before: a NaN SLA threshold ran the whole load and then crashed, a NaN
ring_timeout_s failed every call, a NaN or infinite duration_s never ended, an infinite talk_time.max_s
placed no call, a NaN record_fraction recorded nothing. Then a bounded fuzz pass over every numeric key
of three scenarios that between them use every one: non-finite and out-of-range values are refused
naming the key, and random values in and around the ranges load or are refused, never a traceback;
what loads, the plan can work with.
"""

from __future__ import annotations

import copy
import random
import re
import time
from typing import Any

import pytest
import yaml

from callproof.harness.errors import BadInput
from callproof.harness.scenario import plan
from callproof.harness.scenario.loader import load_scenario, scenario_schema
from callproof.harness.scenario.yaml_source import dotted

MARK = "HOSTILE_NUMBER"

CONCURRENCY: dict[str, Any] = {
    "name": "numbers", "description": "every numeric key", "seed": 1,
    "target": {"uri": "embedded"},
    "load": {"mode": "concurrency", "peak_concurrent": 4, "multiplier": 1.0, "ramp_up_s": 1, "duration_s": 30,
             "ramp_down_s": 1, "max_cps": 10, "max_concurrent": 10,
             "breaker": {"min_answer_rate": 0.5, "window_s": 30, "min_calls": 20}, "processes": 1,
             "control_fraction": 0.02},
    "call": {"ring_timeout_s": 30, "patience_s": 60, "talk_time": {"distribution": "uniform", "min_s": 1, "max_s": 3},
             "dtmf": [{"wait_s": 1, "digits": "1"}], "agent_marker": "#", "record_fraction": 0.1,
             "media_timeout_s": 5},
    "agents": {"count": 10, "ring_delay_s": 0.2, "handle_time": {"distribution": "exponential", "mean_s": 2,
                                                                 "max_s": 5}},
    "media": {"media_threads": 1, "jitter_buffer": {"init_ms": -1, "min_pre_ms": -1, "max_pre_ms": -1, "max_ms": -1}},
    "probes": {"call_interval_s": 5, "options_interval_s": 1, "setup_cap_ms": 3000, "call_talk_s": 2,
               "consecutive_ok": 3},
    "capture": {"enabled": False, "seconds": 60, "max_mb": 200},
    "processes": [{"name": "backend", "command": "true", "ready_port": 5999, "ready_timeout_s": 10}],
    "faults": [{"at_s": 10, "action": "stop", "process": "backend"}],
    "sla": {"answer_rate_min": 0.9, "isa_max": 0.05, "first_answer_s_max": 30,
            "service_level": {"within_s": 20, "min": 0.9}, "abandonment_max": 0.2, "setup_delay_p95_ms_max": 2000,
            "mos_cqe_p5_min": 3.5, "one_way_delay_p95_ms_max": 200, "loss_p95_max": 0.01, "availability_min": 0.99,
            "rto_s_max": 10},
}
ARRIVALS = copy.deepcopy(CONCURRENCY)
ARRIVALS["load"].update(mode="arrivals", peak_cps=2, shape="spike",
                        spike={"at_s": 5, "length_s": 5, "factor": 1.5})
del ARRIVALS["load"]["peak_concurrent"]
ARRIVALS["call"]["talk_time"] = {"distribution": "lognormal", "mean_s": 2, "sigma": 0.5, "max_s": 6}
ARRIVALS["agents"]["handle_time"] = {"distribution": "fixed", "value_s": 2}
STEP = copy.deepcopy(CONCURRENCY)
STEP["load"].update(shape="step", steps=4)
BASES = {"concurrency": CONCURRENCY, "arrivals": ARRIVALS, "step": STEP}

NON_FINITE = [".nan", ".inf", "-.inf", "1e400", "!!float nan"]
OUT_OF_RANGE = ["-1e300", "1e300", "-1", "100000000000000000000000000000", "-0.5"]


def numeric_paths(data: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(data, dict):
        return [p for key, value in data.items() for p in numeric_paths(value, path + (key,))]
    if isinstance(data, list):
        return [p for index, value in enumerate(data) for p in numeric_paths(value, path + (index,))]
    return [path] if isinstance(data, (int, float)) and not isinstance(data, bool) else []


def with_value(base: dict, path: tuple, written: str) -> str:
    """The base scenario as YAML with the value at `path` written as `written`, exactly."""
    data = copy.deepcopy(base)
    node = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = MARK
    text = yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False)  # libyaml: the fuzz writes 1,500 of these
    assert text.count(MARK) == 1
    return text.replace(MARK, written)


def load_text(tmp_path, text: str):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return load_scenario(path)


def refusal(tmp_path, text: str) -> str:
    with pytest.raises(BadInput) as caught:
        load_text(tmp_path, text)
    return str(caught.value)


ISSUE_CASES = [
    # (what the issue saw, key path, written value)
    ("a NaN SLA threshold ran the whole load, then crashed", ("sla", "answer_rate_min"), ".nan"),
    ("NaN ring_timeout_s made every call a transport_error", ("call", "ring_timeout_s"), ".nan"),
    ("NaN duration_s never ended", ("load", "duration_s"), ".nan"),
    ("infinite duration_s never ended", ("load", "duration_s"), ".inf"),
    ("infinite talk_time.max_s placed no call", ("call", "talk_time", "max_s"), ".inf"),
    ("NaN record_fraction recorded nothing", ("call", "record_fraction"), ".nan"),
    ("1e400 is infinity", ("load", "max_cps"), "1e400"),
]


@pytest.mark.parametrize("seen, path, written", ISSUE_CASES, ids=[c[0] for c in ISSUE_CASES])
def test_the_issues_numbers_are_refused_naming_file_line_and_key(tmp_path, seen, path, written):
    text = with_value(CONCURRENCY, path, written)
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if row.rstrip().endswith(f": {written}"))
    message = refusal(tmp_path, text)
    assert message == f"{tmp_path / 's.yaml'}, line {line}: {dotted(path)} must be a finite number (got {written})"


def test_a_huge_number_is_shown_as_written_not_as_300_digits(tmp_path):
    message = refusal(tmp_path, with_value(CONCURRENCY, ("load", "duration_s"), "1e300"))
    assert message.endswith(": load.duration_s must be at most 604800 (got 1e+300)")


def test_the_arrival_times_a_plan_draws_are_bounded(tmp_path):
    data = copy.deepcopy(ARRIVALS)
    data["load"].update(peak_cps=10000, max_cps=10000, duration_s=604800, max_concurrent=100000, shape="steady")
    del data["load"]["spike"]
    data["call"]["talk_time"] = {"distribution": "fixed", "value_s": 1}
    data["call"]["ring_timeout_s"] = 1
    data["faults"] = []
    message = refusal(tmp_path, yaml.safe_dump(data, sort_keys=False))
    assert message.endswith(": load.duration_s (604800 s) at the plan's peak of 10000 calls/s draws "
                            "6,048,000,000 arrival times; a run draws at most 10,000,000")


@pytest.mark.parametrize("base", BASES)
def test_every_numeric_key_refuses_non_finite_and_out_of_range_values(tmp_path, base):
    paths = numeric_paths(BASES[base])
    assert len(paths) >= 40
    if base != "concurrency":  # sections the same as the concurrency base's were checked there
        changed = {key for key, value in BASES[base].items() if value != CONCURRENCY[key]}
        paths = [path for path in paths if path[0] in changed]
        assert paths
    for path in paths:
        for written in NON_FINITE:
            message = refusal(tmp_path, with_value(BASES[base], path, written))
            shown = written if len(written) <= 40 else written[:37] + "..."
            assert re.fullmatch(rf".*s\.yaml, line \d+: {re.escape(dotted(path))} must be a finite number "
                                rf"\(got {re.escape(shown)}\)", message), (path, written, message)
        for written in OUT_OF_RANGE:
            try:
                load_text(tmp_path, with_value(BASES[base], path, written))
            except BadInput as exc:
                assert "\n" not in str(exc)
                # Refused by the schema, naming the key; a value in range may still break a rule across keys.
                continue
            low, high = _range(path)
            assert low <= float(written) <= high, (path, written)


def _range(path: tuple) -> tuple[float, float]:
    """The schema's documented range of the key at `path` (the loose one: inclusive)."""
    node = _schema_at(path)
    low = node.get("minimum", node.get("exclusiveMinimum", float("-inf")))
    return low, node.get("maximum", float("inf"))


def _schema_at(path: tuple) -> dict:
    root = scenario_schema()
    node: Any = root
    for step in path:
        node = _resolve(root, node)
        node = node["items"] if isinstance(step, int) else _property(root, node, step)
    return _number_branch(root, _resolve(root, node))


def _resolve(root: dict, node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        extra = {k: v for k, v in node.items() if k != "$ref"}
        target = root
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = {**target, **extra}
    return node


def _property(root: dict, node: dict, key: str) -> Any:
    if "properties" in node and key in node["properties"]:
        return node["properties"][key]
    for option in node.get("anyOf", ()):
        option = _resolve(root, option)
        if "properties" in option and key in option["properties"]:
            return option["properties"][key]
    raise KeyError(key)


def _number_branch(root: dict, node: dict) -> dict:
    for option in node.get("anyOf", ()):
        option = _resolve(root, option)
        if option.get("type") in ("number", "integer"):
            return option
    return node


def test_fuzz_random_numbers_load_or_are_refused_never_a_traceback(tmp_path):
    rng = random.Random(14)
    candidates = ["0", "-0.0", "1e-300", "5e-324", "0.5", "1", "2.0", "3", "17", "604800", "604800.0001", "1e15",
                  "4294967295", "4294967296", "65535", "65536", "100000", "100001", "-1", ".nan", ".inf", "1e400"]
    # Bounded by count (the same 300 seeded cases on any machine) and by time (a shared machine may be slow).
    deadline = time.monotonic() + 120
    cases = loaded = 0
    while time.monotonic() < deadline and cases < 300:
        base = rng.choice(list(BASES.values()))
        paths = numeric_paths(base)
        data = copy.deepcopy(base)
        chosen = rng.sample(paths, rng.randint(1, 3))
        for path in chosen:  # every chosen key gets a number, written as YAML text
            node = data
            for step in path[:-1]:
                node = node[step]
            low, high = _range(path)
            kind = rng.random()
            if kind < 0.4:
                text = rng.choice(candidates)
            elif kind < 0.8 and high != float("inf"):
                text = repr(rng.uniform(max(low, -1e6), min(high, 1e6)))
            else:
                text = str(rng.randint(-10, 10 ** rng.randint(1, 7)))
            node[path[-1]] = f"{MARK}{len(chosen)}{text}"
        text = yaml.safe_dump(data, sort_keys=False, width=10_000)
        text = re.sub(rf"'?{MARK}\d([^\s',}}\]]+)'?", r"\1", text)
        cases += 1
        try:
            scenario = load_text(tmp_path, text)
        except BadInput as exc:
            assert "\n" not in str(exc) and str(exc).startswith(str(tmp_path / "s.yaml")), str(exc)
            continue
        loaded += 1
        _plan_works_with(scenario)
    assert cases == 300 and loaded >= 20, (cases, loaded)


def _plan_works_with(scenario) -> None:
    """What the run computes from a scenario before its first call: finite, and in bounds."""
    load = scenario.load
    assert 1 <= plan.provision(scenario) <= load.max_concurrent
    assert 0 < plan.longest_call_s(scenario) < float("inf")
    assert plan.control_calls(scenario) >= 0
    levels = plan.level(load, [0.0, load.duration_s / 2, load.duration_s])
    assert all(0 <= x < float("inf") for x in levels)
    if load.mode == "arrivals" and plan.planned_peak_rate(load) * load.duration_s <= 100_000:
        times = plan.load_arrival_times(load, scenario.seed)
        assert len(times) == 0 or 0 <= times.min() <= times.max() < load.duration_s
    for dist in (scenario.call.talk_time, scenario.agents.handle_time):
        if dist is not None:
            assert 0 <= plan.expected_duration_s(dist) <= plan.longest_duration_s(dist) < float("inf")
            draws = plan.sample_durations(dist, 50, plan.rng(scenario.seed, "fuzz"))
            assert all(0 <= d <= plan.longest_duration_s(dist) for d in draws)
