"""The repository's Markdown pages as the doc tests read them: files, sections, shell blocks, tables."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS_DIR = ROOT / "docs"
README = ROOT / "README.md"


def pages() -> list[Path]:
    """Every page whose commands must run: the README, docs/*.md and bench/README.md."""
    return [README, *sorted(DOCS_DIR.glob("*.md")), ROOT / "bench" / "README.md"]


def doc(name: str) -> Path:
    """docs/NAME, which must exist (a test that reads a moved page fails instead of passing on nothing)."""
    path = DOCS_DIR / name
    assert path.is_file(), f"{path} is missing"
    return path


@dataclasses.dataclass(frozen=True)
class Command:
    """One shell command of a ```sh block: its page, its line there, its text without the comment."""

    page: Path
    line: int
    text: str
    block: int  # the index of its block on the page

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def shell_blocks(text: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of every ```sh block."""
    blocks = []
    lines = text.splitlines()
    inside, start, body = False, 0, []
    for number, line in enumerate(lines, start=1):
        if not inside and line.strip() == "```sh":
            inside, start, body = True, number + 1, []
        elif inside and line.strip() == "```":
            blocks.append((start, body))
            inside = False
        elif inside:
            body.append(line)
    assert not inside, "a ```sh block is not closed"
    return blocks


def strip_comment(line: str) -> str:
    """The line without a trailing `# comment` (a # outside quotes, after a blank or at the start)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def commands(page: Path) -> list[Command]:
    """Every command of the page's ```sh blocks, in order (continued lines joined)."""
    found = []
    for index, (start, body) in enumerate(shell_blocks(page.read_text(encoding="utf-8"))):
        pending, pending_line = "", 0
        for offset, raw in enumerate(body):
            text = strip_comment(raw).strip()
            if not text:
                continue
            if not pending:
                pending_line = start + offset
            if text.endswith("\\"):
                pending += text[:-1] + " "
                continue
            found.append(Command(page, pending_line, pending + text, index))
            pending = ""
        assert not pending, f"{page}: a command ends with a backslash"
    return found


def table(markdown: str, first_header: str) -> list[list[str]]:
    """Rows of the table whose header starts with `first_header`, cells stripped."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def backticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def fenced_block(markdown: str, after_heading: str, language: str) -> str:
    """The first ```LANGUAGE block after the heading `after_heading` (any level)."""
    match = re.search(rf"^#+ {re.escape(after_heading)}\n", markdown, flags=re.MULTILINE)
    assert match, f"no heading {after_heading!r}"
    section = markdown[match.end() :]
    return section.split(f"```{language}\n", 1)[1].split("```", 1)[0]
