"""Generator validity on synthetic health events and records: each check alone, at its edge."""

from __future__ import annotations

import dataclasses

from callproof.harness.verdict.generator import expected_tx_packets, generator_health, media_starved
from tests.verify import records as r
from tests.verify.records import utc

ENGINE = {"at_utc": utc(0), "kind": "engine", "max_calls_per_process": 4, "processes": 3, "provisioned_calls": 12}


def health(i: int, **values) -> dict:
    sample = {"at_utc": utc(i), "kind": "health", "cpu_pct": 50.0, "cpu_cores": 2, "machine_busy_pct": 40.0,
              "cpu_pressure_pct": 2.0, "cpu_wait_pct_max": 1.0, "engine_cpu_wait_pct_max": 2.0,
              "loop_lag_ms_max": 3.0, "interval_s": 1.0, "pump_lag_ms_max": 4.0, "socket_drops_sip": 0,
              "socket_drops_media": 0, "in_flight": 0, "provisioned": 12, "attempted": 10 * i, "capped": 0,
              "lost": 0, "slot_waits": 0, "slot_wait_ms_max": 0.5}
    sample.update(values)
    return sample


def run(samples: list[dict], calls=()) -> object:
    return generator_health([ENGINE, *samples], list(calls))


def test_a_healthy_generator_is_valid():
    result = run([health(i) for i in range(10)], [r.answered(i) for i in range(50)])
    assert result.valid is True and result.problems == ()
    assert (result.cpu_pct_max, result.cpu_cores, result.loop_lag_ms_max, result.pump_lag_ms_max) == (50.0, 2, 3.0, 4.0)
    assert (result.starved_calls, result.slot_waits, result.lost, result.media_starved_calls) == (0, 0, 0, 0)
    assert result.reason.startswith("CPU at most 50% of one core on 2 cores (the whole machine at most 40% busy); "
                                    "loop lag at most 3 ms; engine pump lag at most 4 ms; 0 packets dropped")


def test_cpu_saturated_for_three_seconds_is_invalid_two_is_a_blip():
    # 90% of 2 cores is 180% of one core.
    blip = [health(i) for i in range(5)] + [health(5 + i, cpu_pct=185.0) for i in range(2)] + [health(8)]
    assert run(blip).valid is True
    sustained = [health(i) for i in range(5)] + [health(5 + i, cpu_pct=180.0) for i in range(3)]
    result = run(sustained)
    assert result.valid is False
    assert result.reason == ("the load generator's own processes used 90% or more of all CPU cores for 3 s "
                             "(up to 180% of one core, 2 cores)")
    assert run([health(i, cpu_pct=179.9) for i in range(10)]).valid is True
    # A sample after a stalled loop covers the whole stall: 2 samples, 3.5 s.
    assert run([health(0), health(3, cpu_pct=185.0, interval_s=2.5), health(4, cpu_pct=185.0)]).valid is False


def test_one_stall_longer_than_its_limit_is_enough():
    assert run([health(i, loop_lag_ms_max=500.0, pump_lag_ms_max=500.0) for i in range(10)]).valid is True  # limits
    late = run([health(0), health(7, loop_lag_ms_max=6536.0, interval_s=7.0), health(8)])
    assert late.valid is False and late.loop_lag_ms_max == 6536.0
    assert late.reason == ("the load generator's event loop stalled for 6.54 s (limit 0.5 s): "
                           "calls started up to that late")
    pump = run([health(i, pump_lag_ms_max=501.0 if i == 7 else 4.0) for i in range(10)])
    assert pump.valid is False
    assert pump.reason == ("a SIP engine of the load generator stalled for 0.501 s (limit 0.5 s): "
                           "SIP messages waited up to that long")


def busy(i: int, **values) -> dict:
    """The whole machine busy; our processes at 82% of one core (41% of 2 cores), our threads kept waiting."""
    return health(i, **{"machine_busy_pct": 97.0, "cpu_pct": 82.0, "cpu_pressure_pct": 60.0,
                        "engine_cpu_wait_pct_max": 40.0, **values})


