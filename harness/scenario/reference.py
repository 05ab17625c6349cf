"""The scenario file reference, written from scenarios/schema.json: every key, its type,
default, allowed values and description, as Markdown.

    python -m callproof.harness.scenario.reference > docs/scenario-reference.md

The schema is the one source: editors complete from it, the loader validates with
it, and this page is generated from it (tests/docs/ fails when the committed page is
stale). It reads only the constructs the schema uses: `$ref` into `$defs`, `type`
(one or a list), `enum`, `const`, `anyOf`, `properties`, `items`, bounds, `pattern`
(worded by the subschema's `title` when it has one) and `allOf` of `if`/`then`/`else`
rules between keys.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from callproof.harness.scenario.loader import scenario_schema

COMMAND = "python -m callproof.harness.scenario.reference > docs/scenario-reference.md"
Schema = dict[str, Any]

_TYPE_WORDS = {
    "integer": "whole number",
    "number": "number",
    "string": "text",
    "boolean": "true or false",
    "array": "list",
    "object": "mapping",
    "null": "null",
}


def render(schema: Schema) -> str:
    """The whole reference page."""
    root = _Root(schema)
    out = [
        "# Scenario file reference",
        "",
        f"<!-- Generated from scenarios/schema.json by `{COMMAND}`; edit the schema, not this file. -->",
        "",
        _cell(schema.get("description", "")).replace("\\|", "|"),
        "",
        "Every key of a scenario file, section by section. **required** keys must be written;",
        "every other key takes its default when left out, or stays unset (\"not set\": the",
        "description and the rules between keys say what that means). How to write a scenario:",
        "[scenarios.md](scenarios.md).",
        "",
    ]
    top = {k: v for k, v in schema["properties"].items() if not _is_section(root, v)}
    out += _section(root, "Top level", "", {"properties": top, "required": schema.get("required", [])}, "")
    for key, sub in schema["properties"].items():
        if not _is_section(root, sub):
            continue
        resolved = root.resolve(sub)
        required = " (required)" if key in schema.get("required", []) else ""
        items = root.resolve(resolved.get("items", {}))
        if "properties" in items:  # a list of mappings: one row per key of an item
            out += _section(root, f"`{key}`{required}", f"{key}[]", items, resolved.get("description", ""))
        else:
            out += _section(root, f"`{key}`{required}", key, resolved, resolved.get("description", ""))
    for name in root.shared:
        definition = schema["$defs"][name]
        uses = ", ".join(f"`{use}`" for use in root.uses[name])
        description = f"{definition.get('description', '')} Written at {uses}."
        out += _section(root, f"{definition.get('title', name).capitalize()} (`{name}`)", "", definition,
                        description, anchor=name)
    return "\n".join(out).rstrip("\n") + "\n"


# Every keyword this page can word; another one in the schema stops the generator, so the
# page never silently leaves a rule out.
_KEYWORDS = {
    "$schema", "$defs", "$ref", "title", "description", "default", "type", "enum", "const", "anyOf",
    "allOf", "if", "then", "else", "not", "properties", "additionalProperties", "required", "items",
    "minItems", "uniqueItems", "minimum", "exclusiveMinimum", "maximum", "minLength", "pattern",
}


def _check_keywords(node: Schema, where: str = "#") -> None:
    unknown = set(node) - _KEYWORDS
    if unknown:
        raise ValueError(f"{where}: the reference cannot word {', '.join(sorted(unknown))}; extend {__name__}")
    for keyword in ("properties", "$defs"):
        for name, sub in node.get(keyword, {}).items():
            _check_keywords(sub, f"{where}/{keyword}/{name}")
    for keyword in ("items", "if", "then", "else", "not"):
        if isinstance(node.get(keyword), dict):
            _check_keywords(node[keyword], f"{where}/{keyword}")
    for keyword in ("anyOf", "allOf"):
        for i, sub in enumerate(node.get(keyword, [])):
            _check_keywords(sub, f"{where}/{keyword}/{i}")


class _Root:
    """The schema, its `$ref`s resolved, and which object definitions are shared."""

    def __init__(self, schema: Schema) -> None:
        _check_keywords(schema)
        self.schema = schema
        counts: dict[str, int] = {}
        _count_refs(schema, counts)
        # An object definition used in more than one place gets its own section, linked from each use.
        self.shared = [name for name, n in counts.items()
                       if n > 1 and "properties" in schema["$defs"][name]]
        self.uses: dict[str, list[str]] = {name: [] for name in self.shared}  # keys that refer to each

    def resolve(self, sub: Schema) -> Schema:
        """`sub` with its `$ref` merged in (the referring schema's own keywords win)."""
        if "$ref" not in sub:
            return sub
        target = self.resolve(self.schema["$defs"][_ref_name(sub["$ref"])])
        merged = {**target, **{k: v for k, v in sub.items() if k != "$ref"}}
        if "title" not in sub and "title" in target:
            merged["title"] = target["title"]
        return merged

    def shared_name(self, sub: Schema) -> str | None:
        """The shared definition `sub` refers to, itself or as one of its alternatives."""
        for candidate in (sub, *sub.get("anyOf", [])):
            if "$ref" in candidate and _ref_name(candidate["$ref"]) in self.shared:
                return _ref_name(candidate["$ref"])
        return None


def _count_refs(node: Any, counts: dict[str, int]) -> None:
    if isinstance(node, dict):
        if "$ref" in node:
            name = _ref_name(node["$ref"])
            counts[name] = counts.get(name, 0) + 1
        for value in node.values():
            _count_refs(value, counts)
    elif isinstance(node, list):
        for value in node:
            _count_refs(value, counts)


def _ref_name(ref: str) -> str:
    prefix = "#/$defs/"
    if not ref.startswith(prefix):
        raise ValueError(f"unsupported $ref {ref!r}: only {prefix}NAME")
    return ref[len(prefix):]


def _is_section(root: _Root, sub: Schema) -> bool:
    resolved = root.resolve(sub)
    return "properties" in resolved or "properties" in root.resolve(resolved.get("items", {}))


def _section(root: _Root, title: str, path: str, schema: Schema, description: str, *,
             anchor: str | None = None) -> list[str]:
    out = ([f'<a id="{anchor}"></a>'] if anchor else []) + [f"## {title}", ""]
    if description:
        out += [_cell(description).replace("\\|", "|"), ""]
    out += ["| key | type | default | allowed | description |", "| --- | --- | --- | --- | --- |"]
    out += _rows(root, path, schema)
    rules = _rules(root, path, schema)
    if rules:
        out += ["", "Rules between keys:", ""] + [f"- {rule}" for rule in rules]
    return out + [""]


def _rows(root: _Root, path: str, schema: Schema) -> list[str]:
    rows = []
    required = schema.get("required", [])
    for key, sub in schema.get("properties", {}).items():
        dotted = f"{path}.{key}" if path else key
        shared = root.shared_name(sub)
        resolved = root.resolve(sub)
        if "default" in resolved:
            default = f"`{_yaml(resolved['default'])}`"
        else:
            default = "**required**" if key in required else "not set"
        description = resolved.get("description", "")
        if shared:
            description = f"{description} See [{shared}](#{shared}).".strip()
            root.uses[shared].append(dotted)
        rows.append(f"| `{dotted}` | {_type(root, resolved)} | {default} | {_cell(_allowed(root, resolved))} "
                    f"| {_cell(description)} |")
        if shared:
            continue  # its keys are listed once, in its own section
        nested = _object_of(root, resolved)
        if nested is not None:
            rows += _rows(root, dotted, nested)
        items = root.resolve(resolved.get("items", {}))
        if "properties" in items:
            rows += _rows(root, f"{dotted}[]", items)
    return rows


def _object_of(root: _Root, schema: Schema) -> Schema | None:
    """The object schema among `schema` and its alternatives (an object or null), if any."""
    if "properties" in schema:
        return schema
    for alternative in schema.get("anyOf", []):
        resolved = root.resolve(alternative)
        if "properties" in resolved and root.shared_name(alternative) is None:
            return resolved
    return None


def _type(root: _Root, schema: Schema) -> str:
    if "anyOf" in schema:
        words = []
        for alternative in schema["anyOf"]:
            word = _type(root, root.resolve(alternative))
            if word not in words:
                words.append(word)
        return " or ".join(words)
    if "const" in schema:
        return f"`{_yaml(schema['const'])}`"
    if "enum" in schema:
        kinds = {type(value) for value in schema["enum"]}
        return "whole number" if kinds == {int} else "text" if kinds == {str} else "value"
    types = schema.get("type")
    if types is None:
        raise ValueError(f"no type in schema {json.dumps(schema)[:120]}")
    types = [types] if isinstance(types, str) else types
    if types == ["array"] and "items" in schema:
        return f"list of {_type(root, root.resolve(schema['items']))}"
    return " or ".join(_TYPE_WORDS[t] for t in types)


def _allowed(root: _Root, schema: Schema) -> str:
    """Values, bounds and patterns, in words."""
    parts = []
    if "anyOf" in schema:
        parts = [part for alternative in schema["anyOf"] if (part := _allowed(root, root.resolve(alternative)))]
        return "; or ".join(parts)
    if "const" in schema:
        parts.append(f"`{_yaml(schema['const'])}`")
    if "enum" in schema:
        parts.append(", ".join(f"`{_yaml(value)}`" for value in schema["enum"]))
    lower = schema.get("minimum")
    lower_open = schema.get("exclusiveMinimum")
    upper = schema.get("maximum")
    if lower is not None and upper is not None:
        parts.append(f"{_number(lower)} to {_number(upper)}")
    elif lower_open is not None and upper is not None:
        parts.append(f"> {_number(lower_open)}, ≤ {_number(upper)}")
    elif lower is not None:
        parts.append(f"≥ {_number(lower)}")
    elif lower_open is not None:
        parts.append(f"> {_number(lower_open)}")
    elif upper is not None:
        parts.append(f"≤ {_number(upper)}")
    if "pattern" in schema:
        parts.append(schema.get("title") or f"matches `{schema['pattern']}`")
    if schema.get("minLength") == 1:
        parts.append("not empty")
    elif "minLength" in schema:
        parts.append(f"at least {schema['minLength']} characters")
    items = root.resolve(schema.get("items", {}))
    if items and "properties" not in items:
        item_parts = _allowed(root, items)
        if item_parts:
            parts.append(f"each: {item_parts}")
    if "minItems" in schema:
        parts.append(f"at least {schema['minItems']}")
    if schema.get("uniqueItems"):
        parts.append("no repeats")
    return "; ".join(parts)


def _rules(root: _Root, path: str, schema: Schema) -> list[str]:
    """The `allOf` if/then/else rules of an object, in words."""
    rules = []
    properties = schema.get("properties", {})
    for rule in schema.get("allOf", []):
        condition = _condition(root, path, properties, rule["if"])
        for branch, lead in (("then", f"When {condition}"), ("else", f"Unless {condition}")):
            if branch in rule:
                effects = _effects(path, rule[branch])
                if effects:
                    rules.append(f"{lead}: {'; '.join(effects)}.")
    return rules


def _condition(root: _Root, path: str, properties: Schema, test: Schema) -> str:
    words = []
    for key, sub in test.get("properties", {}).items():
        dotted = f"`{path}.{key}`" if path else f"`{key}`"
        if "const" in sub:
            value = sub["const"]
            default = root.resolve(properties.get(key, {})).get("default", object())
            note = " (its default)" if value == default and key not in test.get("required", []) else ""
            words.append(f"{dotted} is `{_yaml(value)}`{note}")
        elif sub.get("type") == "null":
            words.append(f"{dotted} is null")
        else:
            raise ValueError(f"unsupported condition {json.dumps(sub)}")
    return " and ".join(words)


def _effects(path: str, branch: Schema) -> list[str]:
    effects = []
    for key in branch.get("required", []):
        effects.append(f"`{_join(path, key)}` is required")
    for key, sub in branch.get("properties", {}).items():
        if sub == {"not": {}} or sub.get("type") == "null":
            effects.append(f"`{_join(path, key)}` does not apply")
    return effects


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _yaml(value: Any) -> str:
    """A value as it is written in a scenario file (YAML flow style)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, str):
        return value if value and value[0] not in "*&!{[" and value not in ("null", "true", "false") \
            else json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"unexpected default {value!r}")


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def main() -> int:
    sys.stdout.write(render(scenario_schema()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
