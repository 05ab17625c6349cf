"""The report's plots, drawn with matplotlib's explicit API into PNG bytes.

Figures are `matplotlib.figure.Figure` objects made directly and rendered by
the Agg canvas: they are never registered with pyplot, so no global figure
list grows, no GUI backend is touched, and each figure is released as soon as
its PNG is written (`_png` clears it). The same PNGs go into report.html (as
data: URIs) and report.pdf, under a caption that carries the plot's title.

Every plot takes `ReportData` and a `Translator`; a plot with nothing to show
still appears, saying "no data", so a reader sees that it was not measured.
"""

from __future__ import annotations

import dataclasses
import io
import math
from typing import Callable

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from callproof.reports import text
from callproof.reports.i18n import Translator
from callproof.reports.model import ReportData

DPI = 110
SIZE_IN = (9.0, 3.6)
_SIZES = {"generator": (9.0, 5.4)}  # two panels
COLOURS = {
    "offered": "#4c72b0",
    "answered": "#55a868",
    "concurrent": "#8172b2",
    "target": "#444444",
    "p50": "#55a868",
    "p95": "#dd8452",
    "p99": "#c44e52",
    "outage": "#c44e52",
    "fault": "#222222",
    "ok": "#55a868",
    "failed": "#c44e52",
    "undecided": "#999999",
    "threshold": "#c44e52",
}


@dataclasses.dataclass(frozen=True)
class Plot:
    key: str  # stable name, e.g. "load"; the HTML uses it as the figure's id
    title: str
    png: bytes


def render_all(data: ReportData, tr: Translator, font_families: list[str]) -> tuple[Plot, ...]:
    """Every plot of the report, with `font_families` first in the font list (CJK for Chinese); the time to
    prompt only when the run expected prompts."""
    plots: list[Plot] = []
    with matplotlib.rc_context({"font.family": font_families, "font.size": 9, "axes.titlesize": 10}):
        for key, title_key, draw in _PLOTS:
            if key == "time_to_prompt" and not data.prompts:
                continue  # a run whose scenario expects no prompt (call.expect) has nothing to show there
            fig = Figure(figsize=_SIZES.get(key, SIZE_IN), layout="constrained")
            FigureCanvasAgg(fig)
            draw(fig, data, tr)
            plots.append(Plot(key, tr(title_key), _png(fig)))
    return tuple(plots)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    fig.clear()
    return buffer.getvalue()


def _time_axis(data: ReportData, tr: Translator) -> tuple[float, str]:
    """Divide seconds by this to get the axis unit: minutes for runs over 20 minutes."""
    return (60.0, tr("time_min")) if data.duration_s > 1200 else (1.0, tr("time_s"))


def _edges(duration_s: float, bins: int, min_width_s: float) -> np.ndarray:
    width = max(min_width_s, math.ceil(duration_s / bins))
    return np.arange(0.0, duration_s + width, width)


def _no_data(ax, tr: Translator) -> None:
    ax.text(0.5, 0.5, tr("no_data"), ha="center", va="center", transform=ax.transAxes, color="#888888", fontsize=12)
    ax.set_xticks([])
    ax.set_yticks([])


def _share_axes(ax, xlabel: str, ylabel: str) -> None:
    """The axes of a distribution drawn as a share from 0 to 1 over a time from 0, with its legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(left=0)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)


def _mark_outages_and_faults(ax, data: ReportData, scale: float, tr: Translator) -> None:
    for i, outage in enumerate(data.summary.outages):
        start = data.at_s(outage.start_utc)
        end = data.at_s(outage.end_utc) if outage.end_utc else data.duration_s
        ax.axvspan(
            start / scale, end / scale, color=COLOURS["outage"], alpha=0.15, label=tr("outage") if i == 0 else None
        )
    for i, event in enumerate(e for e in data.events if e.kind == "fault"):
        ax.axvline(
            event.at_s / scale,
            color=COLOURS["fault"],
            linestyle=":",
            linewidth=1.2,
            label=tr("fault") if i == 0 else None,
        )


def _shape_series(data: ReportData, key: str) -> tuple[np.ndarray, np.ndarray]:
    """The load shape's target `key` ("users" or "rate") as a step series from shape events."""
    points = [
        (e.at_s, float(e.data[key]))
        for e in data.events
        if e.kind == "shape" and isinstance(e.data.get(key), (int, float))
    ]
    if not points:
        return np.array([]), np.array([])
    points.append((data.duration_s, points[-1][1]))
    return np.array([p[0] for p in points]), np.array([p[1] for p in points])


