"""The load context over the fake engine pool: caps, breaker, drain, records, lost calls (milliseconds)."""

from __future__ import annotations

import time

import gevent
import pytest

from callproof.harness.run.runner import make_context
from callproof.harness.run.safety import CircuitBreaker
from callproof.harness.scenario.loader import load_scenario
from callproof.sip.errors import EngineError
from tests.fakes import Outcome, fake_pool, placed
from tests.run.helpers import scenario_file

TARGET = "sip:pbx@127.0.0.1:5080"


@pytest.fixture
def scenario(tmp_path):
    """A scenario whose calls talk 50 ms; its load section matters only for the caps (no rate cap unless asked)."""
    def make(**load):
        load = {"max_cps": 10_000, **load}
        return load_scenario(scenario_file(tmp_path / "load.yaml", TARGET, sla={}, load=load,
                                           call={"talk_time": {"distribution": "fixed", "value_s": 0.05}}))
    return make


def context_for(scenario, pool, tmp_path, *, release=lambda: None):
    """make_context as a run makes it, with the records and Locust's request events kept in lists."""
    records, requests = [], []
    context = make_context(scenario, pool, lambda: (TARGET, release), sink=records.append, audio_dir=tmp_path / "audio")
    context.fire_request = lambda **event: requests.append(event)
    return context, records, requests


def test_a_call_counts_as_in_flight_until_its_record_is_in_the_sink(scenario, tmp_path):
    """So nothing that waits for zero in flight (drain, a worker's "all sent") runs ahead of a record."""
    pool = fake_pool()
    context, _, _ = context_for(scenario(), pool, tmp_path)
    seen = []
    context.sink = lambda record: seen.append(context.in_flight)
    context.place()
    assert context.drain(10) and seen == [1]


def test_a_call_fires_its_setup_and_writes_its_record_when_it_ends(scenario, tmp_path):
    pool = fake_pool()
    context, records, requests = context_for(scenario(), pool, tmp_path)
    pending = context.place()
    assert context.in_flight == 1 and context.attempted == 1
    pending.wait_record(10)
    assert context.drain(10)
    assert [r["call_id"] for r in records] == [pending.done.get().call_id]
    assert records[0]["worker"] == "local" and records[0]["target"] == TARGET
    assert records[0]["quality"] is not None  # enriched with the E-model figures before writing
    (request,) = requests
    assert (request["request_type"], request["name"], request["exception"]) == ("SIP", "INVITE", None)
    assert (context.answered, context.failed, context.lost, context.in_flight) == (1, 0, 0, 0)


def test_a_rejected_call_reaches_locust_as_a_failure_with_its_code(scenario, tmp_path):
    pool = fake_pool(script=lambda spec: Outcome.rejected(486))
    context, records, requests = context_for(scenario(), pool, tmp_path)
    context.place().wait_record(10)
    assert context.drain(10)
    assert str(requests[0]["exception"]) == "rejected 486"
    assert (context.answered, context.failed) == (0, 1) and records[0]["final_code"] == 486


def test_max_cps_spaces_the_attempts(scenario, tmp_path):
    pool = fake_pool(capacity=100)
    context, _, _ = context_for(scenario(max_cps=200), pool, tmp_path)
    started = time.monotonic()
    for _ in range(40):  # asked as fast as possible, from a cold start (the bucket holds one token)
        context.place()
    times = [at for at, _ in placed(pool)]
    assert len(times) == 40
    for k, at in enumerate(times):  # the k-th attempt no sooner than k / 200 s in (a busy machine: later)
        assert at - started >= k / 200
    assert context.drain(10)


def test_max_concurrent_drops_arrivals_beyond_it(scenario, tmp_path):
    pool = fake_pool(capacity=10)
    context, _, _ = context_for(scenario(peak_concurrent=2, max_concurrent=3), pool, tmp_path)
    started = [context.place() for _ in range(5)]
    assert [p is not None for p in started] == [True, True, True, False, False]
    assert (context.capped, context.in_flight, pool.in_flight) == (2, 3, 3)
    assert context.drain(10)
    assert context.place() is not None  # room again once the calls ended


def test_a_busy_pool_makes_the_call_wait_for_a_slot_and_says_so(scenario, tmp_path):
    pool = fake_pool(capacity=1, script=lambda spec: Outcome.answered(talk_s=0.1))
    context, records, _ = context_for(scenario(), pool, tmp_path)
    first = context.place()
    second = gevent.spawn(context.place)
    second.join(10)
    assert second.successful() and pool.waited_for_slot == 1
    assert first.done.ready()  # the second call got the slot the first one freed
    assert context.slot_wait_ms_max > 0
    assert context.drain(10) and len(records) == 2


