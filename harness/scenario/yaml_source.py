"""YAML read into plain data that remembers where every key and value was written.

Error messages about a configuration file must name the file, the line and the
key, so the document is composed into PyYAML's node tree (which carries marks)
and turned into dicts and lists by hand, recording each path's line.

Two deliberate departures from PyYAML's YAML 1.1 defaults, to match YAML 1.2
(what editors and the JSON Schema tooling assume):
- only true/false are booleans: `srtp: off` is the string "off", not False;
- `1e3` is a number, not the string "1e3".
Duplicate keys are an error (PyYAML keeps the last one silently).

A scenario may come from the other party (a vendor's scenario, a bundle's
scenario.yaml), so reading one is bounded, and each limit is one sentence naming the
line (BadInput, exit code 2):
- MAX_BYTES characters of text; control characters are refused, as YAML refuses them;
- MAX_DEPTH levels of nesting, counted as nodes are composed (PyYAML's composer
  recurses, and 5,000 levels used to end in a RecursionError);
- MAX_ALIASES uses of an alias (*name), and MAX_NODES values in all, counted as the
  document is composed and again with every alias expanded: a 402-byte "billion
  laughs" used to grow to 2.1 GB; an alias inside its own anchor is refused;
- a scalar PyYAML cannot construct (an integer over Python's 4,300 digits, a
  timestamp with month 13) is named, not a traceback.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

import yaml

from callproof.harness.errors import BadInput

KeyPath = tuple[str | int, ...]

MAX_BYTES = 1 << 20  # a scenario is a few KiB
MAX_DEPTH = 32  # levels of nesting; scenarios use five
MAX_ALIASES = 100  # uses of *name
MAX_NODES = 100_000  # values in the document, aliases expanded


class _Limit(Exception):
    """A document beyond one of the limits, at a mark."""

    def __init__(self, mark: yaml.Mark | None, sentence: str) -> None:
        super().__init__(sentence)
        self.line = mark.line + 1 if mark else 1


class _Yaml12Loader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.nodes = 0
        self.aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _Limit(mark, f"the file uses aliases (*name) more than {MAX_ALIASES} times")
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Limit(mark, f"the file holds more than {MAX_NODES:,} values")
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Limit(mark, f"the file nests deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


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


def read_text(path: Path, label: str) -> str:
    """A YAML file's text: a regular file (a named link is followed), at most MAX_BYTES, UTF-8."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)  # a FIFO must not block
    except OSError as exc:
        raise BadInput(f"{label}: cannot read the file ({exc.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise BadInput(f"{label} is a folder, not a scenario file")
        raise BadInput(f"{label} is not a regular file (a FIFO, a device or a socket)")
    with os.fdopen(fd, "rb") as stream:
        data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise BadInput(f"{label}: the file is larger than {MAX_BYTES:,} bytes; a scenario is a few KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{label}: the file is not UTF-8 text") from None


def read_yaml(text: str, label: str) -> YamlDocument:
    """Parse one YAML document; syntax errors and the limits above become BadInput naming the line."""
    if len(text) > MAX_BYTES:
        raise BadInput(f"{label}: the file is larger than {MAX_BYTES:,} characters; a scenario is a few KiB")
    spans: dict[KeyPath, Span] = {}
    loader = None
    try:
        loader = _Yaml12Loader(text)
        node = loader.get_single_node()
        if node is None:
            raise BadInput(f"{label}, line 1: the file is empty")
        spans[()] = Span(node.start_mark.line + 1, node.start_mark.index, node.end_mark.index)
        data = _PlainData(loader, spans, label).build(node, ())
    except _Limit as exc:
        raise BadInput(f"{label}, line {exc.line}: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = " ".join(str(exc.problem or exc.context).split())  # one line
        raise BadInput(f"{label}, line {line}: the file is not valid YAML ({problem})") from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1 if isinstance(exc.position, int) else 1
        character = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        raise BadInput(f"{label}, line {line}: the file holds the character {character}, which YAML does not "
                       "allow (control characters are refused)") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"{label}: the file is not valid YAML ({' '.join(str(exc).split())})") from None
    finally:
        if loader is not None:
            loader.dispose()
    return YamlDocument(label=label, text=text, data=data, spans=spans)


_TAG_WORDS = {"int": "integer", "float": "number", "bool": "boolean", "timestamp": "timestamp", "binary": "binary"}


class _PlainData:
    """Composed nodes into dicts and lists, recording each path's span, aliases counted as they expand."""

    def __init__(self, loader: _Yaml12Loader, spans: dict[KeyPath, Span], label: str) -> None:
        self.loader = loader
        self.spans = spans
        self.label = label
        self.built = 0
        self.open: set[int] = set()  # ids of the collections being built: an alias to one is a cycle

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        self.built += 1
        if self.built > MAX_NODES:
            raise _Limit(node.start_mark, f"its aliases expand the file to more than {MAX_NODES:,} values")
        if len(path) > MAX_DEPTH:
            raise _Limit(node.start_mark, f"its aliases nest the file deeper than {MAX_DEPTH} levels")
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if id(node) in self.open:
            raise _Limit(node.start_mark, "an alias refers to a value that contains it")
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self.mapping(node, path)
            assert isinstance(node, yaml.SequenceNode), "a YAML node is a scalar, a mapping or a sequence"
            return self.sequence(node, path)
        finally:
            self.open.discard(id(node))

    def mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            key = self.scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                shown = "a list or mapping" if key is None else repr(key)
                raise BadInput(f"{self.label}, line {line}: keys must be text, not {shown}")
            child = path + (key,)
            if key in out:
                first = self.spans[child].line
                raise BadInput(f"{self.label}, line {line}: {dotted(child)} is written twice (first on line {first})")
            self.spans[child] = Span(line, value_node.start_mark.index, value_node.end_mark.index)
            out[key] = self.build(value_node, child)
        return out

    def sequence(self, node: yaml.SequenceNode, path: KeyPath) -> list[Any]:
        items = []
        for index, item_node in enumerate(node.value):
            child = path + (index,)
            self.spans[child] = Span(item_node.start_mark.line + 1, item_node.start_mark.index,
                                     item_node.end_mark.index)
            items.append(self.build(item_node, child))
        return items

    def scalar(self, node: yaml.ScalarNode) -> Any:
        line = node.start_mark.line + 1
        try:
            value = self.loader.construct_object(node, deep=True)
        # PyYAML's constructors fail in many ways on an explicit tag over the wrong text (`!!timestamp x`
        # raises AttributeError): each is this scalar's problem, named by its line.
        except (ValueError, OverflowError, TypeError, AttributeError, IndexError, KeyError) as exc:
            kind = _TAG_WORDS.get(node.tag.rsplit(":", 1)[-1], node.tag)
            if kind == "integer" and "digits" in str(exc):
                raise self.big_integer(line, sum(c.isdigit() for c in node.value)) from None
            text = node.value if len(node.value) <= 40 else node.value[:37] + "..."
            raise BadInput(f"{self.label}, line {line}: {text!r} is not a valid {kind} ({exc})") from None
        # Hexadecimal, octal and binary integers have no digit limit in Python, but nothing can print them.
        if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
            raise self.big_integer(line, int(value.bit_length() * math.log10(2)) + 1)
        return value

    def big_integer(self, line: int, digits: int) -> BadInput:
        return BadInput(f"{self.label}, line {line}: an integer of {digits:,} digits is no scenario value "
                        f"(callproof reads at most {sys.get_int_max_str_digits():,})")


_MAX_INT_BITS = int(sys.get_int_max_str_digits() / math.log10(2))  # the largest integer Python will print