def _draw_load(fig: Figure, data: ReportData, tr: Translator) -> None:
    ax = fig.add_subplot()
    calls = data.calls
    if not len(calls):
        return _no_data(ax, tr)
    scale, xlabel = _time_axis(data, tr)
    edges = _edges(data.duration_s, 300, 1.0)
    width = edges[1] - edges[0]
    offered, _ = np.histogram(calls.invite_s, edges)
    answered_at = calls.invite_s[calls.answered] + calls.answer_ms[calls.answered] / 1000.0
    answered, _ = np.histogram(answered_at, edges)
    ax.stairs(offered / width, edges / scale, color=COLOURS["offered"], label=tr("offered_per_s"))
    ax.stairs(answered / width, edges / scale, color=COLOURS["answered"], label=tr("answered_per_s"))
    rate_x, rate_y = _shape_series(data, "rate")
    if len(rate_x):
        ax.step(rate_x / scale, rate_y, where="post", color=COLOURS["target"], linestyle="--", label=tr("target_rate"))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(tr("calls_per_s"))
    ax.set_xlim(0, data.duration_s / scale)

    right = ax.twinx()
    starts = np.sort(calls.invite_s)
    ends = np.sort(calls.invite_s + calls.end_ms / 1000.0)
    at = np.linspace(0.0, data.duration_s, 600)
    concurrent = np.searchsorted(starts, at, side="right") - np.searchsorted(ends, at, side="right")
    right.plot(at / scale, concurrent, color=COLOURS["concurrent"], linewidth=1.2, label=tr("concurrent"))
    users_x, users_y = _shape_series(data, "users")
    if len(users_x):
        right.step(
            users_x / scale,
            users_y,
            where="post",
            color=COLOURS["concurrent"],
            linestyle="--",
            label=tr("target_users"),
        )
    right.set_ylabel(tr("concurrent"))
    right.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)


def _draw_setup(fig: Figure, data: ReportData, tr: Translator) -> None:
    ax = fig.add_subplot()
    calls = data.calls
    has = ~np.isnan(calls.setup_ms)
    if not has.any():
        return _no_data(ax, tr)
    scale, xlabel = _time_axis(data, tr)
    edges = _edges(data.duration_s, 60, 5.0)
    which = np.digitize(calls.invite_s[has], edges) - 1
    setup = calls.setup_ms[has]
    centres, rows = [], []
    for b in np.unique(which[(which >= 0) & (which < len(edges) - 1)]):
        centres.append((edges[b] + edges[b + 1]) / 2)
        rows.append(np.percentile(setup[which == b], [50, 95, 99]))
    if not rows:
        return _no_data(ax, tr)
    centres_arr, table = np.array(centres) / scale, np.array(rows)
    for column, name in enumerate(("p50", "p95", "p99")):
        ax.plot(centres_arr, table[:, column], marker=".", color=COLOURS[name], label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(tr("setup_delay_ms"))
    ax.set_xlim(0, data.duration_s / scale)
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=8)


