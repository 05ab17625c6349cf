"""docs/scenario-reference.md is generated from scenarios/schema.json, and is never stale."""

from __future__ import annotations

import copy
import re
import subprocess
import sys

import pytest

from callproof.harness.scenario import reference
from callproof.harness.scenario.loader import scenario_schema
from tests.docs.markdown import ROOT, doc

REFERENCE = "scenario-reference.md"


def test_the_committed_reference_is_the_schemas():
    committed = doc(REFERENCE).read_text(encoding="utf-8")
    assert committed == reference.render(scenario_schema()), (
        f"docs/{REFERENCE} is stale: scenarios/schema.json changed. Refresh it with\n"
        f"    .venv/bin/{reference.COMMAND}"
    )


def test_the_command_the_page_names_writes_the_page():
    done = subprocess.run([sys.executable, "-P", "-m", "callproof.harness.scenario.reference"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == doc(REFERENCE).read_text(encoding="utf-8")
    assert f"`{reference.COMMAND}`" in done.stdout


def schema_keys(schema: dict) -> dict[str, dict]:
    """Every key a scenario file can hold, dotted (`faults[].at_s`), with its schema resolved,
    the keys of the shared distribution by their own name."""
    defs = schema["$defs"]

    def resolve(sub: dict) -> dict:
        while "$ref" in sub:
            target = defs[sub["$ref"].removeprefix("#/$defs/")]
            sub = {**target, **{k: v for k, v in sub.items() if k != "$ref"}}
        return sub

    found: dict[str, dict] = {}

    def walk(properties: dict, prefix: str) -> None:
        for key, sub in properties.items():
            dotted = f"{prefix}{key}"
            if any(alt.get("$ref") == "#/$defs/distribution" for alt in [sub, *sub.get("anyOf", [])]):
                found[dotted] = resolve(sub)
                continue
            resolved = resolve(sub)
            found[dotted] = resolved
            nested = [resolve(alt) for alt in [resolved, *resolved.get("anyOf", [])] if "properties" in resolve(alt)]
            for obj in nested[:1]:
                walk(obj["properties"], f"{dotted}.")
            items = resolve(resolved.get("items", {}))
            if "properties" in items:
                walk(items["properties"], f"{dotted}[].")

    walk(schema["properties"], "")
    walk(defs["distribution"]["properties"], "")
    return found


def sections(schema: dict) -> list[str]:
    """Top-level keys that hold mappings (or lists of them): each is a heading, not a row."""
    defs = schema["$defs"]

    def resolve(sub: dict) -> dict:
        return defs[sub["$ref"].removeprefix("#/$defs/")] if "$ref" in sub else sub

    return [key for key, sub in schema["properties"].items()
            if "properties" in resolve(sub) or "properties" in resolve(resolve(sub).get("items", {}))]


def reference_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^\| `([^`]+)` \|(.*)\|$", line)
        if match:
            rows[match[1]] = [cell.strip() for cell in re.split(r"(?<!\\)\|", match[2])]
    return rows


def test_every_key_of_the_schema_has_one_row_with_its_default():
    schema = scenario_schema()
    keys = schema_keys(schema)
    text = doc(REFERENCE).read_text(encoding="utf-8")
    rows = reference_rows(text)
    headings = sections(schema)
    assert sorted(rows) == sorted(key for key in keys if key not in headings)
    for key in headings:
        assert re.search(rf"^## `{key}`( \(required\))?$", text, flags=re.MULTILINE), key
    for key, sub in keys.items():
        if key in headings:
            continue
        _type, default, _allowed, description = rows[key]
        if "default" in sub:
            assert default == f"`{reference._yaml(sub['default'])}`", key
        else:
            assert default in ("**required**", "not set"), key
        assert " ".join(sub.get("description", "").split()).replace("|", "\\|") in description, key


def test_required_keys_are_marked_required():
    rows = reference_rows(doc(REFERENCE).read_text(encoding="utf-8"))
    for key in ("name", "description", "target.uri", "load.duration_s", "load.max_cps", "load.max_concurrent",
                "call.talk_time", "faults[].at_s", "processes[].command", "distribution"):
        assert rows[key][1] == "**required**", key
    assert rows["load.multiplier"][1] == "`1`" and rows["load.multiplier"][2] == "> 0, ≤ 100"
    assert rows["sla.mos_cqe_p5_min"][2] == "1 to 4.5"


def test_rules_between_keys_are_worded():
    text = doc(REFERENCE).read_text(encoding="utf-8")
    assert ("When `load.mode` is `concurrency` (its default): `load.peak_concurrent` is required; "
            "`load.peak_cps` does not apply.") in text
    assert "Unless `load.shape` is `step`: `load.steps` does not apply." in text
    assert "When `distribution` is `fixed`: `value_s` is required;" in text


def test_a_keyword_the_generator_cannot_word_stops_it():
    schema = copy.deepcopy(scenario_schema())
    schema["$defs"]["load"]["properties"]["multiplier"]["multipleOf"] = 0.5
    with pytest.raises(ValueError, match="multipleOf"):
        reference.render(schema)


def test_a_changed_schema_changes_the_page():
    # The staleness check can fail: a new description shows up in the rendering.
    schema = copy.deepcopy(scenario_schema())
    schema["$defs"]["load"]["properties"]["multiplier"]["description"] = "A changed description."
    assert "A changed description." in reference.render(schema)
    assert reference.render(schema) != doc(REFERENCE).read_text(encoding="utf-8")
