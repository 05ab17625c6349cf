"""Asterisk's configuration dialect, parsed strictly enough to catch mistakes.

No Asterisk runs here (Debian 12 does not package it), so the files under
docker/asterisk/ are checked by parsing them the way Asterisk's config loader
(main/config.c) reads them:

    [name]                a section; names may repeat (pjsip.conf: endpoint,
                          auth and aor of one agent share a name)
    [name](!)             a template
    [name](!,a,b)         a template inheriting a, then b
    [name](a)             a section inheriting a (which must come earlier)
    [name](+)             more options for the last section of that name
    key = value           an option
    key => value          an option, object style (exten =>, member =>)
    ; comment             to the end of the line; \\; is a literal semicolon
    ;-- block --;         a block comment
    #include file        the file's lines, in place (relative to this file)

Inherited options come first, then the section's own, so the last value of a
key wins, as Asterisk's sorcery applies them in order.

Dialplan lines (`exten => NAME,PRIORITY,App(args)` and `same => ...`) are
parsed from extensions.conf sections into `Priority` records.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

_SECTION = re.compile(r"^\[([^\[\]]+)\](?:\(([^()]*)\))?$")
_APP = re.compile(r"^(\w+)(?:\((.*)\))?$")
_PRIORITY = re.compile(r"^(\d+|n)(?:\(([\w-]+)\))?$")


class ConfigError(Exception):
    """A line Asterisk would reject or misread; the message names file and line."""


@dataclasses.dataclass(frozen=True)
class Section:
    name: str
    template: bool
    parents: tuple[str, ...]
    options: tuple[tuple[str, str], ...]  # inherited first, then own, in file order
    path: Path
    line: int

    def get(self, key: str) -> str | None:
        values = self.get_all(key)
        return values[-1] if values else None

    def get_all(self, key: str) -> list[str]:
        return [value for name, value in self.options if name == key]


@dataclasses.dataclass
class _SectionBuilder:
    name: str
    template: bool
    parents: tuple[str, ...]
    options: list[tuple[str, str]]
    path: Path
    line: int

    def freeze(self) -> Section:
        return Section(self.name, self.template, self.parents, tuple(self.options), self.path, self.line)


def _strip_comment(text: str, in_block: bool) -> tuple[str, bool]:
    """The line without comments, and whether a block comment is still open."""
    out = []
    i = 0
    while i < len(text):
        if in_block:
            end = text.find("--;", i)
            if end < 0:
                return "".join(out), True
            i, in_block = end + 3, False
            continue
        char = text[i]
        if char == "\\" and text[i + 1 : i + 2] == ";":
            out.append(";")
            i += 2
        elif char == ";":
            if text[i + 1 : i + 3] == "--":
                in_block = True
                i += 3
            else:
                break
        else:
            out.append(char)
            i += 1
    return "".join(out), in_block


def parse(path: Path) -> list[Section]:
    """Every section of one config file (with its #includes), in order."""
    sections: list[_SectionBuilder] = []
    _parse_into(Path(path), sections, current=None, depth=0)
    return [section.freeze() for section in sections]


def _parse_into(path: Path, sections: list[_SectionBuilder], current: _SectionBuilder | None, depth: int):
    if depth > 10:
        raise ConfigError(f"{path}: #include nested more than 10 deep")
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    in_block = False
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        where = f"{path}:{number}"
        line, in_block = _strip_comment(raw, in_block)
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            directive, _, argument = line.partition(" ")
            if directive != "#include" or not argument.strip():
                raise ConfigError(f"{where}: only `#include FILE` is used here, not {line!r}")
            current = _parse_into(path.parent / argument.strip().strip('"'), sections, current, depth + 1)
            continue
        if line.startswith("["):
            current = _section(line, where, path, number, sections)
            continue
        if current is None:
            raise ConfigError(f"{where}: option outside any section: {line!r}")
        key, equals, value = line.partition("=")
        if not equals or not key.strip():
            raise ConfigError(f"{where}: neither a section nor `key = value`: {line!r}")
        value = value.removeprefix(">")  # key => value
        current.options.append((key.strip(), value.strip()))
    if in_block:
        raise ConfigError(f"{path}: block comment ;-- never closed with --;")
    return current


def _section(line: str, where: str, path: Path, number: int, sections: list[_SectionBuilder]) -> _SectionBuilder:
    match = _SECTION.match(line)
    if not match:
        raise ConfigError(f"{where}: malformed section header {line!r}")
    name = match[1].strip()
    flags = [flag.strip() for flag in (match[2] or "").split(",") if flag.strip()]
    if match[2] is not None and not flags:
        raise ConfigError(f"{where}: empty () after [{name}]")
    if "+" in flags:
        if flags != ["+"]:
            raise ConfigError(f"{where}: (+) cannot be combined with other flags")
        for earlier in reversed(sections):
            if earlier.name == name:
                return earlier
        raise ConfigError(f"{where}: [{name}](+) adds to a section that does not exist yet")
    template = "!" in flags
    parents = tuple(flag for flag in flags if flag != "!")
    options: list[tuple[str, str]] = []
    for parent in parents:
        found = [earlier for earlier in sections if earlier.name == parent]
        if not found:
            raise ConfigError(f"{where}: [{name}] inherits from [{parent}], which is not defined before it")
        options.extend(found[-1].options)
    builder = _SectionBuilder(name, template, parents, options, path, number)
    sections.append(builder)
    return builder


@dataclasses.dataclass(frozen=True)
class Priority:
    context: str
    exten: str
    number: int
    label: str | None
    app: str
    args: str


def dialplan(sections: list[Section]) -> dict[str, dict[str, list[Priority]]]:
    """extensions.conf as {context: {extension: [priorities in order]}}."""
    contexts: dict[str, dict[str, list[Priority]]] = {}
    for section in sections:
        if section.name in ("general", "globals"):
            continue
        extensions = contexts.setdefault(section.name, {})
        last_exten: str | None = None
        for key, value in section.options:
            where = f"{section.path}: [{section.name}] {key} => {value}"
            if key == "exten":
                exten, _, rest = value.partition(",")
                exten = exten.strip()
            elif key == "same":
                if last_exten is None:
                    raise ConfigError(f"{where}: `same` before any `exten`")
                exten, rest = last_exten, value
            else:
                raise ConfigError(f"{where}: only exten and same lines belong in a dialplan context")
            priority_text, _, application = rest.partition(",")
            priority = _PRIORITY.match(priority_text.strip())
            app = _APP.match(application.strip())
            if not exten or not priority or not app:
                raise ConfigError(f"{where}: not NAME,PRIORITY,App(args)")
            steps = extensions.setdefault(exten, [])
            if priority[1] == "n":
                if not steps:
                    raise ConfigError(f"{where}: priority n before priority 1")
                number = steps[-1].number + 1
            else:
                number = int(priority[1])
                expected = steps[-1].number + 1 if steps else 1
                if number != expected:
                    raise ConfigError(f"{where}: priority {number} where {expected} comes next")
            steps.append(Priority(section.name, exten, number, priority[2], app[1], app[2] or ""))
            last_exten = exten
    return contexts


def resolve_goto(contexts: dict[str, dict[str, list[Priority]]], origin: Priority, args: str) -> Priority:
    """The priority a Goto(args) from `origin` lands on (Goto([[context,]exten,]priority))."""
    parts = [part.strip() for part in args.split(",")]
    if len(parts) == 1:
        context, exten, target = origin.context, origin.exten, parts[0]
    elif len(parts) == 2:
        context, exten, target = origin.context, parts[0], parts[1]
    elif len(parts) == 3:
        context, exten, target = parts
    else:
        raise ConfigError(f"Goto({args}) in [{origin.context}] {origin.exten}: too many arguments")
    steps = contexts.get(context, {}).get(exten)
    if not steps:
        raise ConfigError(f"Goto({args}) in [{origin.context}]: no extension {exten} in [{context}]")
    for step in steps:
        if str(step.number) == target or step.label == target:
            return step
    raise ConfigError(f"Goto({args}) in [{origin.context}]: no priority or label {target} in {context},{exten}")
