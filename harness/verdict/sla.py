"""The SLA verdict: one line per threshold in the scenario's `sla` section, and the run's verdict.

Each line carries the observed value, its 95% interval, the threshold and a verdict:

    PASS          the interval's bound on the threshold's side clears it
                  (">=": ci_low >= threshold; "<=": ci_high <= threshold)
    FAIL          the other bound misses it (">=": ci_high < threshold; "<=": ci_low > threshold)
    INCONCLUSIVE  the interval straddles the threshold (the note says how many more calls
                  would settle it, if what was observed held), or the metric could not be
                  measured (the note says why): never PASS on what was not measured
    INVALID       a media line (loss, MOS-CQE, one-way delay) that would FAIL while our own
                  sockets dropped packets in the run: that loss cannot be told from the
                  target's (the note gives the figure; callproof.harness.verdict.generator)

Intervals: Wilson for proportions, the distribution-free order-statistic interval for
percentiles (callproof.harness.verdict.stats); for the RTO, the bounds the probe grid allows
(callproof.harness.verdict.failover). Proportions are shown in percent, decided on the exact fractions.

The run's verdict is the worst line, INVALID > FAIL > INCONCLUSIVE > PASS, and INVALID
when the load generator was the bottleneck (callproof.harness.verdict.generator): the target is never
failed for the generator's trouble. A scenario with every line off is INCONCLUSIVE:
nothing was checked. The RTO line concerns only scenarios with `faults`; elsewhere
it is listed in `sla_not_applicable`. `exit_code` maps a verdict onto the tool's
exit codes. `Verdict` and `SlaLine` are summary.json's records, defined once for the
verifier and the report (callproof.reports.summary_file); the per-call figures the media
lines judge are callproof.rtp_analysis.call_figures, which the report plots.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

from callproof.harness.errors import ExitCode
from callproof.harness.scenario.model import Probes, Sla
from callproof.harness.verdict import connect, hearing, media
from callproof.harness.verdict.availability import Availability, availability, parse_probes
from callproof.harness.verdict.connect import CallCenter, Ratio, Rfc6076
from callproof.harness.verdict.failover import Recovery, recoveries
from callproof.harness.verdict.flow import flow_notes
from callproof.harness.verdict.generator import GeneratorValidity, generator_health
from callproof.harness.verdict.stats import (
    QuantileEstimate,
    proportion_calls_to_settle,
    quantile_calls_to_settle,
    quantile_interval,
    side,
    wilson_interval,
)
from callproof.reports.summary_file import SlaLine, Verdict
from callproof.rtp_analysis import call_figures
from callproof.sip.records import CallRecord

_EXIT_CODES: dict[Verdict | str, ExitCode] = {Verdict.PASS: ExitCode.PASS, Verdict.FAIL: ExitCode.FAIL,
               Verdict.INCONCLUSIVE: ExitCode.INCONCLUSIVE, Verdict.INVALID: ExitCode.INVALID}


def exit_code(verdict: Verdict | str) -> ExitCode:
    """`callproof run`'s exit code for a run verdict: 0 PASS, 1 FAIL, 4 INCONCLUSIVE, 5 INVALID."""
    try:
        return _EXIT_CODES[verdict]
    except KeyError:
        raise ValueError(f"verdict must be one of {', '.join(_EXIT_CODES)} (got {verdict!r})") from None


def decide(observed: float | None, low: float | None, high: float | None, threshold: float,
           comparison: str) -> Verdict:
    """A line's verdict from its interval (see the module docstring); unmeasured is INCONCLUSIVE."""
    if observed is None:
        return Verdict.INCONCLUSIVE
    return {1: Verdict.PASS, -1: Verdict.FAIL, 0: Verdict.INCONCLUSIVE}[side(low, high, threshold, comparison)]


def _settle_note(more: int | None, unit_of_trial: str) -> str:
    if more is None:
        return "no number of further " + unit_of_trial + " settles it while the observed value sits on the threshold"
    return f"about {more} more {unit_of_trial} would settle it, if what was observed held"


def proportion_line(name: str, metric: str, ratio: Ratio, threshold: float, comparison: str, definition: str,
                    *, trials: str = "calls", unmeasured: str = "") -> SlaLine:
    """A line on a share (threshold a fraction), shown in percent, with its Wilson interval."""
    shown = 100.0 * threshold
    if ratio.total == 0:
        return SlaLine(name, metric, shown, comparison, "%", None, None, None, Verdict.INCONCLUSIVE,
                       f"not measured: {unmeasured or 'no ' + trials}; {definition}")
    low, high = wilson_interval(ratio.count, ratio.total)
    verdict = decide(ratio.count / ratio.total, low, high, threshold, comparison)
    note = f"{definition}; {ratio.count} of {ratio.total} {trials}; 95% Wilson interval"
    if verdict == Verdict.INCONCLUSIVE:
        note += "; " + _settle_note(
            proportion_calls_to_settle(ratio.count, ratio.total, threshold, comparison), trials)
    return SlaLine(name, metric, shown, comparison, "%", 100.0 * ratio.count / ratio.total, 100.0 * low,
                   100.0 * high, verdict, note)


