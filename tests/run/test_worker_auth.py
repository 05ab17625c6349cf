"""A distributed master signs records only from its own workers (issue 14, section 3).

The issue's attack: a small client speaking Locust's protocol connected as a worker and sent copied call
records, which the master wrote into calls.jsonl and signed. Here a real Locust master (over 127.0.0.1,
in this process) meets that client, a client with the wrong secret, a replayed message and a worker
that lies about its name: none becomes a worker, each refusal is counted in events.jsonl; a worker
with the secret connects. Then the master's checks of what an authenticated worker sends: field by
field, never before its health, never a Call-ID twice.
"""

from __future__ import annotations

import json
import os

import locust
import pytest
import zmq.green as zmq
from locust.env import Environment
from locust.rpc import zmqrpc
from locust.rpc.protocol import Message

from callproof.harness.errors import BadInput
from callproof.harness.run.distributed import CALL_MESSAGE, Collector
from callproof.harness.run.recorder import EventLog, JsonLines
from callproof.harness.run.worker_auth import (
    SECRET_ENV,
    TO_MASTER,
    Refusals,
    Sealer,
    authenticated_locust,
    read_secret,
)
from tests.cli import callproof
from tests.harness.test_distributed_glue import call_record
from tests.peers.net import free_port
from tests.waiting import wait_until

SECRET = b"s" * 40


class Nobody(locust.User):
    wait_time = locust.constant(1)

    @locust.task
    def nothing(self) -> None:
        pass


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def master(tmp_path):
    """A Locust master whose sockets seal with SECRET, its refusals into events.jsonl."""
    events = EventLog(tmp_path / "events.jsonl")
    refusals = Refusals(events)
    port = free_port(__import__("socket").SOCK_STREAM)
    with authenticated_locust(SECRET, refusals):
        runner = Environment(user_classes=[Nobody]).create_master_runner("127.0.0.1", port)
        try:
            yield runner, port, refusals, events
        finally:
            runner.quit()
            events.close()


def raw_client(port: int, identity: str):
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.IDENTITY, identity.encode())
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(f"tcp://127.0.0.1:{port}")
    return socket


def ready(identity: str) -> bytes:
    return Message("client_ready", locust.__version__, identity).serialize()


def refused_reasons(tmp_path) -> list[str]:
    return [e["reason"] for e in lines(tmp_path / "events.jsonl") if e["kind"] == "worker_message_refused"]


def test_a_client_without_the_secret_never_becomes_a_worker_and_is_counted(master, tmp_path):
    runner, port, refusals, events = master
    forger = raw_client(port, "forger_1")
    try:
        forger.send(ready("forger_1"))  # what Locust's own worker sends first, unsealed
        record = call_record("copied-1")
        forger.send(Message(CALL_MESSAGE, record, "forger_1").serialize())
        wrong = Sealer(b"w" * 40, Refusals())  # the right format, another secret
        forger.send(wrong.seal(TO_MASTER, "forger_1", ready("forger_1")))
        forger.send(b"\x00" * 10)
        wait_until(lambda: refusals.count >= 4, 10, what="four refusals")
    finally:
        forger.close()
    assert runner.worker_count == 0
    assert refused_reasons(tmp_path) == [
        "not authenticated (no callproof seal: not a worker of this run)",
        "not authenticated (no callproof seal: not a worker of this run)",
        "not authenticated (the seal does not match the shared secret)",
        "not authenticated (no callproof seal: not a worker of this run)",
    ]
    assert {e["peer"] for e in lines(tmp_path / "events.jsonl")} == {"forger_1"}


def test_a_worker_with_the_secret_connects_and_a_replay_or_a_borrowed_name_is_refused(master, tmp_path):
    runner, port, refusals, events = master
    worker = zmqrpc.Client("127.0.0.1", port, "worker_a")  # the sealing client: we are inside the context
    sealer = Sealer(SECRET, Refusals())
    eavesdropper = raw_client(port, "worker_b")
    try:
        worker.send(Message("client_ready", locust.__version__, "worker_a"))
        wait_until(lambda: runner.worker_count == 1, 10, what="the worker")
        frame = sealer.seal(TO_MASTER, "worker_b", ready("worker_b"))
        eavesdropper.send(frame)
        wait_until(lambda: runner.worker_count == 2, 10, what="the second worker")
        eavesdropper.send(frame)  # the same frame again: a replay
        # Sealed for its own identity, but Locust's message inside names the other worker.
        eavesdropper.send(sealer.seal(TO_MASTER, "worker_b", ready("worker_a")))
        wait_until(lambda: refusals.count >= 2, 10, what="two refusals")
    finally:
        eavesdropper.close()
        worker.close(linger=0)
    assert refused_reasons(tmp_path) == ["a replay (its sequence number was seen already)",
                                         "names another worker than the one it is"]
    assert runner.worker_count == 2


