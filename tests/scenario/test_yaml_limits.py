"""YAML from the other party (issue 14, section 6): size, depth, alias and value limits, each one sentence
with the line; and a bounded fuzz pass over YAML built to stress them, where only BadInput may come out."""

from __future__ import annotations

import random
import time

import pytest

from callproof.harness.errors import BadInput
from callproof.harness.scenario import yaml_source
from callproof.harness.scenario.loader import load_scenario
from callproof.harness.scenario.yaml_source import read_yaml
from tests.scenario.test_scenario_errors import BASE


def refusal(text: str) -> str:
    with pytest.raises(BadInput) as caught:
        read_yaml(text, "s.yaml")
    return str(caught.value)


def test_limits_are_one_sentence_with_the_line():
    assert refusal("a: 1\nb:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(40)) + " " * 82 + "v: 1\n") \
        == "s.yaml, line 33: the file nests deeper than 32 levels"
    assert refusal("x" * (yaml_source.MAX_BYTES + 1)) == \
        "s.yaml: the file is larger than 1,048,576 characters; a scenario is a few KiB"
    assert refusal("a: [" + ", ".join(["1"] * yaml_source.MAX_NODES) + "]\n") == \
        "s.yaml, line 1: the file holds more than 100,000 values"
    assert refusal("a: &a {b: 1}\nc: {d: *a}\ne: &e {f: *e}\n") == \
        "s.yaml, line 3: an alias refers to a value that contains it"
    assert refusal("? {a: 1}\n: 2\n") == "s.yaml, line 1: keys must be text, not a list or mapping"
    assert refusal("a: !!float one\n") == \
        "s.yaml, line 1: 'one' is not a valid number (could not convert string to float: 'one')"
    assert refusal("a: \x1b[31m\n") == ("s.yaml, line 1: the file holds the character U+001B, which YAML does not "
                                       "allow (control characters are refused)")


def test_what_scenarios_use_stays_allowed():
    """Anchors, aliases and merge keys within the budget still read (a hand-written scenario may use them)."""
    text = "base: &base {x: 1, y: [1, 2]}\nuse: {<<: *base, z: 3}\nagain: *base\nmany: [" + \
        ", ".join(["*base"] * 90) + "]\n"
    data = read_yaml(text, "s.yaml").data
    assert data["use"] == {"x": 1, "y": [1, 2], "z": 3} and data["again"] == {"x": 1, "y": [1, 2]}
    assert len(data["many"]) == 90


def _hostile_yaml(rng: random.Random) -> str:
    """A scenario with one of the hostile constructs grafted in between its top-level keys."""
    lines = [line for line in BASE.splitlines() if not line.startswith("description:")]
    depth = rng.choice([5, 31, 32, 33, 200, 5000])
    width = rng.choice([2, 9, 30])
    levels = rng.choice([2, 4, 6, 9])
    bomb = ["x0: &x0 [" + ", ".join(["lol"] * width) + "]"] + [
        f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * width) + "]" for i in range(1, levels)]
    graft = rng.choice([
        "description: " + "[" * depth + "]" * depth,
        "description: " + "{a: " * depth + "1" + "}" * depth,
        "seed: " + str(rng.randrange(10)) * rng.choice([10, 4300, 4301, 20000]),
        "seed: -0x" + "f" * rng.choice([10, 5000]),
        "description: &loop [a, *loop]",
        "description: &m {<<: *m}",
        "description: " + rng.choice(["\x00", "\x07", "\x1b", "\ufffe", "\x85", "\u202e"]) + "x",
        "description: \"" + rng.choice(["\\e[2J", "\\x00", "\\u202e", "\\N", "\\L"]) + "\"",
        "seed: " + rng.choice(["2026-02-30", "2026-13-01", ".nan", ".inf", "1e400", "!!int x", "!!timestamp x",
                               "!!binary ===", "!!python/object:os.system x", "!!set {a, b}", "!!omap [a: 1]"]),
        "\n".join(bomb) + f"\ndescription: *x{levels - 1}",
        "description: [" + ", ".join(["&a" + str(i) + " 1" for i in range(rng.choice([10, 200]))]) + "]",
        "description: *undefined",
        "? " + rng.choice(["[a]", "{a: 1}", "!!binary aGk=", "1"]) + "\n: 1",
    ])
    at = rng.choice([i for i in range(len(lines) + 1) if i == len(lines) or not lines[i].startswith(" ")])
    return "\n".join(lines[:at] + [graft] + lines[at:]) + "\n"


def test_fuzzed_hostile_yaml_never_raises_anything_but_bad_input(tmp_path):
    rng = random.Random(14)
    path = tmp_path / "fuzz.yaml"
    deadline = time.monotonic() + 60
    outcomes = {"refused": 0, "read": 0}
    for _ in range(600):
        if time.monotonic() > deadline:
            break
        text = _hostile_yaml(rng)
        path.write_text(text)
        started = time.monotonic()
        try:
            load_scenario(path, offline=True)
            outcomes["read"] += 1
        except BadInput as exc:
            message = str(exc)
            assert message.startswith(f"{path}"), message
            assert "\n" not in message, message  # one sentence, one line
            outcomes["refused"] += 1
        assert time.monotonic() - started < 5, text[:200]
    assert outcomes["refused"] >= 100 and outcomes["read"] >= 50, outcomes
