"""JSON Schema validation whose failures read as one located sentence.

jsonschema reports every violation with a path into the data and into the
schema. This module picks the one a person should fix first (unknown keys
before anything else, since a misspelt key also makes a required one
"missing"; then the earliest line) and words it from the failing keyword:

    scenarios/x.yaml, line 12: load.multiplier must be greater than 0 (got -1)

Conditional rules (`if`/`then`/`else`) are worded with their condition, read
from the `if` and the data: "load.peak_cps does not apply when load.mode is
concurrency". A `{"not": {}}` or `{"type": "null"}` inside a conditional
branch means "this key does not apply here". Patterns and alternatives are
worded from the subschema's `title`.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
from typing import Any

import jsonschema

from callproof.harness.scenario.yaml_source import KeyPath, YamlDocument, dotted
from callproof.sip.uri import redact

# JSON Schema counts 2.0 as an integer; Python does not (`range(2.0)`, numpy's seeds): a whole number is an int.
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda checker, value: isinstance(value, int) and not isinstance(value, bool)),
)

_TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping of keys",
    "null": "null",
}
_BRANCHES = ("then", "else")
_ABSENT = object()


def check(doc: YamlDocument, schema: dict[str, Any]) -> None:
    """Raise BadInput for the first violation of `schema` in `doc.data`."""
    validator = _Validator(schema)
    # Non-finite numbers first: on their line they are the problem, whatever a range says of them.
    found = _non_finite(doc, doc.data, ())
    found += [_Finding.of(doc, schema, error) for error in validator.iter_errors(doc.data)]
    if found:
        first = min(found, key=lambda f: f.rank)
        raise doc.error_at(first.line, first.sentence)


def fill_defaults(data: Any, schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """Copy of valid `data` with every absent key that has a schema `default` filled in, recursively."""
    root = root or schema
    schema = _resolve(root, schema)
    if isinstance(data, dict):
        out = dict(data)
        for key, sub in schema.get("properties", {}).items():
            if key not in out and _has_default(root, sub):
                out[key] = copy.deepcopy(_default(root, sub))
            if key in out:
                out[key] = fill_defaults(out[key], _object_branch(root, _resolve(root, sub), out[key]), root)
        return out
    if isinstance(data, list) and "items" in schema:
        return [fill_defaults(item, schema["items"], root) for item in data]
    return data


def _has_default(root: dict[str, Any], schema: Any) -> bool:
    return _default(root, schema, _ABSENT) is not _ABSENT


def _default(root: dict[str, Any], schema: Any, absent: Any = None) -> Any:
    """The `default` of a subschema, looking through $ref (a property's own default wins)."""
    while isinstance(schema, dict):
        if "default" in schema:
            return schema["default"]
        if "$ref" not in schema:
            break
        schema = _pointer(root, schema["$ref"])
    return absent


def _object_branch(root: dict[str, Any], schema: dict[str, Any], value: Any) -> dict[str, Any]:
    """For `anyOf: [null, X]`, the X that describes a non-null value."""
    for option in schema.get("anyOf", ()):
        option = _resolve(root, option)
        if value is not None and option.get("type") != "null":
            return option
    return schema


def _resolve(root: dict[str, Any], schema: Any) -> Any:
    while isinstance(schema, dict) and "$ref" in schema and set(schema) <= {"$ref", "description", "default", "title"}:
        schema = _pointer(root, schema["$ref"])
    return schema


def _pointer(root: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, not {ref}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _walk(root: dict[str, Any], schema_path: list[str | int]) -> Any:
    """The subschema at `schema_path`; jsonschema's paths step through $ref silently."""
    node: Any = root
    for step in schema_path:
        while isinstance(node, dict) and step not in node and "$ref" in node:
            node = _pointer(root, node["$ref"])
        node = node[step]
    return _resolve(root, node)


class _Finding:
    """One violation, worded, with its line and its rank among the others."""

    def __init__(self, line: int, sentence: str, *, unknown_key: bool, conditional: bool, depth: int) -> None:
        self.line = line
        self.sentence = sentence
        self.rank = (not unknown_key, line, conditional, -depth)

    @classmethod
    def of(cls, doc: YamlDocument, root: dict[str, Any], error: jsonschema.ValidationError) -> _Finding:
        path: KeyPath = tuple(error.absolute_path)
        if error.validator == "additionalProperties":
            key = min(_extra_keys(error), key=lambda k: doc.line(path + (k,)))
            child = path + (key,)
            return cls(
                doc.line(child), _unknown_key(child, error), unknown_key=True, conditional=False, depth=len(child)
            )
        if error.validator == "anyOf":
            branch = _single_plausible_branch(error)
            if branch:
                return min((cls.of(doc, root, sub) for sub in branch), key=lambda f: f.rank)
        when = _condition(doc, root, list(error.absolute_schema_path), path)
        return cls(
            doc.line(path), _sentence(error, path, when), unknown_key=False, conditional=bool(when), depth=len(path)
        )


def _non_finite(doc: YamlDocument, value: Any, path: KeyPath) -> list[_Finding]:
    """A finding for each NaN or infinity (`.nan`, `.inf`, `1e400`): JSON Schema's ranges compare false with
    NaN and infinity passes every minimum, so a run would take them; no scenario number may be one."""
    if isinstance(value, float) and not math.isfinite(value):
        span = doc.spans.get(path)
        written = " ".join(doc.text[span.start:span.end].split()) if span else repr(value)
        written = written if len(written) <= 40 else written[:37] + "..."
        sentence = f"{dotted(path) or 'the scenario'} must be a finite number (got {written})"
        return [_Finding(doc.line(path), sentence, unknown_key=False, conditional=False, depth=len(path))]
    if isinstance(value, dict):
        return [f for key, item in value.items() for f in _non_finite(doc, item, path + (key,))]
    if isinstance(value, list):
        return [f for index, item in enumerate(value) for f in _non_finite(doc, item, path + (index,))]
    return []


def _extra_keys(error: jsonschema.ValidationError) -> list[str]:
    known = set(error.schema.get("properties", {}))
    return [k for k in error.instance if k not in known]


def _unknown_key(path: KeyPath, error: jsonschema.ValidationError) -> str:
    key = str(path[-1])
    known = list(error.schema.get("properties", {}))
    if "password" in key.lower() or "secret" in key.lower():
        # The section's own password_env when it has one (agents), else the target's.
        home = dotted(path[:-1] + ("password_env",)) if "password_env" in known else "target.credentials.password_env"
        return f"{dotted(path)} would put a secret in the file; set an environment variable and name it in {home}"
    guess = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean {guess[0]}?" if guess else f"known keys: {', '.join(known)}"
    return f"{dotted(path)} is not a known key ({hint})"


def _single_plausible_branch(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """For anyOf: the errors of the only alternative whose type fits the value (a number
    that is not > 0 where "null or a number > 0" is wanted). Empty when the value's type
    fits several alternatives or its value is simply not one offered (the title says it)."""
    by_branch: dict[int, list[jsonschema.ValidationError]] = {}
    for sub in error.context:
        by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
    plausible = [
        errors
        for errors in by_branch.values()
        if not any(e.validator == "type" and not e.relative_path for e in errors)
    ]
    if len(plausible) != 1:
        return []
    if any(e.validator in ("const", "enum", "pattern") and not e.relative_path for e in plausible[0]):
        return []
    return plausible[0]


def _condition(doc: YamlDocument, root: dict[str, Any], schema_path: list[str | int], path: KeyPath) -> str:
    """For an error inside a then/else branch, its condition as read in the data
    ("load.mode is arrivals"); "" for any other error."""
    branch_at = max((i for i, step in enumerate(schema_path) if step in _BRANCHES), default=None)
    if branch_at is None:
        return ""
    container = _walk(root, schema_path[:branch_at])
    # The object schema whose properties the `if` reads: the container itself, or
    # the schema holding the `allOf` the container is an item of.
    in_all_of = branch_at >= 2 and schema_path[branch_at - 2] == "allOf"
    owner_schema = _walk(root, schema_path[: branch_at - 2]) if in_all_of else container
    owner_path = path[: len(path) - _data_depth(schema_path[branch_at + 1 :])]
    owner = _value_at(doc.data, owner_path)
    words = []
    for key in container["if"].get("properties", {}):
        default = _default(root, owner_schema.get("properties", {}).get(key, {}))
        value = owner.get(key, default) if isinstance(owner, dict) else None
        words.append(f"{dotted(owner_path + (key,))} is {_show_plain(value)}")
    return " and ".join(words)


def _data_depth(schema_steps: list[str | int]) -> int:
    """How many levels into the data a run of schema steps descends."""
    depth, i = 0, 0
    while i < len(schema_steps):
        if schema_steps[i] == "properties":
            depth, i = depth + 1, i + 2  # `properties, KEY`
        else:
            depth, i = depth + (schema_steps[i] == "items"), i + 1
    return depth


def _value_at(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part]
    return data


def _sentence(error: jsonschema.ValidationError, path: KeyPath, when: str) -> str:
    name = dotted(path) or "the scenario"
    kind = error.validator
    value = error.validator_value
    # A value written where an environment variable's name belongs may be the secret itself.
    shown = json.dumps(error.instance) if kind == "type" and isinstance(error.instance, float) else None
    got = "" if path and str(path[-1]).endswith("_env") else f" (got {shown or _show(error.instance)})"
    suffix = f" when {when}" if when else ""
    if when and (kind == "not" or (kind == "type" and value == "null")):
        return f"{name} does not apply when {when} (remove it)"
    if kind == "required":
        missing = [k for k in value if k not in error.instance]
        return f"{name} needs the key {missing[0]}{suffix}"
    if kind == "type":
        types = [value] if isinstance(value, str) else value
        return f"{name} must be {' or '.join(_TYPE_WORDS[t] for t in types)}{suffix}{got}"
    if kind == "enum":
        return f"{name} must be one of {', '.join(_show_plain(v) for v in value)}{suffix}{got}"
    if kind == "const":
        return f"{name} must be {_show_plain(value)}{suffix}{got}"
    if kind == "minimum":
        return f"{name} must be at least {_show(value)}{suffix}{got}"
    if kind == "exclusiveMinimum":
        return f"{name} must be greater than {_show(value)}{suffix}{got}"
    if kind == "maximum":
        return f"{name} must be at most {_show(value)}{suffix}{got}"
    if kind == "exclusiveMaximum":
        return f"{name} must be less than {_show(value)}{suffix}{got}"
    if kind == "minLength":
        return f"{name} must not be empty{suffix}"
    if kind == "minItems":
        return f"{name} must list at least {value} item{'s' if value != 1 else ''}{suffix}"
    if kind == "uniqueItems":
        items = error.instance
        twice = next(item for i, item in enumerate(items) if item in items[:i])
        return f"{name} lists {_show_plain(twice)} twice"
    title = error.schema.get("title") if isinstance(error.schema, dict) else None
    if title:  # pattern, anyOf: the subschema's title says what is wanted
        return f"{name} must be {title}{suffix}{got}"
    return f"{name}: {error.message}"


def _show(value: Any) -> str:
    """A value as the user wrote it in YAML, shortened; never the password of a SIP URI."""
    if isinstance(value, str):
        value = redact(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    try:
        text = json.dumps(value, ensure_ascii=False)
    except TypeError:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + '..."'


def _show_plain(value: Any) -> str:
    return value if isinstance(value, str) else _show(value)