@pytest.fixture
def collector(tmp_path):
    events = EventLog(tmp_path / "events.jsonl")
    collector = Collector(calls=JsonLines(tmp_path / "calls.jsonl"), events=events, audio_dir=tmp_path / "audio",
                          control=JsonLines(tmp_path / "control.jsonl"))
    yield collector
    collector.calls.close()
    collector.control.close()
    events.close()


def test_a_worker_that_never_reported_its_health_contributes_nothing(collector, tmp_path):
    collector.on_call("node-a", call_record("c1"))
    collector.on_control("node-a", call_record("k1"))
    collector.on_audio("node-a", {"name": "call-1.wav", "data": b"RIFF"})
    assert lines(tmp_path / "calls.jsonl") == [] and not (tmp_path / "audio").exists()
    assert refused_reasons(tmp_path) == ["from a worker that never reported its health"] * 3
    collector.on_health("node-a", {"cpu_pct": 3.5, "pump_lag_ms_by_engine": {"caller1": 1.5}})
    collector.on_call("node-a", call_record("c1"))
    assert [r["call_id"] for r in lines(tmp_path / "calls.jsonl")] == ["c1"]


@pytest.mark.parametrize("change, reason", [
    ({"answer_ms": float("nan")}, "malformed call record (answer_ms must be"),
    ({"end_ms": "soon"}, "malformed call record (end_ms must be"),
    ({"final_code": 999}, "malformed call record (final_code 999 is not a SIP status code (100-699))"),
    ({"failure": "wonderful"}, "malformed call record (failure 'wonderful' is not one of"),
    ({"provisional_ms": [[180]]}, "malformed call record (provisional_ms must be a list"),
    ({"media": {"codec": "PCMU/8000"}}, "malformed call record (media must hold exactly"),
])
def test_a_record_is_checked_field_by_field(collector, tmp_path, change, reason):
    collector.on_health("node-a", {"cpu_pct": 1.0})
    collector.on_call("node-a", {**call_record("c1"), **change})
    assert lines(tmp_path / "calls.jsonl") == []
    (refused,) = refused_reasons(tmp_path)
    assert refused.startswith(reason), refused


def test_a_call_id_is_taken_once_and_a_record_is_written_as_checked(collector, tmp_path):
    collector.on_health("node-a", {"cpu_pct": 1.0})
    collector.on_call("node-a", {**call_record("c1"), "verdict": "PASS", "injected": {"x": 1}})
    collector.on_call("node-a", call_record("c1"))  # the copied records
    collector.on_control("node-a", call_record("c1"))
    (written,) = lines(tmp_path / "calls.jsonl")
    assert "verdict" not in written and "injected" not in written  # only CallRecord's fields
    assert refused_reasons(tmp_path) == ["a call record whose Call-ID was received already"] * 2


@pytest.mark.parametrize("health, reason", [
    ({"worker": "worker9"}, "malformed health (field name 'worker')"),  # would replace the event's own field
    ({"kind": "verdict"}, "malformed health (field name 'kind')"),
    ({"cpu_pct": float("inf")}, "malformed health (cpu_pct: not a finite number)"),
    ({"cpu_pct": "high"}, "malformed health (cpu_pct: not a finite number)"),
    ({"Bad Key": 1}, "malformed health (field name 'Bad Key')"),
    ({"by_engine": {"\x1b[2J": 1}}, "malformed health (by_engine: not an object of at most 256 named numbers)"),
    ([1, 2], "malformed health (not an object of at most 64 fields)"),
    ({}, "malformed health (not an object of at most 64 fields)"),
])
def test_malformed_health_is_refused_and_does_not_count_as_reporting(collector, tmp_path, health, reason):
    collector.on_health("node-a", health)
    assert refused_reasons(tmp_path) == [reason]
    assert "node-a" not in collector.reporting
    assert [e for e in lines(tmp_path / "events.jsonl") if e["kind"] == "health"] == []


