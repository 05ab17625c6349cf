"""The issue's promise, end to end: media loss our own sockets dropped never ends a run in FAIL.

The caller engine processes of a `callproof run` are stopped for 6 s while the far side (our
embedded agents, playing a prompt without pause) keeps sending: the kernel drops what overflows
the stopped processes' sockets. The loss line would FAIL; the run is INVALID, with the figure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.cli import start_callproof
from tests.run.helpers import read_calls, scenario_file
from tests.waiting import wait_for_lines

pytestmark = [pytest.mark.e2e, pytest.mark.heavy]  # `callproof run` (tests/markers.py)

STOPPED_S = 6.0


def engine_processes(parent: int) -> dict[str, int]:
    """name -> PID of the engine processes of the run `parent` (each logs to logs/NAME.log on stderr)."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) != parent:
                continue
            log = os.readlink(f"/proc/{pid}/fd/2")
        except (OSError, ValueError):
            continue
        if log.endswith(".log") and "/logs/" in log:
            found[Path(log).stem] = int(pid)
    return found


@pytest.mark.sip_engine
def test_loss_our_stalled_engine_dropped_makes_the_run_invalid_never_fail(tmp_path):
    # In the scenario's folder: a prompt outside it needs --allow-prompt (issue 14, section 1).
    prompt = shutil.copy(Path(__file__).resolve().parents[2] / "scenarios" / "prompts" / "hello.wav", tmp_path)
    out = tmp_path / "out"
    path = scenario_file(tmp_path / "own-loss.yaml", "embedded",
                         load={"peak_concurrent": 8, "duration_s": 16, "max_cps": 20},
                         call={"talk_time": {"distribution": "fixed", "value_s": 15}},
                         agents={"count": 12, "mode": "prompt", "prompt": str(prompt)},
                         sla={"loss_p95_max": 0.01})
    run = start_callproof("run", str(path), "--out", str(out), "--quiet")
    stopped: list[int] = []
    try:
        wait_for_lines(out / "events.jsonl", 1, 60)
        deadline = time.monotonic() + 90
        while '"kind":"health"' not in (out / "events.jsonl").read_text():  # the load has started
            assert time.monotonic() < deadline and run.poll() is None, run.stderr.read() if run.poll() else ""
            time.sleep(0.2)
        time.sleep(4.0)
        stopped = [pid for name, pid in engine_processes(run.pid).items() if name.startswith("caller")]
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        time.sleep(STOPPED_S)
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
    stdout, stderr = run.communicate(timeout=180)
    summary = json.loads((out / "summary.json").read_text())
    generator = summary["generator"]
    calls = read_calls(out)
    # The records' own loss is exactly the kernel's drops on our sockets: the agents sent everything.
    dropped = sum(c["media"]["socket_drops"] for c in calls)
    assert dropped > 0 and sum(c["media"]["rx_lost"] for c in calls) == dropped
    assert generator["socket_drops_media"] >= dropped

    loss = next(line for line in summary["sla"] if line["name"] == "loss_p95")
    assert loss["observed"] > 1.0  # the figure alone would FAIL the target
    assert loss["verdict"] == "INVALID" and "our own sockets dropped" in loss["note"]
    assert summary["verdict"] == "INVALID" and run.returncode == 5, stderr
    assert "the load generator's own sockets dropped" in summary["verdict_reason"]
    assert "loss_p95" in summary["verdict_reason"] and "cannot be told from ours" in summary["verdict_reason"]
    # The stall itself counts by its length: one pump stall of about 6 s.
    assert generator["pump_lag_ms_max"] >= 0.8 * STOPPED_S * 1000