def test_a_machine_saturated_by_other_programs_makes_it_invalid_with_how_much():
    result = run([health(0)] + [busy(1 + i) for i in range(6)] + [health(7)])
    assert result.valid is False and result.saturated_s == 6.0
    assert result.reason == ("the load machine was saturated by other programs: 97% busy, 41% ours, for 6 s "
                             "(a thread of ours waited for a CPU up to 40% of a second; some program waited for "
                             "a CPU 60% of the time)")
    assert (result.machine_busy_pct_max, result.cpu_pressure_pct_max) == (97.0, 60.0)
    assert run([busy(1 + i) for i in range(4)]).valid is True  # 4 s: below 5 s
    # Busy with other programs' work, but none of it reached us: our threads hardly waited.
    assert run([busy(1 + i, engine_cpu_wait_pct_max=5.0) for i in range(20)]).valid is True
    # Our own work only (98% busy, 96% ours): the CPU check's business, not other load.
    assert run([busy(1 + i, machine_busy_pct=98.0, cpu_pct=192.0) for i in range(6)]).reason.startswith(
        "the load generator's own processes used 90%")
    # Without the kernel's per-thread wait (schedstat), CPU pressure decides.
    no_wait = {"cpu_wait_pct_max": None, "engine_cpu_wait_pct_max": None}
    assert run([busy(1 + i, **no_wait) for i in range(6)]).valid is False
    assert run([busy(1 + i, cpu_pressure_pct=30.0, **no_wait) for i in range(6)]).valid is True


def test_drops_on_its_own_sockets_make_it_invalid():
    sockets = {"at_utc": utc(20), "kind": "own_sockets", "socket_drops_sip": 2, "socket_drops_media": 40,
               "processes": {"caller3": {"sip": 2, "media": 40}}}
    calls = [r.answered(i) for i in range(5)] + [r.answered(9, socket_drops=25), r.answered(10, socket_drops=15)]
    result = generator_health([ENGINE, *[health(i) for i in range(10)], sockets], calls)
    assert result.valid is False and (result.socket_drops_media, result.socket_drops_sip) == (40, 2)
    assert result.calls_with_socket_drops == 2
    assert result.reason == ("the load generator's own sockets dropped 42 packets (40 media (on 2 of the target's "
                             "calls), 2 SIP): loss the target did not cause")
    # Without the final count, the health samples' running totals and the records say it.
    running = run([health(i) for i in range(5)] + [health(5, socket_drops_media=7)], calls[:5])
    assert running.valid is False and running.socket_drops_media == 7
    from_records = run([health(i) for i in range(5)], calls)
    assert from_records.valid is False and from_records.socket_drops_media == 40


CONTROL_ON = {"at_utc": utc(0), "kind": "control", "calls": 4, "uri": "sip:control@127.0.0.1:5070", "processes": 1}


def test_a_degraded_control_leg_makes_it_invalid():
    clean = [r.answered(i) for i in range(6)]
    result = generator_health([ENGINE, CONTROL_ON, *[health(i) for i in range(10)]], [], clean)
    assert result.valid is True and result.control.calls == 6 and not result.control.degraded
    assert "control leg clean (6 calls to its own echo)" in result.reason
    lossy = clean[:5] + [r.answered(7, rx_lost=3, rx_packets=147)]
    result = generator_health([ENGINE, CONTROL_ON, *[health(i) for i in range(10)]], [], lossy)
    assert result.valid is False and result.control.loss_pct_max == 2.0
    assert result.reason == ("calls to the load generator's own echo on this machine (the control leg) were "
                             "degraded: lost up to 2% of their packets (limit 0%)")
    jittery = clean[:5] + [dataclasses.replace(clean[5], media=dataclasses.replace(clean[5].media,
                                                                                  rx_jitter_mean_ms=7.5))]
    assert "jitter up to 7.5 ms (limit 5 ms)" in generator_health([ENGINE, CONTROL_ON, health(0)], [], jittery).reason
    slow = clean[:5] + [r.answered(7, ringing_ms=650.0)]
    assert "setup delay up to 650 ms (limit 500 ms)" in generator_health([ENGINE, CONTROL_ON, health(0)], [],
                                                                          slow).reason
    failed = clean[:5] + [r.timed_out(7)]
    assert "1 of 6 failed (timeout)" in generator_health([ENGINE, CONTROL_ON, health(0)], [], failed).reason
    # No control leg ran: nothing to judge.
    assert run([health(0)]).control is None


def test_slot_waits_starve_only_below_the_provision():
    # All 12 provisioned slots held by calls that are up: waiting is the target's doing (calls held long).
    long_calls = [r.answered(0.0, talk_ms=60_000.0) for _ in range(12)]
    held = run([health(i, slot_waits=2 * i, in_flight=12) for i in range(5)], long_calls)
    assert held.valid is True and (held.slot_waits, held.starved_calls) == (8, 0)
    # An engine process died: 8 live slots against a provision of 12; waits from then on starve.
    short = run([health(0, slot_waits=0), health(1, slot_waits=1), health(2, slot_waits=4, provisioned=8),
                 health(3, slot_waits=6, provisioned=8)])
    assert short.valid is False and short.starved_calls == 5
    assert ("5 calls waited for an engine slot while the load generator held fewer slots than the plan's "
            "provision of 12") in short.reason


