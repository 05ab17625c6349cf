"""Locust's distributed mode: a master and two workers on this machine, against SIPp."""

from __future__ import annotations

import json
import shutil
import socket as socketlib
import subprocess

import locust
import pytest
import zmq
from locust.rpc.protocol import Message

from tests.cli import ROOT, start_callproof
from tests.harness.test_distributed_glue import call_record
from tests.peers.net import free_port
from tests.run.helpers import read_calls, scenario_file, unexplained_problems
from tests.waiting import wait_until

pytestmark = [pytest.mark.peers, pytest.mark.e2e, pytest.mark.any_engine]  # SIPp and `callproof run` (tests/markers.py)

SECRET = "distributed-test-secret-0123456789abcdef"


def _listening(port: int) -> bool:
    with socketlib.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def forge(port: int, *, count: int) -> set[str]:
    """Issue 14, section 3: a client speaking Locust's protocol connects as a worker and sends `count` copied
    call records with verdict-friendly figures; the Call-IDs it sent."""
    wait_until(lambda: _listening(port), 60, what="the master's port")
    context = zmq.Context()
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.IDENTITY, b"forger_0123")
    socket.setsockopt(zmq.LINGER, 5000)  # until every message has gone
    socket.connect(f"tcp://127.0.0.1:{port}")
    socket.send(Message("client_ready", locust.__version__, "forger_0123").serialize())
    ids = set()
    for n in range(count):
        record = {**call_record(f"forged-{n}"), "worker": "worker0"}
        ids.add(record["call_id"])
        socket.send(Message("callproof_call", record, "forger_0123").serialize())
    socket.close()
    context.term()
    return ids


def test_a_master_and_two_workers_write_every_call_to_the_masters_folder(tmp_path, sipp_echo):
    scenario = scenario_file(tmp_path / "distributed.yaml", sipp_echo.uri,
                             load={"peak_concurrent": 8, "duration_s": 12, "max_cps": 20, "max_concurrent": 16},
                             call={"talk_time": {"distribution": "fixed", "value_s": 2}, "record_fraction": 0.3,
                                   "prompt": shutil.copy(ROOT / "scenarios" / "prompts" / "hello.wav", tmp_path)},
                             sla={"answer_rate_min": 0.9})  # ~48 calls decide this line
    port, out = str(free_port(__import__("socket").SOCK_STREAM)), tmp_path / "out"
    secret = tmp_path / "secret"  # the master's from a file, the workers' from the environment: the same
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    master = start_callproof("run", str(scenario), "--master", "--expect-workers", "2", "--master-port", port,
                             "--out", str(out), "--quiet", "--master-secret-file", str(secret))
    workers = [start_callproof("run", str(scenario), "--worker", "--master-port", port, "--quiet",
                               env={"CALLPROOF_MASTER_SECRET": SECRET}) for _ in range(2)]
    try:
        forged = forge(int(port), count=200)  # the attack, while the run goes
        _, master_err = master.communicate(timeout=120)
        worker_results = [w.communicate(timeout=60) for w in workers]
    except (subprocess.TimeoutExpired, TimeoutError):
        for process in (master, *workers):
            process.kill()
        print(master.communicate()[1])
        raise
    for worker, (_, err) in zip(workers, worker_results, strict=True):
        assert worker.returncode == 0, err

    calls = read_calls(out)
    summary = json.loads((out / "summary.json").read_text())
    # Not one forged record went in; each unsealed message was refused and counted.
    assert not {c["call_id"] for c in calls} & forged
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    (total,) = [e for e in events if e["kind"] == "worker_messages_refused"]
    assert total["count"] >= 201 and set(total["by_reason"]) == {
        "not authenticated (no callproof seal: not a worker of this run)"}
    assert "refused" in master_err and "worker_message_refused" in master_err
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