def _draw_answer_rate(fig: Figure, data: ReportData, tr: Translator) -> None:
    ax = fig.add_subplot()
    calls = data.calls
    if not len(calls):
        return _no_data(ax, tr)
    scale, xlabel = _time_axis(data, tr)
    edges = _edges(data.duration_s, 60, 5.0)
    offered, _ = np.histogram(calls.invite_s, edges)
    # Answered as summary.json's answer rate counts it: by the agent marker when the scenario has one.
    by_agent = data.summary.queue is not None and data.summary.queue.by_agent
    answered, _ = np.histogram(calls.invite_s[~np.isnan(calls.agent_ms) if by_agent else calls.answered], edges)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(offered > 0, 100.0 * answered / offered, np.nan)
    centres = (edges[:-1] + edges[1:]) / 2 / scale
    ax.plot(centres, rate, marker=".", color=COLOURS["answered"], label=tr("answer_rate_pct"))
    _mark_outages_and_faults(ax, data, scale, tr)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(tr("answer_rate_pct"))
    ax.set_ylim(-2, 102)
    ax.set_xlim(0, data.duration_s / scale)
    ax.legend(loc="lower left", fontsize=8)


def _draw_time_to_agent(fig: Figure, data: ReportData, tr: Translator) -> None:
    """Cumulative share of the offered calls that reached an agent by t s after the INVITE (the curve
    ends at the answer rate), and of those that abandoned by then; the service level window and the
    first_answer threshold as lines, so the service level reads where the curve crosses its window."""
    ax = fig.add_subplot()
    calls, queue = data.calls, data.summary.queue
    pickup_ms = calls.agent_ms if queue is None or queue.by_agent else calls.answer_ms
    offered = queue.offered if queue is not None and queue.offered else len(calls)
    series = (("reached_agent", pickup_ms, "answered"), ("abandoned_calls", calls.abandon_ms, "failed"))
    drawn = False
    for label, values_ms, colour in series:
        values = np.sort(values_ms[~np.isnan(values_ms)]) / 1000.0
        if not len(values) or not offered:
            continue
        share = np.arange(1, len(values) + 1) / offered
        ax.step(np.concatenate(([0.0], values)), np.concatenate(([0.0], share)), where="post",
                color=COLOURS[colour], label=f"{tr(label)} ({len(values)})")
        drawn = True
    if not drawn:
        return _no_data(ax, tr)
    if queue is not None and queue.service_level_s is not None:
        ax.axvline(queue.service_level_s, color=COLOURS["target"], linestyle=":",
                   label=f"{tr('service_level')} {text.number(queue.service_level_s)} s")
    for line in data.summary.sla:
        if line.name == "first_answer" and line.threshold is not None:
            ax.axvline(line.threshold, color=COLOURS["threshold"], linestyle="--",
                       label=f"{line.name} p95 {text.threshold(line)}")
    _share_axes(ax, tr("seconds_after_invite"), tr("share_of_offered"))


def _draw_mos(fig: Figure, data: ReportData, tr: Translator) -> None:
    ax = fig.add_subplot()
    mos = data.calls.mos_cqe[~np.isnan(data.calls.mos_cqe)]
    if not len(mos):
        return _no_data(ax, tr)
    ax.hist(mos, bins=np.arange(1.0, 4.6, 0.05).tolist(), color=COLOURS["offered"])
    for line in data.summary.sla:
        if "mos" in line.metric.lower() and line.threshold is not None:
            ax.axvline(
                line.threshold, color=COLOURS["threshold"], linestyle="--", label=f"{line.name} {text.threshold(line)}"
            )
    ax.set_xlabel("MOS-CQE")
    ax.set_ylabel(tr("calls_count"))
    ax.set_xlim(1.0, 4.6)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize=8)


def _ecdf(ax, values: np.ndarray, xlabel: str, tr: Translator) -> None:
    values = np.sort(values[~np.isnan(values)])
    if not len(values):
        return _no_data(ax, tr)
    share = np.arange(1, len(values) + 1) / len(values)
    ax.step(values, share, where="post", color=COLOURS["offered"])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(tr("share_of_calls"))
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)


def _draw_media(fig: Figure, data: ReportData, tr: Translator) -> None:
    jitter_ax, loss_ax = fig.subplots(1, 2)
    _ecdf(jitter_ax, data.calls.jitter_ms, tr("jitter_axis"), tr)
    _ecdf(loss_ax, data.calls.loss_pct, tr("loss_axis"), tr)


