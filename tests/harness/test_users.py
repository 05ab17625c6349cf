"""The Locust side over the fake engine pool: the arrival scheduler's timing and the plan's shape."""

from __future__ import annotations

import time

import gevent
import pytest
from locust.env import Environment

from callproof.harness.run.runner import make_context
from callproof.harness.run.users import ArrivalScheduler, PlanShape, SipCaller
from callproof.harness.scenario.loader import load_scenario
from tests.fakes import Outcome, fake_pool, placed
from tests.run.helpers import scenario_file
from tests.waiting import wait_until

TARGET = "sip:pbx@127.0.0.1:5080"


def scenario(tmp_path, **load):
    return load_scenario(scenario_file(tmp_path / "users.yaml", TARGET, sla={}, load=load,
                                       call={"talk_time": {"distribution": "fixed", "value_s": 0.01}}))


def scheduler(tmp_path, pool, arrivals):
    """An ArrivalScheduler user over `pool`, its context holding these arrival offsets (s)."""
    context = make_context(scenario(tmp_path, max_cps=10_000), pool, lambda: (TARGET, lambda: None),
                           sink=lambda record: None, audio_dir=tmp_path / "audio")
    context.arrivals = arrivals
    environment = Environment(user_classes=[ArrivalScheduler])
    environment.callproof = context
    return ArrivalScheduler(environment), context


def test_arrivals_start_at_their_scheduled_times_each_spec_knowing_when_it_was_due(tmp_path):
    pool = fake_pool(capacity=10)
    offsets = [0.0, 0.02, 0.05, 0.06, 0.1]
    user, context = scheduler(tmp_path, pool, offsets)
    context.arrivals_start = time.monotonic()
    running = gevent.spawn(user.schedule)
    wait_until(lambda: len(placed(pool)) >= len(offsets), 5, what="every arrival placed", poll_s=0.005)
    running.kill()  # it idles after its last arrival until Locust stops the users
    calls = placed(pool)
    assert [spec.scheduled_mono - context.arrivals_start for _, spec in calls] == pytest.approx(offsets)
    for (at, spec) in calls:
        assert -1e-3 <= at - spec.scheduled_mono < 5  # never early (a timer tick aside); late only by load
    assert context.drain(10)


def test_a_slow_call_never_delays_the_next_arrival(tmp_path):
    """Open loop: each arrival is its own greenlet; a call that takes seconds holds nothing up."""
    pool = fake_pool(capacity=10, script=lambda spec: Outcome.answered(talk_s=5.0, setup_s=2.0))
    user, context = scheduler(tmp_path, pool, [0.0, 0.01, 0.02])
    context.arrivals_start = time.monotonic()
    running = gevent.spawn(user.schedule)
    wait_until(lambda: len(placed(pool)) >= 3, 2, what="3 arrivals placed", poll_s=0.005)
    running.kill()
    assert len(placed(pool)) == 3 and context.in_flight == 3
    for process in pool.processes:
        process.stop()


def test_stopping_ends_the_schedule_before_the_remaining_arrivals(tmp_path):
    pool = fake_pool(capacity=10)
    user, context = scheduler(tmp_path, pool, [0.0, 0.01, 0.3, 0.31])
    context.arrivals_start = time.monotonic()
    running = gevent.spawn(user.schedule)
    wait_until(lambda: len(placed(pool)) >= 2, 2, what="2 arrivals placed", poll_s=0.005)
    context.stopping = True
    running.join(10)  # the scheduler wakes for the arrival at 0.3 s and places nothing
    assert running.dead and len(placed(pool)) == 2


def shape_at(shape: PlanShape, t_s: float):
    shape.get_run_time = lambda: t_s
    return shape.tick()


def test_the_closed_loop_shape_ramps_users_and_ends_the_run(tmp_path):
    load = scenario(tmp_path, peak_concurrent=20, ramp_up_s=10, duration_s=40, ramp_down_s=10, max_cps=5).load
    stopping = []
    shape = PlanShape(load, is_stopping=lambda: bool(stopping))
    # Users start at max_cps per second (at least 1, at most 100); max_cps still paces their calls.
    assert shape_at(shape, 0.0) == (0, 5.0, [SipCaller])
    assert shape_at(shape, 5.0) == (10, 5.0, [SipCaller])  # half way up the ramp
    assert shape_at(shape, 20.0) == (20, 5.0, [SipCaller])
    assert shape_at(shape, 35.0) == (10, 5.0, [SipCaller])
    assert shape_at(shape, 40.0) is None  # the shape's end is the run's end
    slow = scenario(tmp_path, peak_concurrent=2, max_cps=0.5).load
    assert shape_at(PlanShape(slow), 5.0) == (2, 1.0, [SipCaller])
    fast = scenario(tmp_path, peak_concurrent=2, max_cps=500).load
    assert shape_at(PlanShape(fast), 5.0) == (2, 100.0, [SipCaller])
    stopping.append(True)
    assert shape_at(shape, 20.0) is None  # a stop (breaker, signal) ends it too


def test_the_open_loop_shape_keeps_one_scheduler_per_locust_process(tmp_path):
    load = scenario(tmp_path, mode="arrivals", peak_cps=5, duration_s=30).load
    shape = PlanShape(load, schedulers=lambda: 3)
    assert shape_at(shape, 0.0) == (3, 3, [ArrivalScheduler])
    assert shape_at(shape, 29.9) == (3, 3, [ArrivalScheduler])
    assert shape_at(shape, 30.0) is None
