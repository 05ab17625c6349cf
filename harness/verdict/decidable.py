"""Whether a scenario can decide its own SLA lines: the trials a perfect target would give
each line, against the fewest trials that line needs.

A perfect target meets every line with room to spare: it answers at once, every call
reaches an agent as soon as our agents pick up, nothing fails, nothing is lost, every
probe is up and service comes back the moment a fault ends. Even so a line is decided
only once its 95% interval clears the threshold (callproof.harness.verdict.sla), and
that takes a number of trials no target can shorten:

    proportion, ">="   n of n successes: Wilson's lower bound n / (n + z^2) >= t,
                       so n >= z^2 t / (1 - t) (381 probe intervals for 99%)
    proportion, "<="   0 of n: Wilson's upper bound z^2 / (n + z^2) <= t
    percentile         the order-statistic bound on the threshold's side must exist:
                       72 calls for a p95 or a p5 (callproof.harness.verdict.stats)
    RTO                the restoring probe lands within one probe interval of the fault,
                       so the interval must be within the threshold, and consecutive_ok
                       probes must still fit between the last fault and the run's end

What the scenario gives (`lines`), counted low on purpose, so a scenario that passes
here decides its lines on a real target with some margin:

    calls              concurrency mode: the planned calls in progress over the run,
                       divided by a call's mean length on a perfect target (DTMF waits,
                       our agents' ring delay, the mean talk time, CALL_OVERHEAD_S), less
                       the calls still up at the end; arrivals mode: the run's own seeded
                       arrivals whose longest call ends before the run does; either capped
                       by max_cps and max_concurrent
    probe intervals    probe calls that end before the run does
    one-way delay      only calls whose media lasts RTCP_FIRST_RR_S: it needs an RTCP
                       receiver report from the peer (its RTT)
    hearing lines      the recorded share of the calls (call.record_fraction), times the
                       call.expect prompts for the prompt lines (docs/hearing.md)

`tests/scenario/test_bundled_decidable.py` holds every bundled scenario to it.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from callproof.harness.scenario import plan
from callproof.harness.scenario.model import Scenario, TalkTime, given
from callproof.harness.verdict.stats import order_statistic_ranks, side, wilson_interval, z_score

CALL_OVERHEAD_S = 0.5  # per call beyond its plan: setup, ACK, BYE and its response, the slot's release
RTCP_FIRST_RR_S = 5.0  # pjmedia's RTCP interval (PJMEDIA_RTCP_INTERVAL): the first report, hence an RTT
_MAX_TRIALS = 10**7


@dataclasses.dataclass(frozen=True)
class Decidability:
    line: str  # the SLA line's name (summary.json's `sla[].name`)
    trials: str  # what the line counts: "calls", "probe intervals", "probe intervals after the last fault"
    needed: int | None  # the fewest a perfect target needs; None: no number of trials decides it
    given: int  # what the scenario gives, counted low
    why: str = ""  # when `needed` is None

    @property
    def decidable(self) -> bool:
        return self.needed is not None and self.given >= self.needed

    def sentence(self) -> str:
        if self.needed is None:
            return f"{self.line} cannot be decided: {self.why}"
        verb = "gives" if self.decidable else "gives only"
        return f"{self.line} needs {self.needed} {self.trials} on a perfect target; the scenario {verb} {self.given}"


def fewest_for_proportion(threshold: float, comparison: str) -> int | None:
    """The fewest trials whose Wilson interval clears `threshold` when all succeed (">=") or none do ("<=")."""
    z2 = z_score() ** 2
    if comparison == ">=":
        if threshold >= 1.0:
            return None
        estimate = z2 * threshold / (1.0 - threshold)
    else:
        if threshold <= 0.0:
            return None
        estimate = z2 * (1.0 - threshold) / threshold
    n = max(1, math.floor(estimate))
    while not _clears(n, threshold, comparison):  # the closed form, checked against the interval itself
        n += 1
        if n > _MAX_TRIALS:
            return None
    while n > 1 and _clears(n - 1, threshold, comparison):
        n -= 1
    return n


def _clears(n: int, threshold: float, comparison: str) -> bool:
    low, high = wilson_interval(n if comparison == ">=" else 0, n)
    return side(low, high, threshold, comparison) == 1


def fewest_for_quantile(q: float, comparison: str) -> int:
    """The fewest calls whose q-quantile has a bound on the threshold's side (upper for "<=", lower for ">=")."""
    n = 1
    while True:
        low_rank, high_rank = order_statistic_ranks(n, q)
        if (high_rank if comparison == "<=" else low_rank) is not None:
            return n
        n += 1


def perfect_call_s(scenario: Scenario, *, longest: bool = False) -> float:
    """How long a call holds its slot on a perfect target: on average, or at the `longest`."""
    call = scenario.call
    dtmf_s = sum(step.wait_s for step in call.dtmf)
    talk_s = plan.longest_duration_s(call.talk_time) if longest else plan.expected_duration_s(call.talk_time)
    return dtmf_s + scenario.agents.ring_delay_s + talk_s + CALL_OVERHEAD_S


