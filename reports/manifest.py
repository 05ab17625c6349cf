"""manifest.json and SHA256SUMS: what is in a bundle, and the facts of the run behind it.

SHA256SUMS lists every file of the bundle but itself and its signature, in
exactly the format GNU `sha256sum` writes (so `sha256sum -c SHA256SUMS` checks
it): "<64 hex>  <path>" per line, paths relative with "/" separators, sorted
by their UTF-8 bytes. A name holding a backslash, newline or carriage return
is escaped as coreutils does: the line starts with "\\" and those characters
are written as "\\\\", "\\n" and "\\r".

manifest.json lists every file but itself, SHA256SUMS and the signature, and
is itself listed in SHA256SUMS, so the one signature covers all of it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import platform
import re
from pathlib import Path
from typing import Any

from callproof.reports import layout
from callproof.reports.model import ReportData

FORMAT = "callproof-manifest/1"
UNLISTED = frozenset({layout.SHA256SUMS, layout.SIGNATURE})  # never inside SHA256SUMS
_LINE = re.compile(r"^(\\?)([0-9a-fA-F]{64}) [ *](.+)$")


@dataclasses.dataclass(frozen=True)
class FileEntry:
    path: str  # relative, "/"-separated
    sha256: str  # lowercase hex
    size: int


class SumsError(ValueError):
    """SHA256SUMS is not in sha256sum's format; the message names the line."""


def walk(folder: Path) -> tuple[list[str], list[str]]:
    """(regular files, other entries such as symlinks), relative, sorted; SHA256SUMS and its signature left out."""
    files: list[str] = []
    others: list[str] = []
    for root, dirs, names in os.walk(folder):
        base = Path(root).relative_to(folder)
        for name in dirs:
            if (Path(root) / name).is_symlink():
                others.append((base / name).as_posix())
        for name in names:
            relative = (base / name).as_posix()
            if relative in UNLISTED:
                continue
            (files if (Path(root) / name).is_file() and not (Path(root) / name).is_symlink() else others).append(
                relative
            )
    key = lambda p: p.encode("utf-8", "surrogateescape")  # noqa: E731 - byte order, as `sort` in the C locale
    return sorted(files, key=key), sorted(others, key=key)


def digest(path: Path) -> tuple[str, int]:
    with open(path, "rb") as stream:
        sha = hashlib.file_digest(stream, "sha256")
    return sha.hexdigest(), path.stat().st_size


def entries(folder: Path, paths: list[str]) -> list[FileEntry]:
    return [FileEntry(p, *digest(folder / p)) for p in paths]


def _escape(path: str) -> tuple[str, str]:
    if not any(c in path for c in "\\\n\r"):
        return "", path
    return "\\", path.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def _unescape(path: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"\\": "\\", "n": "\n", "r": "\r"}.get(m.group(1), m.group(0)), path)


def format_sums(files: list[FileEntry]) -> bytes:
    """SHA256SUMS, byte for byte as `sha256sum` prints it for these files."""
    lines = []
    for entry in files:
        prefix, name = _escape(entry.path)
        lines.append(f"{prefix}{entry.sha256}  {name}\n")
    return "".join(lines).encode("utf-8", "surrogateescape")


def parse_sums(data: bytes) -> dict[str, str]:
    """{path: sha256} from a SHA256SUMS file; raises SumsError naming a malformed line."""
    sums: dict[str, str] = {}
    for number, raw in enumerate(data.decode("utf-8", "surrogateescape").split("\n"), start=1):
        if not raw:
            continue
        match = _LINE.match(raw)
        if match is None:
            raise SumsError(f"line {number} is not `<sha256>  <path>`")
        escaped, sha, name = match.groups()
        path = _unescape(name) if escaped else name
        if path in sums:
            raise SumsError(f"line {number} lists {path} a second time")
        sums[path] = sha.lower()
    return sums


def host_facts() -> dict[str, Any]:
    """The machine that built the bundle: cores, OS, CPU. No host name, user or environment."""
    facts: dict[str, Any] = {
        "cores": os.cpu_count(),
        "os": platform.system(),
        "os_release": platform.release(),
        "machine": platform.machine(),
    }
    try:
        facts["distribution"] = platform.freedesktop_os_release().get("PRETTY_NAME")
    except OSError:
        facts["distribution"] = None
    facts["cpu_model"] = _cpu_model()
    return facts


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def build(
    data: ReportData,
    files: list[FileEntry],
    *,
    tool_version: str,
    lang: str,
    signer_public_key: str,
    signer_fingerprint: str,
) -> dict[str, Any]:
    run = data.summary.run
    return {
        "format": FORMAT,
        "tool": {"name": "callproof", "version": tool_version},
        "built_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "run": {
            "scenario_name": run.scenario_name,
            "start_utc": run.start_utc,
            "end_utc": run.end_utc,
            "interrupted": run.interrupted,
            "seed": run.seed,
            "verdict": None if data.summary.verdict is None else data.summary.verdict.value,
        },
        # pjsua2/pjproject version, call capacity, I/O queue, media settings, as engine.json says.
        "engine": data.engine,
        "python": {"implementation": platform.python_implementation(), "version": platform.python_version()},
        "host": host_facts(),
        "report": {"language": lang},
        # Information only: a bundle is authentic when its signature verifies with a key
        # the reader already trusts, never because this field names one.
        "signer": {"public_key": signer_public_key, "fingerprint": signer_fingerprint, "authenticates": False},
        "files": [dataclasses.asdict(f) for f in files],
    }
