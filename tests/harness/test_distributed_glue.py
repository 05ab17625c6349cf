"""The master/worker glue over the fake engine pool and an in-process wire (Locust's is one ordered
channel per worker): what a worker sends, what the master writes, and the drain that waits for
every worker's "all records sent" (tests/run/test_distributed.py runs the real thing)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import gevent
import gevent.queue
import pytest

from callproof.harness.run.distributed import (
    AUDIO_MESSAGE,
    CALL_MESSAGE,
    DRAINED_MESSAGE,
    HEALTH_MESSAGE,
    Collector,
    WorkerLink,
)
from callproof.harness.run.recorder import EventLog, JsonLines
from callproof.harness.run.runner import make_context
from callproof.harness.scenario.loader import load_scenario
from callproof.sip.records import CallRecord
from tests.fakes import Outcome, fake_pool
from tests.run.helpers import scenario_file

TARGET = "sip:pbx@127.0.0.1:5080"


class Wire:
    """One worker's channel to the master: messages arrive in the order sent, each `delay_s` later; first, as a
    real worker's, its health (the master takes no call from a worker before it)."""

    def __init__(self, collector: Collector, node: str, delay_s: float = 0.01) -> None:
        self.node = node
        self.delay_s = delay_s
        self.sent: list[tuple[str, object]] = []
        self.handlers = {CALL_MESSAGE: collector.on_call, AUDIO_MESSAGE: collector.on_audio,
                         HEALTH_MESSAGE: collector.on_health, DRAINED_MESSAGE: collector.on_drained}
        self._queue: gevent.queue.Queue = gevent.queue.Queue()
        self._queue.put((HEALTH_MESSAGE, {"cpu_pct": 1.0, "in_flight": 0}))
        self._pump = gevent.spawn(self._deliver)

    def send(self, kind: str, data: object = None) -> None:
        self.sent.append((kind, data))
        self._queue.put((kind, data))

    def _deliver(self) -> None:
        for kind, data in self._queue:
            gevent.sleep(self.delay_s)
            self.handlers[kind](self.node, data)


@pytest.fixture
def master(tmp_path):
    folder = tmp_path / "master"
    folder.mkdir()
    collector = Collector(calls=JsonLines(folder / "calls.jsonl"), events=EventLog(folder / "events.jsonl"),
                          audio_dir=folder / "audio")
    yield collector
    collector.calls.close()
    collector.events.close()


def call_record(call_id: str, **fields) -> dict:
    """A call record as a worker sends it (CallRecord.to_dict): the master checks every field."""
    return {**CallRecord(call_id=call_id, target=TARGET, invite_utc="2026-12-07T06:00:00.000000Z", provisional_ms=(),
                         final_ms=1.0, ack_ms=1.5, answer_ms=1.0, agent_ms=None, cancel_ms=None, bye_ms=900.0,
                         bye_response_ms=901.0, end_ms=901.0, final_code=200, final_reason="OK", failure=None,
                         hangup_by="caller").to_dict(), "worker": "worker0", **fields}


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def worker(tmp_path, wire: Wire, *, script=None):
    """A worker's load context over a fake pool, its records going over `wire`."""
    scenario = load_scenario(scenario_file(tmp_path / "worker.yaml", TARGET, sla={}, load={"max_cps": 10_000},
                                           call={"talk_time": {"distribution": "fixed", "value_s": 0.05}}))
    pool = fake_pool(capacity=10, **({"script": script} if script else {}))
    link = WorkerLink(wire.send)
    context = make_context(scenario, pool, lambda: (TARGET, lambda: None), sink=link.record,
                           audio_dir=tmp_path / "worker-audio")
    context.worker = wire.node
    return context, link


def test_a_worker_sends_each_record_and_then_that_all_are_sent(tmp_path, master):
    wire = Wire(master, "node-a", delay_s=0.02)  # records are still in transit when the last call ends
    context, link = worker(tmp_path, wire)
    for _ in range(5):
        context.place()
    context.stopping = True
    gevent.spawn(link.finish, context, 5.0, 5.0)
    assert master.wait_drained(["node-a"], 5.0) == []

    assert [kind for kind, _ in wire.sent] == [CALL_MESSAGE] * 5 + [DRAINED_MESSAGE]
    assert wire.sent[-1][1] == {"records": 5, "lost": 0}
    written = lines(master.calls.path)
    assert len(written) == 5 and {r["worker"] for r in written} == {"node-a"}  # none left behind in transit
    (drained,) = [e for e in lines(master.events.path) if e["kind"] == "worker_drained"]
    assert (drained["worker"], drained["records_sent"], drained["records_received"]) == ("node-a", 5, 5)