def calls_given(scenario: Scenario) -> int:
    """Calls a perfect target ends within the run, counted low (see the module docstring)."""
    load = scenario.load
    mean = perfect_call_s(scenario)
    if load.mode == "concurrency":
        step = 0.05
        times = np.arange(0.0, load.duration_s, step)
        slot_seconds = float(np.sum(plan.concurrency_at(load, times))) * step
        count = math.floor(slot_seconds / mean) - plan.planned_peak_concurrency(load)
    else:
        arrivals = plan.load_arrival_times(load, scenario.seed)
        count = int(np.sum(arrivals + perfect_call_s(scenario, longest=True) <= load.duration_s))
    by_rate = math.floor(load.max_cps * load.duration_s)
    by_slots = math.floor(load.max_concurrent * load.duration_s / mean)
    return max(0, min(count, by_rate, by_slots))


def share_lasting(dist: TalkTime, at_least_s: float) -> float:
    """The share of talk times drawn from `dist` that last at least `at_least_s`."""
    if at_least_s <= 0:
        return 1.0
    kind = dist.distribution
    if kind == "fixed":
        return 1.0 if given(dist.value_s) >= at_least_s else 0.0
    max_s = given(dist.max_s)
    if at_least_s > max_s:
        return 0.0
    if kind == "uniform":
        min_s = given(dist.min_s)
        return min(1.0, (max_s - at_least_s) / (max_s - min_s)) if max_s > min_s else 1.0
    if kind == "exponential":
        return math.exp(-at_least_s / given(dist.mean_s))
    sigma = given(dist.sigma)
    mu = math.log(given(dist.mean_s)) - sigma**2 / 2  # lognormal, as callproof.harness.scenario.plan draws it
    return 0.5 * math.erfc((math.log(at_least_s) - mu) / (sigma * math.sqrt(2)))


def probe_intervals_given(scenario: Scenario, after_s: float = 0.0) -> int:
    """Probe calls placed after `after_s` that end before the run does (one every call_interval_s from the start)."""
    probes, duration = scenario.probes, scenario.load.duration_s
    if probes.call_interval_s is None:
        return 0
    last_start = duration - probes.call_talk_s - CALL_OVERHEAD_S
    if last_start < after_s:
        return 0
    first = math.ceil(after_s / probes.call_interval_s - 1e-9)
    return max(0, math.floor(last_start / probes.call_interval_s + 1e-9) - first + 1)


def lines(scenario: Scenario) -> list[Decidability]:
    """One entry per SLA line the scenario switches on (and can concern: the RTO only with faults)."""
    sla = scenario.sla
    calls = calls_given(scenario)
    out: list[Decidability] = []

    def proportion(name: str, threshold: float | None, comparison: str, trials: str, given: int) -> None:
        if threshold is not None:
            needed = fewest_for_proportion(threshold, comparison)
            out.append(Decidability(name, trials, needed, given,
                                    "" if needed else f"a Wilson interval never reaches {threshold:g}"))

    def quantile(name: str, threshold: float | None, q: float, comparison: str, given: int = calls) -> None:
        if threshold is not None:
            out.append(Decidability(name, "calls", fewest_for_quantile(q, comparison), given))

    proportion("answer_rate", sla.answer_rate_min, ">=", "calls", calls)
    proportion("isa", sla.isa_max, "<=", "calls", calls)
    quantile("first_answer", sla.first_answer_s_max, 0.95, "<=")
    if sla.service_level is not None:
        proportion("service_level", sla.service_level.min, ">=", "calls", calls)
    proportion("abandonment", sla.abandonment_max, "<=", "calls", calls)
    quantile("setup_delay_p95", sla.setup_delay_p95_ms_max, 0.95, "<=")
    quantile("mos_cqe_p5", sla.mos_cqe_p5_min, 0.05, ">=")
    media_s = sum(step.wait_s for step in scenario.call.dtmf)
    with_rtt = math.floor(calls * share_lasting(scenario.call.talk_time, RTCP_FIRST_RR_S - media_s))
    quantile("one_way_delay_p95", sla.one_way_delay_p95_ms_max, 0.95, "<=", given=with_rtt)
    quantile("loss_p95", sla.loss_p95_max, 0.95, "<=")
    # What the caller heard is judged on the recorded sample only (call.record_fraction), each of its
    # calls giving one trial per call.expect prompt.
    recorded = math.floor(calls * scenario.call.record_fraction)
    expected = recorded * len(scenario.call.expect)
    proportion("prompt_heard_rate", sla.prompt_heard_rate_min, ">=", "expected prompts", expected)
    quantile("time_to_prompt_p95", sla.time_to_prompt_p95_ms_max, 0.95, "<=", given=expected)
    quantile("dead_air_p95", sla.dead_air_p95_s_max, 0.95, "<=", given=recorded)
    proportion("one_way_audio", sla.one_way_audio_max, "<=", "recorded calls", recorded)
    proportion("availability", sla.availability_min, ">=", "probe intervals", probe_intervals_given(scenario))
    if sla.rto_s_max is not None and scenario.faults:
        out.append(_rto(scenario, sla.rto_s_max))
    return out


def _rto(scenario: Scenario, threshold_s: float) -> Decidability:
    probes = scenario.probes
    trials = "probe intervals after the last fault"
    if probes.call_interval_s is None:
        return Decidability("rto_s", trials, None, 0, "no probe calls (probes.call_interval_s is null)")
    if probes.call_interval_s > threshold_s:
        return Decidability("rto_s", trials, None, 0, f"the probe interval {probes.call_interval_s:g} s is longer "
                                                      f"than the threshold {threshold_s:g} s: the RTO's bound cannot "
                                                      "clear it")
    last_fault = max(fault.at_s for fault in scenario.faults)
    return Decidability("rto_s", trials, probes.consecutive_ok, probe_intervals_given(scenario, last_fault))
