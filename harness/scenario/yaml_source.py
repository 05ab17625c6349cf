"""YAML read into plain data that remembers where every key and value was written.

Error messages about a configuration file must name the file, the line and the
key, so the document is composed into PyYAML's node tree (which carries marks)
and turned into dicts and lists by hand, recording each path's line.

Two deliberate departures from PyYAML's YAML 1.1 defaults, to match YAML 1.2
(what editors and the JSON Schema tooling assume):
- only true/false are booleans: `srtp: off` is the string "off", not False;
- `1e3` is a number, not the string "1e3".
Duplicate keys are an error (PyYAML keeps the last one silently).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import yaml

from callproof.harness.errors import BadInput

KeyPath = tuple[str | int, ...]


class _Yaml12Loader(yaml.SafeLoader):
    pass


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


@dataclasses.dataclass(frozen=True)
class Span:
    line: int  # 1-based line of the key (or of the list item)
    start: int  # character offsets of the value in the text
    end: int


@dataclasses.dataclass(frozen=True)
class YamlDocument:
    label: str  # how messages name the file, e.g. "scenarios/smoke.yaml"
    text: str
    data: Any
    spans: dict[KeyPath, Span]

    def line(self, path: KeyPath) -> int:
        """Line of `path`, or of its nearest ancestor written in the file (defaults are not)."""
        while path and path not in self.spans:
            path = path[:-1]
        return self.spans[path].line if path in self.spans else 1

    def error(self, path: KeyPath, sentence: str) -> BadInput:
        return self.error_at(self.line(path), sentence)

    def error_at(self, line: int, sentence: str) -> BadInput:
        return BadInput(f"{self.label}, line {line}: {sentence}")


def dotted(path: KeyPath) -> str:
    """`("faults", 0, "at_s")` -> "faults[0].at_s"."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def read_yaml(text: str, label: str) -> YamlDocument:
    """Parse one YAML document; syntax errors become BadInput naming the line."""
    loader = _Yaml12Loader(text)
    spans: dict[KeyPath, Span] = {}
    try:
        node = loader.get_single_node()
        if node is None:
            raise BadInput(f"{label}, line 1: the file is empty")
        spans[()] = Span(node.start_mark.line + 1, node.start_mark.index, node.end_mark.index)
        data = _build(loader, node, (), spans, label)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise BadInput(f"{label}, line {line}: the file is not valid YAML ({exc.problem or exc.context})") from None
    finally:
        loader.dispose()
    return YamlDocument(label=label, text=text, data=data, spans=spans)


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: KeyPath, spans: dict[KeyPath, Span], label: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise BadInput(f"{label}, line {line}: keys must be text, not {key!r}")
            child = path + (key,)
            if key in out:
                raise BadInput(
                    f"{label}, line {line}: {dotted(child)} is written twice (first on line {spans[child].line})"
                )
            spans[child] = Span(line, value_node.start_mark.index, value_node.end_mark.index)
            out[key] = _build(loader, value_node, child, spans, label)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item_node in enumerate(node.value):
            child = path + (index,)
            spans[child] = Span(item_node.start_mark.line + 1, item_node.start_mark.index, item_node.end_mark.index)
            items.append(_build(loader, item_node, child, spans, label))
        return items
    return loader.construct_object(node, deep=True)