def _draw_availability(fig: Figure, data: ReportData, tr: Translator) -> None:
    ax = fig.add_subplot()
    if not data.probes:
        return _no_data(ax, tr)
    scale, xlabel = _time_axis(data, tr)
    rows = {"call": 1.0, "options": 0.0}
    # The verifier's judgement of each probe (model.Probe.state), never the report's own.
    markers = {"up": ("|", 120, "ok", "probe_ok"), "down": ("x", 30, "failed", "probe_failed"),
               "undecided": ("o", 16, "undecided", "probe_undecided")}
    for kind, y in rows.items():
        for state, (marker, size, colour, label) in markers.items():
            at = np.array([p.at_s for p in data.probes if p.kind == kind and p.state == state]) / scale
            if len(at) or (kind == "call" and state != "undecided"):
                ax.scatter(at, np.full(len(at), y), marker=marker, s=size, color=COLOURS[colour],
                           label=tr(label) if kind == "call" else None)
    _mark_outages_and_faults(ax, data, scale, tr)
    rto = data.summary.rto_s
    first_fault = next((e for e in data.events if e.kind == "fault"), None)
    if rto is not None and first_fault is not None:
        start, end = first_fault.at_s / scale, (first_fault.at_s + rto) / scale
        ax.annotate("", xy=(end, 0.5), xytext=(start, 0.5), arrowprops={"arrowstyle": "<->", "color": COLOURS["fault"]})
        ax.text((start + end) / 2, 0.58, tr("rto_label", rto=f"{rto:g}"), ha="center", fontsize=8)
    ax.set_yticks([0.0, 1.0], [tr("probe_options"), tr("probe_call")])
    ax.set_ylim(-0.5, 1.5)
    ax.set_xlim(0, data.duration_s / scale)
    ax.set_xlabel(xlabel)
    ax.legend(loc="upper right", fontsize=8, ncols=4)


def _draw_generator(fig: Figure, data: ReportData, tr: Translator) -> None:
    """The harness's health events (callproof.harness.run.runner), two panels over time.

    Above, in % of all cores or of the time: the whole machine's busy share (every program), ours,
    CPU pressure (PSI some) and the longest a thread of ours waited for a CPU. Below, in ms (log
    scale): the load's event-loop lag and the SIP engines' pump lag against their stall limit,
    and where packets were dropped on our own sockets or calls were lost.
    """
    health = [e for e in data.events if e.kind == "health"]
    if not health:
        return _no_data(fig.add_subplot(), tr)
    cpu_ax, lag_ax = fig.subplots(2, 1, sharex=True)
    scale, xlabel = _time_axis(data, tr)

    def series(key: str, events: list = health, per: Callable[[dict], float] = lambda d: 1.0):
        points = [(e.at_s / scale, float(e.data[key]) / per(e.data)) for e in events
                  if isinstance(e.data.get(key), (int, float))]
        return np.array([p[0] for p in points]), np.array([p[1] for p in points])

    cores = lambda d: float(d.get("cpu_cores") or 1)  # noqa: E731 - cpu_pct is % of one core
    for key, label, colour, style, per in (
            ("machine_busy_pct", "machine_busy", "target", "-", lambda d: 1.0),
            ("cpu_pct", "ours_busy", "offered", "-", cores),
            ("cpu_pressure_pct", "cpu_pressure", "p95", "--", lambda d: 1.0),
            ("engine_cpu_wait_pct_max", "our_wait", "p99", ":", lambda d: 1.0)):
        x, y = series(key, per=per)
        if len(x):
            cpu_ax.plot(x, y, color=COLOURS[colour], linestyle=style, linewidth=1.1, label=tr(label))
    cpu_ax.set_ylim(0, 135)  # the legend sits above 100 %
    cpu_ax.set_yticks(range(0, 101, 20))
    cpu_ax.set_ylabel(tr("cpu_share_pct"))
    cpu_ax.legend(loc="upper left", fontsize=7, ncols=4, frameon=False)

    highest = 1.0
    for key, label, colour in (("loop_lag_ms_max", "event_loop_lag_ms", "concurrent"),
                               ("pump_lag_ms_max", "pump_lag_ms", "p95")):
        x, y = series(key)
        if len(x):
            lag_ax.plot(x, np.maximum(y, 0.1), color=COLOURS[colour], linewidth=1.1, label=tr(label))
            highest = max(highest, float(y.max()))
    generator = data.summary.generator
    limit = generator.limits.get("pump_lag_ms") if generator is not None else None
    if limit:
        lag_ax.axhline(limit, color=COLOURS["threshold"], linestyle="--", linewidth=0.9, label=tr("stall_limit"))
        highest = max(highest, limit)
    # Running totals per reporting process: an increase is a drop on our sockets, or a call not placed.
    marks: dict[str, list[float]] = {"own_drops_marker": [], "starved_calls": []}
    for worker in {e.data.get("worker") for e in health}:
        events = [e for e in health if e.data.get("worker") == worker]
        for key, mark in (("socket_drops_media", "own_drops_marker"), ("socket_drops_sip", "own_drops_marker"),
                          ("capped", "starved_calls"), ("lost", "starved_calls")):
            x, total = series(key, events)
            if len(x):
                marks[mark] += list(x[np.diff(total, prepend=0.0) > 0])
    for mark, marker in (("own_drops_marker", "x"), ("starved_calls", "v")):
        if marks[mark]:
            lag_ax.scatter(marks[mark], np.full(len(marks[mark]), 0.2), marker=marker, color=COLOURS["failed"],
                           zorder=3, label=tr(mark))
    lag_ax.set_yscale("log")
    lag_ax.set_ylim(0.1, highest * 30)  # a decade and a half above the highest line: room for the legend
    lag_ax.set_ylabel(tr("lag_ms"))
    lag_ax.set_xlabel(xlabel)
    lag_ax.set_xlim(0, data.duration_s / scale)
    lag_ax.legend(loc="upper left", fontsize=7, ncols=3, frameon=False)


