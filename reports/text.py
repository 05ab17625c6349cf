"""Numbers as the report prints them, the same in HTML, PDF and JUnit.

Six significant digits, never rounded onto a threshold: an observed 99.899 %
against 99.9 % must not print as "99.90". No scientific notation.
"""

from __future__ import annotations

import numpy as np

from callproof.reports.i18n import Translator
from callproof.reports.model import Generator, Summary
from callproof.reports.summary_file import SlaLine

MISSING = "–"  # shown where a value was not measured


def number(value: float | None, digits: int = 6) -> str:
    if value is None:
        return MISSING
    return np.format_float_positional(value, precision=digits, unique=True, fractional=False, trim="-")


def with_unit(value: float | None, unit: str) -> str:
    if value is None:
        return MISSING
    return f"{number(value)} {unit}".strip()


def comparison_sign(comparison: str) -> str:
    return {">=": "≥", "<=": "≤"}[comparison]


def threshold(line: SlaLine) -> str:
    return f"{comparison_sign(line.comparison)} {with_unit(line.threshold, line.unit)}"


def interval(line: SlaLine) -> str:
    if line.ci_low is None and line.ci_high is None:
        return MISSING
    return f"[{number(line.ci_low)}, {number(line.ci_high)}]"


def milliseconds(value: float | None) -> str:
    """A time in ms at the 0.1 ms resolution the records carry."""
    return MISSING if value is None else f"{value:.1f}"


def generator_line(generator: Generator | None, tr: Translator) -> str:
    """Whether the load generator was valid, and the figures that decided it."""
    if generator is None or generator.valid is None:
        words = [tr("generator_unknown")]
    else:
        words = [tr("generator_valid") if generator.valid else tr("generator_invalid")]
    if generator is not None:
        if generator.reason:
            words.append(tr.sentence(generator.reason))
        if generator.cpu_pct_max is not None:
            words.append(f"{tr('cpu_max')} {number(generator.cpu_pct_max)} %")
        if generator.machine_busy_pct_max is not None:
            words.append(f"{tr('machine_busy_max')} {number(generator.machine_busy_pct_max)} %")
        if generator.own_socket_drops is not None:
            words.append(f"{tr('own_socket_drops')}: {generator.own_socket_drops}")
        if generator.loop_lag_ms_max is not None:
            words.append(f"{tr('loop_lag_max')} {number(generator.loop_lag_ms_max)} ms")
        if generator.starved_calls is not None:
            words.append(f"{tr('starved')}: {generator.starved_calls}")
    return " · ".join(words)


def hearing_line(summary: Summary, tr: Translator) -> str | None:
    """What the recorded calls heard (summary.json `hearing`, docs/hearing.md); None when none was analysed."""
    hearing = summary.hearing or {}
    if not hearing.get("calls"):
        return None
    ttp, dead = hearing.get("time_to_prompt_ms") or {}, hearing.get("dead_air_s") or {}
    words = [f"{tr('hearing')}: {hearing['calls']} {tr('hearing_calls')}"]
    if hearing.get("prompts_expected"):
        words.append(f"{tr('prompts_heard_of')}: {hearing['prompts_heard']}/{hearing['prompts_expected']}")
        if ttp.get("calls"):
            words.append(f"{tr('time_to_prompt')} p50 {number(ttp.get('p50'))} ms, p95 {number(ttp.get('p95'))} ms")
    words.append(f"{tr('dead_air')} p95 {number(dead.get('p95'))} s")
    if hearing.get("one_way_decided"):
        words.append(f"{tr('one_way_audio')}: {hearing['one_way']}/{hearing['one_way_decided']}")
    return " · ".join(words)


def pesq_line(summary: Summary, tr: Translator) -> str | None:
    """The recorded sample's PESQ (ITU-T P.862.1 MOS-LQO), or why no call was scored; None when the
    summary says neither (one from before the reason was recorded)."""
    if summary.pesq_calls:
        return f"{tr('pesq')}: p50 {number(summary.pesq_p50)} ({summary.pesq_calls} {tr('pesq_calls')})"
    if summary.pesq_unscored:
        return f"{tr('pesq')}: {tr('pesq_unscored')}: {tr.sentence(summary.pesq_unscored)}"
    return None


def leg_rows(summary: Summary, tr: Translator) -> list[list[str]]:
    """The target's calls beside the control leg's: a heading row, then one row per leg."""
    if summary.legs is None:
        return []
    rows = [["", tr("attempted"), tr("answered"), f"{tr('setup_delay_short')} p95", f"{tr('loss_pct')} p95",
             f"{tr('jitter_ms')} p95"]]
    for name, leg in zip(("target_calls", "control_calls"), summary.legs, strict=True):
        rows.append([tr(name), str(leg.calls), str(leg.answered), with_unit(leg.setup_ms_p95, "ms"),
                     with_unit(leg.loss_pct_p95, "%"), with_unit(leg.jitter_ms_p95, "ms")])
    return rows


def queue_rows(summary: Summary, tr: Translator) -> list[list[str]]:
    """The queue as a call center reads it, one [label, value] row per figure (summary.json's
    `call_center` and `service_level`); empty for a summary without them."""
    queue = summary.queue
    if queue is None:
        return []

    def share(count: int, pct: float | None) -> str:
        return f"{count} ({with_unit(pct, '%')})"

    def seconds(values: dict[str, float | None]) -> str:
        return " · ".join(f"{p} {with_unit(None if (v := values[p]) is None else v / 1000.0, 's')}"
                          for p in ("p50", "p95", "p99"))

    rows = [[tr("offered"), str(queue.offered)],
            [tr("reached_agent"), share(queue.reached_agent, queue.answer_rate_pct)],
            [tr("abandoned"), share(queue.abandoned, queue.abandonment_pct)],
            [tr("time_to_agent"), seconds(queue.time_to_agent_ms)],
            [tr("time_to_abandon"), seconds(queue.time_to_abandon_ms)]]
    if queue.service_level_s is not None:
        rows.append([tr("service_level"), tr("service_level_value", pct=with_unit(queue.service_level_pct, "%"),
                                              within=number(queue.service_level_s))])
    rows.append([tr("average_handle_time"), with_unit(queue.handle_time_mean_s, "s")])
    return rows


def rejected_codes(summary: Summary) -> str:
    """"486: 10, 503: 14": the final SIP status of the rejected calls."""
    return ", ".join(f"{code}: {count}" for code, count in sorted(summary.rejected_codes.items()))
