"""Locust's distributed mode: a master and two workers on this machine, against SIPp."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.cli import ROOT, start_callproof
from tests.peers.net import free_port
from tests.run.helpers import read_calls, scenario_file, unexplained_problems

pytestmark = [pytest.mark.peers, pytest.mark.e2e]  # SIPp and `callproof run` (tests/markers.py)


def test_a_master_and_two_workers_write_every_call_to_the_masters_folder(tmp_path, sipp_echo):
    scenario = scenario_file(tmp_path / "distributed.yaml", sipp_echo.uri,
                             load={"peak_concurrent": 8, "duration_s": 12, "max_cps": 20, "max_concurrent": 16},
                             call={"talk_time": {"distribution": "fixed", "value_s": 2}, "record_fraction": 0.3,
                                   "prompt": str(ROOT / "scenarios" / "prompts" / "hello.wav")},
                             sla={"answer_rate_min": 0.9})  # ~48 calls decide this line
    port, out = str(free_port(__import__("socket").SOCK_STREAM)), tmp_path / "out"
    master = start_callproof("run", str(scenario), "--master", "--expect-workers", "2", "--master-port", port,
                             "--out", str(out), "--quiet")
    workers = [start_callproof("run", str(scenario), "--worker", "--master-port", port, "--quiet") for _ in range(2)]
    try:
        _, master_err = master.communicate(timeout=120)
        worker_results = [w.communicate(timeout=60) for w in workers]
    except subprocess.TimeoutExpired:
        for process in (master, *workers):
            process.kill()
        raise
    for worker, (_, err) in zip(workers, worker_results, strict=True):
        assert worker.returncode == 0, err

    calls = read_calls(out)
    summary = json.loads((out / "summary.json").read_text())
    if summary["verdict"] == "INVALID":  # what the harness guarantees on a busy machine
        assert master.returncode == 5 and unexplained_problems(summary) == [], summary["verdict_reason"]
    else:
        assert master.returncode == 0, master_err
    # Each worker ran its own control leg, to an echo on its own machine; the master keeps its calls apart.
    control = [json.loads(line) for line in (out / "control.jsonl").read_text().splitlines()]
    assert {c["worker"] for c in control} == {"worker0", "worker1"}
    assert all(c["extra"]["leg"] == "control" and c["answer_ms"] is not None for c in control)
    assert not {c["call_id"] for c in control} & {c["call_id"] for c in calls}
    assert summary["calls"]["attempted"] == len(calls) >= 24  # 8 concurrent, 2 s calls, ~12 s
    assert {c["worker"] for c in calls} == {"worker0", "worker1"}
    assert all(c["failure"] is None and c["media"]["rx_lost"] == 0 for c in calls)
    assert len({c["call_id"] for c in calls}) == len(calls)

    # Each worker's recordings came to the master's audio/ with their records, and were scored there.
    recorded = [c for c in calls if c["recording"]]
    assert {c["worker"] for c in recorded} == {"worker0", "worker1"}
    # calls.jsonl names each relative to the run folder: no absolute local path goes into a bundle.
    assert sorted((out / "audio").iterdir()) == sorted(out / c["recording"] for c in recorded)
    assert all(c["recording"].startswith("audio/") for c in recorded)
    scores = [json.loads(line) for line in (out / "pesq.jsonl").read_text().splitlines()]
    assert sorted(s["call_id"] for s in scores) == sorted(c["call_id"] for c in recorded)
    assert all(s["pesq"]["score"] is not None for s in scores)
    assert not (ROOT / "audio").exists()  # the workers (started in ROOT) left nothing behind
