"""Running `callproof` as a user would, and reading what it leaves behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def callproof(*args: str, timeout: float = 300, env: dict | None = None, cwd: Path | None = None):
    """Run the CLI in a child process; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=cwd or ROOT)


def start_callproof(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}, cwd=ROOT)


def read_calls(folder: Path) -> list[dict]:
    lines = (folder / "calls.jsonl").read_text().splitlines()
    records = []
    for number, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except ValueError:
            assert number == len(lines) - 1, f"line {number + 1} of {len(lines)} is corrupt"
    return records


def wait_for_lines(path: Path, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= count:
            return
        time.sleep(0.2)
    raise TimeoutError(f"{path} did not reach {count} lines in {timeout_s} s")


def write_scenario(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


SLA_KEYS = ("answer_rate_min", "isa_max", "first_answer_s_max", "service_level", "abandonment_max",
            "setup_delay_p95_ms_max", "mos_cqe_p5_min", "one_way_delay_p95_ms_max", "loss_p95_max",
            "availability_min", "rto_s_max")


def sla_yaml(**decided) -> str:
    """A scenario's `sla` section with only the `decided` lines on (a short run cannot decide the rest)."""
    unknown = set(decided) - set(SLA_KEYS)
    assert not unknown, f"not SLA keys: {unknown}"
    return "sla:\n" + "".join(f"  {key}: {json.dumps(decided.get(key))}\n" for key in SLA_KEYS)
