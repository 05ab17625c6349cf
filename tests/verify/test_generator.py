"""Generator validity on synthetic health events and records: each check alone, at its edge."""

from __future__ import annotations

from callproof.harness.verdict.generator import expected_tx_packets, generator_health, media_starved
from tests.verify import records as r
from tests.verify.records import utc

ENGINE = {"at_utc": utc(0), "kind": "engine", "max_calls_per_process": 4, "processes": 3, "provisioned_calls": 12}


def health(i: int, **values) -> dict:
    sample = {"at_utc": utc(i), "kind": "health", "cpu_pct": 50.0, "cpu_cores": 2, "loop_lag_ms_max": 3.0,
              "pump_lag_ms_max": 4.0, "in_flight": 0, "provisioned": 12, "attempted": 10 * i, "capped": 0,
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
    assert result.reason.startswith("CPU at most 50% of one core on 2 cores; loop lag at most 3 ms")


def test_cpu_saturated_for_three_seconds_is_invalid_two_is_a_blip():
    # 90% of 2 cores is 180% of one core.
    blip = [health(i) for i in range(5)] + [health(5 + i, cpu_pct=185.0) for i in range(2)] + [health(8)]
    assert run(blip).valid is True
    sustained = [health(i) for i in range(5)] + [health(5 + i, cpu_pct=180.0) for i in range(3)]
    result = run(sustained)
    assert result.valid is False
    assert result.reason == ("the load generator was the bottleneck: its processes used 90% or more of all CPU "
                             "cores for 3 s in a row (up to 180% of one core, 2 cores)")
    assert run([health(i, cpu_pct=179.9) for i in range(10)]).valid is True


def test_loop_and_pump_lag():
    assert run([health(i, loop_lag_ms_max=500.0) for i in range(10)]).valid is True  # at the limit
    late = run([health(i, loop_lag_ms_max=600.0 if 2 <= i < 5 else 3.0) for i in range(10)])
    assert late.valid is False and "the load's event loop ran more than 500 ms late for 3 s" in late.reason
    pump = run([health(i, pump_lag_ms_max=150.0 if i >= 7 else 4.0) for i in range(10)])
    assert pump.valid is False and "a SIP engine's event pump ran more than 100 ms late" in pump.reason


def test_slot_waits_starve_only_below_the_provision():
    # All 12 provisioned slots held by calls that are up: waiting is the target's doing (calls held long).
    long_calls = [r.answered(0.0, talk_ms=60_000.0) for _ in range(12)]
    held = run([health(i, slot_waits=2 * i, in_flight=12) for i in range(5)], long_calls)
    assert held.valid is True and (held.slot_waits, held.starved_calls) == (8, 0)
    # An engine process died: 8 live slots against a provision of 12; waits from then on starve.
    short = run([health(0, slot_waits=0), health(1, slot_waits=1), health(2, slot_waits=4, provisioned=8),
                 health(3, slot_waits=6, provisioned=8)])
    assert short.valid is False and short.starved_calls == 5
    assert "5 calls waited for an engine slot while it held fewer slots than the plan's provision of 12" in short.reason


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
    assert ("2 calls were refused by its own SIP stack before any INVITE was sent "
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
    assert "it held call slots for calls that were not up (up to 8 of its calls in flight) for 7 s in a row" in (
        result.reason)
    # Our BYE got no response: the engine waits 4 s for one; those slots count as up meanwhile.
    unanswered = up[:4] + [r.answered(0.0, answer_ms=200.0, talk_ms=2_000.0, bye_response=False) for _ in range(8)]
    assert run(samples[:5], unanswered).valid is True  # up to 2.2 + 0.5 + 4 = 6.7 s


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