@pytest.mark.parametrize("message", [
    {"name": "call.txt", "data": b"x"},
    {"name": ".hidden.wav", "data": b"x"},
    {"name": "a.wav", "data": "not bytes"},
    {"name": ["a.wav"], "data": b"x"},
    "a.wav",
])
def test_a_malformed_recording_is_refused(collector, tmp_path, message):
    collector.on_health("node-a", {"cpu_pct": 1.0})
    collector.on_audio("node-a", message)
    assert not (tmp_path / "audio").exists() or not list((tmp_path / "audio").iterdir())
    assert refused_reasons(tmp_path)[0].startswith("malformed recording")


def test_a_recording_never_replaces_one_received_already(collector, tmp_path):
    collector.on_health("node-a", {"cpu_pct": 1.0})
    collector.on_audio("node-a", {"name": "call-1.wav", "data": b"first"})
    collector.on_audio("node-b", {"name": "call-1.wav", "data": b"second"})
    assert (tmp_path / "audio" / "call-1.wav").read_bytes() == b"first"


def test_refusals_beyond_the_first_twenty_are_counted_not_written(tmp_path, capsys):
    events = EventLog(tmp_path / "events.jsonl")
    refusals = Refusals(events)
    for _ in range(1000):
        refusals.refuse("flood", "not authenticated (no callproof seal: not a worker of this run)")
    refusals.close()
    events.close()
    written = lines(tmp_path / "events.jsonl")
    assert len(written) == 21 and written[-1]["kind"] == "worker_messages_refused"
    assert written[-1]["count"] == 1000
    assert capsys.readouterr().err == ("callproof: refused 1000 message(s) from peers that are not this run's "
                                       "workers or sent what no worker sends (events.jsonl: worker_message_refused)\n")


# -- the secret ---------------------------------------------------------------------------------------------

def test_the_secret_comes_from_the_environment_or_a_private_file(tmp_path, monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(BadInput) as refused:
        read_secret(None)
    assert str(refused.value) == ("distributed mode needs a shared secret on the master and every worker: set "
                                  "CALLPROOF_MASTER_SECRET (at least 32 characters) or give --master-secret-file PATH")
    monkeypatch.setenv(SECRET_ENV, "short")
    with pytest.raises(BadInput, match=r"^the shared secret in CALLPROOF_MASTER_SECRET has 5 characters; it needs "
                                       r"at least 32"):
        read_secret(None)
    monkeypatch.setenv(SECRET_ENV, "x" * 32)
    assert read_secret(None) == b"x" * 32
    path = tmp_path / "secret"
    path.write_text("y" * 64 + "\n")
    os.chmod(path, 0o644)
    with pytest.raises(BadInput) as refused:
        read_secret(path)
    assert str(refused.value) == f"the shared secret file {path} can be read by others (mode 644); chmod 600 {path}"
    os.chmod(path, 0o600)
    assert read_secret(path) == b"y" * 64
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(BadInput, match="is not a regular file$"):
        read_secret(fifo)


@pytest.mark.e2e
def test_a_master_or_worker_without_a_secret_is_refused_at_once(tmp_path):
    env = {SECRET_ENV: "", "CALLPROOF_SIP_USER": "caller", "CALLPROOF_SIP_PASSWORD": "pw"}
    for role in ("--master", "--worker"):
        result = callproof("run", "peak-200", role, "--out", str(tmp_path / "out"), env=env, timeout=60)
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr == ("callproof: distributed mode needs a shared secret on the master and every worker: "
                                 "set CALLPROOF_MASTER_SECRET (at least 32 characters) or give --master-secret-file "
                                 "PATH\n")
    assert not (tmp_path / "out").exists()


def test_the_seal_is_checked_before_anything_of_the_message_is_read():
    refusals = Refusals()
    sealer = Sealer(SECRET, refusals)
    frame = sealer.seal(TO_MASTER, "w", b"payload")
    assert Sealer(SECRET, refusals).open(TO_MASTER, "w", frame) == b"payload"
    tampered = frame[:-1] + b"X"
    assert Sealer(SECRET, refusals).open(TO_MASTER, "w", tampered) is None
    assert Sealer(SECRET, refusals).open(TO_MASTER, "other", frame) is None  # bound to the worker's identity
    assert Sealer(SECRET, refusals).open(b"M", "w", frame) is None  # and to its direction
    assert refusals.count == 3