def _draw_time_to_prompt(fig: Figure, data: ReportData, tr: Translator) -> None:
    """Cumulative share of each call.expect prompt heard by t ms after its answer or DTMF step
    (hearing.jsonl's time_to_prompt_ms, docs/hearing.md); prompts not heard keep the curve below 1."""
    ax = fig.add_subplot()
    names = sorted({name for name, _ in data.prompts})
    if not names:
        return _no_data(ax, tr)
    palette = list(COLOURS.values())
    for index, name in enumerate(names):
        times = [t for n, t in data.prompts if n == name]
        heard = np.sort(np.array([t for t in times if t is not None], dtype=float))
        label = f"{name}: {len(heard)}/{len(times)} {tr('prompts_heard')}"
        if len(heard):
            share = np.arange(1, len(heard) + 1) / len(times)
            ax.step(np.concatenate(([0.0], heard)), np.concatenate(([0.0], share)), where="post",
                    color=palette[index % len(palette)], label=label)
        else:
            ax.plot([], [], color=palette[index % len(palette)], label=label)
    for line in data.summary.sla:
        if line.name == "time_to_prompt_p95" and line.threshold is not None:
            ax.axvline(line.threshold, color=COLOURS["threshold"], linestyle="--",
                       label=f"{line.name} {text.threshold(line)}")
    _share_axes(ax, tr("ms_after_anchor"), tr("share_of_expected"))


_PLOTS: tuple[tuple[str, str, Callable[[Figure, ReportData, Translator], None]], ...] = (
    ("load", "plot_load", _draw_load),
    ("setup", "plot_setup", _draw_setup),
    ("answer_rate", "plot_answer_rate", _draw_answer_rate),
    ("time_to_agent", "plot_time_to_agent", _draw_time_to_agent),
    ("time_to_prompt", "plot_time_to_prompt", _draw_time_to_prompt),
    ("mos", "plot_mos", _draw_mos),
    ("media", "plot_media", _draw_media),
    ("availability", "plot_availability", _draw_availability),
    ("generator", "plot_generator", _draw_generator),
)