def test_a_worker_hangs_up_a_call_still_up_after_the_grace_then_says_all_is_sent(tmp_path, master):
    wire = Wire(master, "node-a")
    context, link = worker(tmp_path, wire, script=lambda spec: Outcome.answered(talk_s=10.0))
    context.place()
    context.stopping = True
    started = time.monotonic()
    assert link.finish(context, 0.05, 5.0) is True  # not the call's 10 s: the run's end is bounded
    assert time.monotonic() - started < 1.0
    assert [kind for kind, _ in wire.sent] == [CALL_MESSAGE, DRAINED_MESSAGE]
    assert wire.sent[0][1]["failure"] == "stopped"


def test_a_worker_says_nothing_while_a_record_is_missing(tmp_path, master):
    wire = Wire(master, "node-a")
    context, link = worker(tmp_path, wire, script=lambda spec: Outcome.answered(talk_s=10.0))
    context.place()
    context.stopping = True
    for process in context.pool.processes:
        process.hang_up_all = lambda: None  # an engine that does not answer the hang-up
    assert link.finish(context, 0.05, 0.05) is False
    assert [kind for kind, _ in wire.sent] == []
    for process in context.pool.processes:
        del process.hang_up_all
        process.stop()  # hung up: the record goes, then the worker may say it is done
    assert link.finish(context, 0.05, 10) is True
    assert [kind for kind, _ in wire.sent] == [CALL_MESSAGE, DRAINED_MESSAGE]


def test_the_master_names_the_worker_that_never_said_it_had_sent_everything(tmp_path, master):
    quick, stuck = Wire(master, "node-a"), Wire(master, "node-b")
    quick_context, quick_link = worker(tmp_path, quick)
    stuck_context, stuck_link = worker(tmp_path, stuck, script=lambda spec: Outcome.answered(talk_s=10.0))
    for context in (quick_context, stuck_context):
        context.place()
        context.stopping = True
    gevent.spawn(quick_link.finish, quick_context, 5.0, 5.0)
    gevent.spawn(stuck_link.finish, stuck_context, 5.0, 5.0)
    started = time.monotonic()
    assert master.wait_drained(["node-a", "node-b"], 0.3) == ["node-b"]
    assert 0.3 <= time.monotonic() - started < 10  # bounded by the drain deadline
    (missing,) = [e for e in lines(master.events.path) if e["kind"] == "workers_not_drained"]
    assert missing["workers"] == ["node-b"] and missing["records_received"] == {"node-b": 0}
    assert len(lines(master.calls.path)) == 1  # the quick worker's call
    for process in stuck_context.pool.processes:
        process.stop()


def test_a_recording_goes_before_its_record_and_lands_in_the_masters_audio_by_name_only(tmp_path, master):
    wire = Wire(master, "node-a")
    link = WorkerLink(wire.send)
    recording = tmp_path / "worker-audio" / "call-1-000001.wav"
    recording.parent.mkdir()
    recording.write_bytes(b"RIFF....WAVE")
    link.record(call_record("c1", recording=str(recording)))
    assert [kind for kind, _ in wire.sent] == [AUDIO_MESSAGE, CALL_MESSAGE]
    assert not recording.exists()  # sent: the worker keeps no copy
    link.record(call_record("c2"))
    gevent.spawn(link.send, DRAINED_MESSAGE, {"records": 2, "lost": 0})
    assert master.wait_drained(["node-a"], 10) == []
    assert (master.audio_dir / "call-1-000001.wav").read_bytes() == b"RIFF....WAVE"
    assert [r["recording"] for r in lines(master.calls.path)] == [str(master.audio_dir / "call-1-000001.wav"), None]


def test_a_path_from_the_wire_never_leaves_the_masters_audio_folder(tmp_path, master):
    master.on_health("node-a", {"cpu_pct": 1.0})
    master.on_audio("node-a", {"name": "../../../escape.wav", "data": b"x"})
    master.on_call("node-a", call_record("c", recording="/etc/passwd"))
    assert [p.name for p in master.audio_dir.iterdir()] == ["escape.wav"]
    assert lines(master.calls.path)[0]["recording"] == str(master.audio_dir / "passwd")


def test_the_master_logs_each_workers_health(tmp_path, master):
    master.on_health("node-a", {"cpu_pct": 12.5, "in_flight": 3})
    (event,) = lines(master.events.path)
    assert (event["kind"], event["worker"], event["cpu_pct"], event["in_flight"]) == ("health", "node-a", 12.5, 3)