def quantile_line(name: str, metric: str, values: Sequence[float], q: float, threshold: float, comparison: str,
                  unit: str, definition: str, *, unmeasured: str, scale: float = 1.0,
                  floor: float | None = None) -> SlaLine:
    """A line on a percentile of `values`, with its distribution-free interval.

    `threshold` is in the values' units and decides on them; `scale` converts both to
    the unit shown. math.inf in `values` is a call known only to exceed `floor`: an
    estimate or bound that lands on one is shown as the floor and taken as 'above it'.
    """
    est: QuantileEstimate = quantile_interval(values, q)
    if est.n == 0:
        return SlaLine(name, metric, threshold * scale, comparison, unit, None, None, None, Verdict.INCONCLUSIVE,
                       f"not measured: {unmeasured}; {definition}")

    def known(value: float | None) -> float | None:
        if value is not None and math.isinf(value):
            return floor
        return value

    observed, low, high = known(est.value), known(est.low), known(est.high)
    verdict = decide(observed, low, high, threshold, comparison)
    ranks = f"ranks {est.low_rank or '-'} and {est.high_rank or '-'} of {est.n}"
    note = f"{definition}; {est.n} calls; 95% distribution-free interval ({ranks})"
    if est.value is not None and math.isinf(est.value):
        note += f"; more than {100 * (1 - q):g}% of calls were never answered: the percentile is above what is shown"
    if verdict == Verdict.INCONCLUSIVE:
        note += "; " + _settle_note(quantile_calls_to_settle(values, q, threshold, comparison), "calls")

    def shown(value: float | None) -> float | None:
        return None if value is None else value * scale

    return SlaLine(name, metric, threshold * scale, comparison, unit, shown(observed), shown(low), shown(high),
                   verdict, note)


def rto_line(threshold_s: float, faults: Sequence[Recovery], faults_planned: int, resolution_s: float | None,
             consecutive_ok: int) -> SlaLine:
    """RTO, the worst fault's: its bounds from the probe grid decide (callproof.harness.verdict.failover)."""
    name = metric = "rto_s"
    definition = (f"fault to the first of {consecutive_ok} successful probe calls in a row, worst fault; "
                  f"the true RTO lies between the bounds (probe interval {resolution_s or '-'} s)")

    def unmeasured(why: str) -> SlaLine:
        return SlaLine(name, metric, threshold_s, "<=", "s", None, None, None, Verdict.INCONCLUSIVE,
                       f"not measured: {why}; {definition}")

    if resolution_s is None:
        return unmeasured("no probe calls ran (probes.call_interval_s is null)")
    if len(faults) < faults_planned:
        return unmeasured(f"{faults_planned - len(faults)} of the scenario's {faults_planned} faults never fired")
    misfired = [f for f in faults if not f.fired]
    if misfired:
        return unmeasured(f"the fault at {misfired[0].fault_utc} did not take effect ({misfired[0].error or 'failed'})")
    lows = [f.rto_low_s for f in faults if f.rto_low_s is not None]
    assert len(lows) == len(faults), "a fault that fired has its lower bound (failover.rto)"
    highs = [f.rto_s for f in faults if f.rto_s is not None]
    low = max(lows)
    high = max(highs) if len(highs) == len(faults) else None
    observed = high if high is not None else low
    verdict = decide(observed, low, high, threshold_s, "<=")
    note = definition
    if high is None:
        note += "; service was not restored before the run ended: the RTO is at least the lower bound"
    return SlaLine(name, metric, threshold_s, "<=", "s", observed, low, high, verdict, note)


