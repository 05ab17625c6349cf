"""A small reader of docker/Dockerfile: its stages and their instructions, as Docker splits them.

No Docker engine runs here; this is enough to check what a stage runs and copies.
Continuation lines are joined, comments dropped, heredocs are not used in our file.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path


@dataclasses.dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]]  # (INSTRUCTION, rest of the line)

    def runs(self) -> list[str]:
        return [args for op, args in self.instructions if op == "RUN"]

    def copies(self) -> list[str]:
        return [args for op, args in self.instructions if op == "COPY"]

    def env(self) -> dict[str, str]:
        return dict(args.split("=", 1) for op, args in self.instructions if op == "ENV")

    def apt_packages(self) -> dict[str, str | None]:
        """name -> pinned version (None when not pinned) of every `apt-get install` in this stage."""
        packages: dict[str, str | None] = {}
        for run in self.runs():
            for command in re.split(r"&&|;", run):
                words = shlex.split(command)
                if "apt-get" in words and "install" in words:
                    for word in words[words.index("install") + 1:]:
                        if not word.startswith("-"):
                            name, _, version = word.partition("=")
                            packages[name] = version or None
        return packages


@dataclasses.dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        (found,) = [s for s in self.stages if s.name == name]
        return found


def parse(path: Path) -> Dockerfile:
    lines: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # blank lines and comments, inside a continued instruction too
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        op, _, args = line.partition(" ")
        op = op.upper()
        if op == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name, words[0], []))
        elif not stages and op == "ARG":
            key, _, value = args.partition("=")
            global_args[key] = value
        elif stages:
            stages[-1].instructions.append((op, args.strip()))
    return Dockerfile(global_args, stages)