def test_the_breaker_counts_every_decided_setup(scenario, tmp_path):
    pool = fake_pool(capacity=20, script=lambda spec: Outcome.rejected(503))
    context, _, _ = context_for(scenario(), pool, tmp_path)
    context.breaker = CircuitBreaker(0.5, window_s=5, min_calls=5)
    started = time.monotonic()
    context.breaker.start(started)
    for _ in range(10):
        context.place()
    assert context.drain(10)
    assert context.breaker.check(time.monotonic()) is None  # not a whole window yet
    trip = context.breaker.check(started + 5)
    assert trip is not None and trip.answer_rate == 0.0 and trip.calls == 10


def test_the_record_is_written_from_the_calls_own_completion_not_the_users_greenlet(scenario, tmp_path):
    """Locust kills users mid-call when it ramps down or stops: the call's record must still come."""
    pool = fake_pool()
    context, records, _ = context_for(scenario(), pool, tmp_path)
    user = gevent.spawn(context.call_and_wait)
    gevent.sleep(0)  # the user places its call and waits for it
    assert context.in_flight == 1
    user.kill()
    assert context.drain(10)
    assert len(records) == 1 and context.answered == 1


def test_drain_waits_for_calls_in_progress_and_says_when_they_did_not_end(scenario, tmp_path):
    pool = fake_pool(script=lambda spec: Outcome.answered(talk_s=0.5))
    context, records, _ = context_for(scenario(), pool, tmp_path)
    context.place()
    context.stopping = True
    assert context.place() is None  # stopping: no new call
    assert context.drain(0.05) is False and records == []
    assert context.drain(10) is True and len(records) == 1


def test_a_process_that_dies_loses_its_calls_frees_their_targets_and_leaves_no_record(scenario, tmp_path):
    released = []
    pool = fake_pool(processes=2, capacity=2, script=lambda spec: Outcome.answered(talk_s=10))
    context, records, _ = context_for(scenario(), pool, tmp_path, release=lambda: released.append(1))
    for _ in range(4):
        context.place()
    dying, surviving = pool.processes
    assert (dying.in_flight, surviving.in_flight) == (2, 2)
    dying.die()
    gevent.sleep(0)  # the hub runs the calls' callbacks
    assert (context.lost, context.in_flight, len(released), records) == (2, 2, 2, [])
    assert pool.capacity == 2  # the dead process offers no slot
    surviving.stop()  # an orderly stop hangs up and sends the records
    assert context.drain(10) and len(records) == 2 and context.lost == 2
    with pytest.raises(EngineError, match="every SIP engine process has exited"):
        context.place()
    assert len(released) == 5  # the target of the call that could not be placed, too



def test_drain_waits_for_an_arrival_still_waiting_for_a_slot(scenario, tmp_path):
    """Its record will come after the stop: a drain (or a worker's "all sent") must not run ahead of it."""
    pool = fake_pool(capacity=1, script=lambda spec: Outcome.answered(talk_s=0.2))
    context, records, _ = context_for(scenario(), pool, tmp_path)
    context.place()
    context.arrive_at(time.monotonic())  # finds the only slot busy
    gevent.sleep(0)
    assert (context.in_flight, context.placing) == (1, 1)
    context.stopping = True
    assert context.drain(10) and len(records) == 2


def test_a_user_killed_while_waiting_for_a_slot_gives_its_target_back(scenario, tmp_path):
    released = []
    pool = fake_pool(capacity=1, script=lambda spec: Outcome.answered(talk_s=10))
    context, _, _ = context_for(scenario(), pool, tmp_path, release=lambda: released.append(1))
    context.place()
    user = gevent.spawn(context.call_and_wait)
    gevent.sleep(0)
    assert context.placing == 1
    user.kill()  # Locust stopping its users
    assert (context.placing, len(released)) == (0, 1)
    pool.stop()
    assert context.drain(10) and len(released) == 2


def test_the_runs_end_hangs_up_calls_in_progress_and_records_them_as_stopped(scenario, tmp_path):
    pool = fake_pool(capacity=4, script=lambda spec: Outcome.answered(talk_s=60))
    context, records, requests = context_for(scenario(), pool, tmp_path)
    for _ in range(3):
        context.place()
    gevent.sleep(0.01)  # answered and talking
    context.stopping = True
    pool.hang_up_all()  # what LocalRun._finish does after the grace
    assert context.drain(1) and [r["failure"] for r in records] == ["stopped"] * 3
    assert (context.answered, context.failed, context.lost) == (3, 0, 0)  # stopped is no failure of the target
    assert all(r["exception"] is None for r in requests)


def test_an_arrival_still_waiting_for_a_slot_at_the_hang_up_is_never_placed(scenario, tmp_path):
    released = []
    pool = fake_pool(capacity=1, script=lambda spec: Outcome.answered(talk_s=60))
    context, records, _ = context_for(scenario(), pool, tmp_path, release=lambda: released.append(1))
    context.place()
    context.arrive_at(time.monotonic())  # finds the only slot busy
    gevent.sleep(0)
    assert context.placing == 1
    context.stopping = True
    pool.hang_up_all()
    assert context.drain(1) and len(records) == 1 and len(placed(pool)) == 1
    assert (context.placing, context.attempted, len(released)) == (0, 1, 2)  # its target was given back