@dataclasses.dataclass(frozen=True)
class RunVerdict:
    verdict: Verdict
    reason: str
    lines: tuple[SlaLine, ...]
    not_applicable: tuple[dict[str, str], ...]  # lines switched on that this run cannot concern
    rfc6076: Rfc6076
    call_center: CallCenter
    media: dict[str, Any]
    availability: Availability | None  # None: no probe calls configured
    failover: tuple[Recovery, ...]
    rto_resolution_s: float | None
    generator: GeneratorValidity
    hearing: dict[str, Any] = dataclasses.field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The verifier's keys of summary.json (callproof.reports.layout, callproof.harness.verdict.summary)."""
        fired = [f for f in self.failover if f.fired]
        restored = [f.rto_s for f in fired if f.rto_s is not None]
        return {
            "verdict": self.verdict.value,
            "verdict_reason": self.reason,
            "sla": [line.to_dict() for line in self.lines],
            "sla_not_applicable": list(self.not_applicable),
            "connect": self.rfc6076.to_dict(),
            "call_center": self.call_center.to_dict(),
            "service_level": self.call_center.service_level_dict(),
            "media": self.media,
            "availability_pct": None if self.availability is None else _round(self.availability.pct),
            "availability": None if self.availability is None else self.availability.to_dict(),
            "outages": [] if self.availability is None else [o.to_dict() for o in self.availability.outages],
            "rto_s": max(restored) if fired and len(restored) == len(fired) else None,
            "rto_resolution_s": self.rto_resolution_s,
            "failover": [f.to_dict() for f in self.failover],
            "generator": self.generator.to_dict(),
            "hearing": self.hearing,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def judge(calls: Sequence[CallRecord], raw_probes: Sequence[dict[str, Any]], events: Sequence[dict[str, Any]], *,
          sla: Sla, probes: Probes, by_agent: bool, faults_planned: int, interrupted: bool = False,
          pesq: Sequence[dict[str, Any]] = (), control: Sequence[CallRecord] = (),
          agent_marker: str | None = None, hearing_entries: Sequence[dict[str, Any]] = ()) -> RunVerdict:
    """Judge a run: the load's calls (direction "outbound"), probes.jsonl, events.jsonl and
    pesq.jsonl entries, the control leg's calls (control.jsonl), and the scenario's thresholds,
    probe settings, whether answers come from the agent marker (`agent_marker`, named in the
    reason when it never came), and how many faults the scenario injects. The reason starts
    with what the call flow could not do (callproof.harness.verdict.flow), when the records
    show it."""
    rfc = connect.rfc6076(calls)
    centre = connect.call_center(calls, by_agent=by_agent,
                                 service_level_s=sla.service_level.within_s if sla.service_level else None)
    probe_calls, options = parse_probes(raw_probes, probes.setup_cap_ms)
    avail = None
    if probes.call_interval_s is not None or probe_calls:
        avail = availability(probe_calls, options, probes.consecutive_ok)
    faults = tuple(recoveries(events, probe_calls, calls, probes.consecutive_ok))
    resolution = probes.call_interval_s
    generator = generator_health(events, calls, control)

    lines: list[SlaLine] = []
    not_applicable: list[dict[str, str]] = []

    def add(threshold: float | None, build: Callable[[float], SlaLine]) -> None:
        if threshold is not None:
            lines.append(build(threshold))

    answered_by = "the agent marker arrived" if by_agent else "the 200 OK arrived"
    add(sla.answer_rate_min, lambda t: proportion_line(
        "answer_rate", "answer_rate_pct", centre.answered, t, ">=",
        f"reached an agent ({answered_by}) / offered; calls abandoned in the queue count as offered, "
        "not as failures"))
    add(sla.isa_max, lambda t: proportion_line(
        "isa", "isa_pct", rfc.isa, t, "<=",
        "RFC 6076 4.8 ineffective session attempts: INVITEs ending in 408, 500, 503 or 504 "
        "(no response counts as 408, a transport error as 503: RFC 3261 8.1.3.1)"))
    add(sla.first_answer_s_max, lambda t: _first_answer_line(calls, t, by_agent))
    if sla.service_level is not None:
        level = sla.service_level
        assert centre.service_level is not None, "call_center counted it for sla.service_level.within_s"
        lines.append(proportion_line(
            "service_level", "service_level_pct", centre.service_level, level.min, ">=",
            f"reached an agent within {level.within_s:g} s of the INVITE ({answered_by}) / offered"))
    add(sla.abandonment_max, lambda t: proportion_line(
        "abandonment", "abandonment_pct", centre.abandoned, t, "<=",
        "calls abandoned in the queue (the caller's patience ran out) / offered"))
    add(sla.setup_delay_p95_ms_max, lambda t: quantile_line(
        "setup_delay_p95", "setup_delay_ms_p95", [v for c in calls if (v := c.setup_ms) is not None],
        0.95, t, "<=", "ms", "RFC 6076 4.3 SRD, INVITE to the first non-100 provisional or final response, p95",
        unmeasured="no call got a response"))
    left_out = source_change_note(calls)
    add(sla.mos_cqe_p5_min, lambda t: quantile_line(
        "mos_cqe_p5", "mos_cqe_p5", [v for c in calls if (v := call_figures.mos_cqe(c)) is not None],
        0.05, t, ">=", "MOS", "ITU-T G.107 Annex B MOS-CQE per call (worse direction), 5th percentile" + left_out,
        unmeasured="no call carries a MOS-CQE (no answered call, or no quality figures in the records)"))
    add(sla.one_way_delay_p95_ms_max, lambda t: quantile_line(
        "one_way_delay_p95", "one_way_delay_ms_p95",
        [v for c in calls if (v := call_figures.one_way_delay_ms(c)) is not None],
        0.95, t, "<=", "ms", "G.107 one-way delay Ta per call (RTT / 2 + jitter buffer + packetisation), p95",
        unmeasured="no call had an RTCP round-trip time (the peer sent no receiver reports)"))
    add(sla.loss_p95_max, lambda t: quantile_line(
        "loss_p95", "loss_pct_p95", [v for c in calls if (v := call_figures.loss_fraction(c)) is not None],
        0.95, t, "<=", "%", "RFC 3550 A.3 packet loss per call (worse direction), 95th percentile" + left_out,
        unmeasured="no call was answered with media", scale=100.0))
    add(sla.availability_min, lambda t: proportion_line(
        "availability", "availability_pct", avail.ratio if avail else Ratio(0, 0), t, ">=",
        f"probe intervals up / up + down (a probe call every {probes.call_interval_s or '-'} s; "
        f"{avail.undecided if avail else 0} undecided left out)",
        trials="probe intervals", unmeasured="no probe call ran"))
    if sla.rto_s_max is not None:
        if faults_planned == 0 and not faults:
            not_applicable.append({"name": "rto_s", "reason": "the scenario injects no fault"})
        else:
            lines.append(rto_line(sla.rto_s_max, faults, faults_planned, resolution, probes.consecutive_ok))

    lines.extend(hearing_lines(sla, hearing_entries))

    lines = [own_loss_line(line, generator) for line in lines]
    verdict, reason = run_verdict(lines, generator, interrupted=interrupted)
    if verdict != Verdict.PASS:
        reason = "; ".join([*flow_notes(calls, agent_marker=agent_marker), reason])
    return RunVerdict(
        verdict=verdict,
        reason=reason,
        lines=tuple(lines),
        not_applicable=tuple(not_applicable),
        rfc6076=rfc,
        call_center=centre,
        media=media.media_summary(calls, pesq),
        availability=avail,
        failover=faults,
        rto_resolution_s=resolution if faults else None,
        generator=generator,
        hearing=hearing.hearing_summary(hearing_entries),
    )


def hearing_lines(sla: Sla, entries: Sequence[dict[str, Any]]) -> list[SlaLine]:
    """What the recorded calls heard (hearing.jsonl; callproof.harness.verdict.hearing, docs/hearing.md)."""
    out: list[SlaLine] = []
    unheard_windows = [1000.0 * float(p["within_s"]) for p in hearing.prompt_results(entries)
                       if p.get("heard") is not True and isinstance(p.get("within_s"), (int, float))]
    if sla.prompt_heard_rate_min is not None:
        out.append(proportion_line(
            "prompt_heard_rate", "prompt_heard_pct", hearing.prompts_heard(entries), sla.prompt_heard_rate_min, ">=",
            "call.expect prompts heard within their window / expected, over the recorded calls (normalised "
            "cross-correlation with the reference)", trials="expected prompts",
            unmeasured="no recorded call expected a prompt"))
    if sla.time_to_prompt_p95_ms_max is not None:
        out.append(quantile_line(
            "time_to_prompt_p95", "time_to_prompt_ms_p95", hearing.times_to_prompt_ms(entries), 0.95,
            sla.time_to_prompt_p95_ms_max, "<=", "ms",
            "time to prompt: its answer or DTMF step to the prompt's first sound at our endpoint, p95 over the "
            "expected prompts (one not heard counts as longer than every one heard)",
            unmeasured="no recorded call expected a prompt", floor=min(unheard_windows) if unheard_windows else None))
    if sla.dead_air_p95_s_max is not None:
        out.append(quantile_line(
            "dead_air_p95", "dead_air_s_p95", hearing.dead_air_s(entries), 0.95, sla.dead_air_p95_s_max, "<=", "s",
            "dead air: the longest silence (20 ms frames below -50 dBFS) the caller heard after the answer, "
            "per recorded call, p95", unmeasured="no answered call was recorded"))
    if sla.one_way_audio_max is not None:
        out.append(proportion_line(
            "one_way_audio", "one_way_audio_pct", hearing.one_way(entries), sla.one_way_audio_max, "<=",
            "recorded calls whose audio carried signal in one direction only / recorded calls with both "
            "directions decided", trials="recorded calls",
            unmeasured="no recorded call with both directions decided (the caller sends silence when call.prompt "
                       "is null)"))
    return out


MEDIA_LINES = ("mos_cqe_p5", "one_way_delay_p95", "loss_p95")


def source_change_note(calls: Sequence[CallRecord]) -> str:
    """What the loss and MOS lines add when calls were left out: their loss is mixed with an SSRC change."""
    count = sum(1 for c in calls if c.answered and not call_figures.loss_separated(c))
    if not count:
        return ""
    return (f"; {count} call{'' if count == 1 else 's'} left out: the received SSRC changed (a new source, "
            "RFC 3550 8.2) and the engine that measured them (the PyPI wheel) counts the change as lost packets, "
            "so their own loss is unknown")


def own_loss_line(line: SlaLine, generator: GeneratorValidity) -> SlaLine:
    """A media line that would FAIL while our own sockets dropped packets: INVALID, with the figure."""
    if line.name not in MEDIA_LINES or line.verdict != Verdict.FAIL or not generator.own_drops:
        return line
    return dataclasses.replace(line, verdict=Verdict.INVALID, note=(
        f"{line.note}; INVALID, not FAIL: our own sockets dropped {generator.own_drops} packets in this run "
        f"({generator.socket_drops_media or 0} media, on {generator.calls_with_socket_drops} of the target's calls), "
        f"so {line.name} {_value(line.observed, line.unit)} cannot be told from the target's"))


def _first_answer_line(calls: Sequence[CallRecord], threshold_s: float, by_agent: bool) -> SlaLine:
    """The first answer, p95: time to agent with the marker (ASA's distribution), else the 200 OK."""
    values = connect.first_answer_s(calls, by_agent)
    waits = connect.first_answer_waits_s(calls, by_agent)
    if by_agent:
        metric, definition = "time_to_agent_s_p95", (
            "first answer: INVITE to the agent's pickup (the agent marker), p95 over calls that reached an "
            "agent, abandoned the queue or rang out (those two count as longer than every answer)")
    else:
        metric, definition = "first_answer_s_p95", (
            "first answer: INVITE to the 200 OK, p95 over calls answered or rung out "
            "(a rung-out call counts as longer than every answer)")
    # A call that rang out or abandoned is known only to exceed the time it waited.
    return quantile_line("first_answer", metric, values, 0.95, threshold_s, "<=", "s", definition,
                         unmeasured="no call was answered or waited", floor=min(waits) if waits else None)


def run_verdict(lines: Sequence[SlaLine], generator: GeneratorValidity, *,
                interrupted: bool = False) -> tuple[Verdict, str]:
    """(verdict, reason): INVALID for an invalid generator, else the worst line."""
    spared = [f"{line.name} {_value(line.observed, line.unit)} would miss {line.comparison} "
              f"{_value(line.threshold, line.unit)}, but that loss cannot be told from ours"
              for line in lines if line.verdict == Verdict.INVALID]
    if generator.valid is False:
        return Verdict.INVALID, "; ".join([generator.reason, *spared])
    suffix = " (the run was interrupted: lines judged on the calls it made)" if interrupted else ""
    if not lines:
        return Verdict.INCONCLUSIVE, "no SLA line is switched on in the scenario: nothing was checked" + suffix
    verdict = Verdict.worst(line.verdict for line in lines)
    if verdict == Verdict.PASS:
        return Verdict.PASS, f"all {len(lines)} SLA lines passed" + suffix
    chosen = [line for line in lines if line.verdict == verdict]
    if verdict == Verdict.FAIL:
        words = [f"{line.name} {_value(line.observed, line.unit)} misses {line.comparison} "
                 f"{_value(line.threshold, line.unit)} ({_interval(line)})" for line in chosen]
    elif verdict == Verdict.INVALID:
        words = spared
    else:
        words = [f"{line.name} {'not measured' if line.observed is None else 'undecided'}" for line in chosen]
    return verdict, "; ".join(words) + suffix


def _value(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.6g} {unit}".strip()


def _interval(line: SlaLine) -> str:
    kind = "probe-grid bounds" if line.name == "rto_s" else "95% interval"
    if line.ci_low is None:
        return f"{kind} at most {_value(line.ci_high, line.unit)}"
    if line.ci_high is None:
        return f"{kind} at least {_value(line.ci_low, line.unit)}"
    return f"{kind} {_value(line.ci_low, '')} to {_value(line.ci_high, line.unit)}"
