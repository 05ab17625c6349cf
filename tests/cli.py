"""The `callproof` command as a user runs it: a child interpreter, from the checkout, with -P."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _argv(args: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-P", "-m", "callproof.harness.cli", *args]


def callproof(*args: str, timeout: float = 300, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the CLI to its end; `env` is added to this environment."""
    return subprocess.run(_argv(args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd or ROOT)


def start_callproof(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start the CLI and return at once (signals, a web UI, a master and its workers)."""
    return subprocess.Popen(_argv(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, cwd=ROOT)