def test_too_few_engine_slots_for_the_provision_starve_without_a_provisioned_field():
    engine = {**ENGINE, "processes": 2}  # 8 slots for a provision of 12 (load.processes set too low)
    samples = [{k: v for k, v in health(i, slot_waits=i).items() if k != "provisioned"} for i in range(4)]
    result = generator_health([engine, *samples], [])
    assert result.valid is False and result.starved_calls == 3


def test_lost_calls_make_it_invalid():
    result = run([health(0), health(1, lost=2)])
    assert result.valid is False and result.lost == 2 and result.starved_calls == 2
    assert "2 calls were lost with their SIP engine process" in result.reason


def test_calls_its_own_sip_stack_refused_make_it_invalid():
    result = run([health(0)], [r.answered(0), r.refused(1), r.refused(2), r.transport_error(3)])
    assert result.valid is False and (result.refused_calls, result.starved_calls) == (2, 2)
    assert ("2 calls were refused by the load generator's own SIP stack before any INVITE was sent "
            "(Too many objects of the specified type (PJ_ETOOMANY))") in result.reason


def test_slots_held_for_calls_that_are_not_up():
    """12 calls in flight each second; the records say how many were really up."""
    # 12 calls of 10 s from 0 s: all up through 10.5 s (their end plus the hang-up grace).
    up = [r.answered(0.0, answer_ms=200.0, talk_ms=9_000.0) for _ in range(12)]
    samples = [health(i, in_flight=12) for i in range(1, 10)]
    assert run(samples, up).valid is True and run(samples, up).idle_slots_max == 0
    # 8 of them ended at 2.2 s (+ 0.5 s grace), yet 12 held: 8 idle from 3 s to 9 s, 7 samples in a row.
    short = up[:4] + [r.answered(0.0, answer_ms=200.0, talk_ms=2_000.0) for _ in range(8)]
    result = run(samples, short)
    assert result.valid is False and result.idle_slots_max == 8
    assert ("the load generator held call slots for calls that were not up (up to 8 of its calls in flight) "
            "for 7 s") in result.reason
    # Our BYE got no response: the engine waits 4 s for one; those slots count as up meanwhile.
    unanswered = up[:4] + [r.answered(0.0, answer_ms=200.0, talk_ms=2_000.0, bye_response=False) for _ in range(8)]
    assert run(samples[:5], unanswered).valid is True  # up to 2.2 + 0.5 + 4 = 6.7 s


def test_slots_pjsua_held_for_an_invite_nobody_answered_count_as_up():
    """A dead target: we give up at the 10 s ring timeout, but pjsua keeps each INVITE until its
    transaction times out; the engine hands the slot back then (released_ms), here 4 s later."""
    samples = [health(i, in_flight=12) for i in range(1, 15)]
    held_by_pjsua = [r.timed_out(0.0, cancel_ms=10_000.0, released_ms=14_000.0) for _ in range(12)]
    assert run(samples, held_by_pjsua).valid is True
    # Without the release time the same records would blame the generator (10.5 s to 14 s).
    assert run(samples, [r.timed_out(0.0, cancel_ms=10_000.0) for _ in range(12)]).valid is False


def test_capped_arrivals_are_reported_not_invalidating():
    result = run([health(0), health(1, capped=7)])
    assert result.valid is True and result.capped == 7


def test_media_the_generator_could_not_send():
    full = r.answered(talk_ms=3000.0)  # 150 packets for 3 s at 20 ms
    assert expected_tx_packets(full) == 150.0 and not media_starved(full)
    # Short by 10% + 5 packets is the edge: 150 * 0.9 - 5 = 130 packets.
    assert not media_starved(r.answered(talk_ms=3000.0, tx_packets=130))
    assert media_starved(r.answered(talk_ms=3000.0, tx_packets=129))
    calls = [r.answered(i) for i in range(98)] + [r.answered(100 + i, tx_packets=20) for i in range(2)]
    result = run([health(0)], calls)
    assert result.valid is False and result.media_starved_calls == 2 and result.media_checked_calls == 100
    assert "2 of 100 answered calls sent too few RTP packets for their talk time" in result.reason
    one = run([health(0)], calls[:-1] + [r.answered(500)])  # 1 of 100: within the 1% allowance
    assert one.valid is True


def test_nothing_recorded_is_unknown():
    result = generator_health([], [])
    assert result.valid is None and "could not be checked" in result.reason
