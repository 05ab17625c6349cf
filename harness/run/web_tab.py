"""The callproof tab of Locust's web UI (`callproof run --web`), and the run's target as its Host.

Locust's web UI extension mechanism (its examples/extend_web_ui.py): the page's
`extended_tabs` and `extended_tables` template arguments add a tab and its table, and
every refresh of /stats/requests (the UI polls it every 2 s) carries the table's rows
under `extended_stats`. The same figures, as data, are at /callproof/live.json.

Every figure is LiveFigures' (callproof.harness.run.live): counts as the records
arrive; delays, the media distributions and the SLA lines from the verdict's own
code on the records so far (at most every few seconds), so at the end of a run the
tab shows what summary.json says.
"""

from __future__ import annotations

import json
from typing import Any

from callproof.harness.run import metrics
from callproof.harness.run.live import LiveFigures
from callproof.harness.verdict.stats import percentiles
from callproof.reports.summary_file import SlaLine

TAB_KEY = "callproof"
LIVE_PATH = "/callproof/live.json"
COLUMNS = (("section", "Section"), ("figure", "Figure"), ("value", "Value"), ("detail", "Detail"))
SETUP_POINTS = (50, 95, 99)  # summary.json's setup_ms


def snapshot(live: LiveFigures) -> dict[str, Any]:
    """The live figures as data: what the tab shows, in summary.json's terms where it has them."""
    verdict = live.verdict()
    calls = len(live.calls)
    return {
        "target": live.target,
        "finished": live.finished,
        "calls": {"in_flight": live.health_total("in_flight"), "attempted": live.health_total("attempted"),
                  "ended": calls, "answered": live.answered, "reached_agent": live.reached_agent,
                  "outcomes": {k: v for k, v in sorted(live.outcomes.items()) if v}},
        "judged_calls": live.judged_calls,
        "setup_ms": percentiles((c.setup_ms for c in live.calls), SETUP_POINTS),
        "time_to_agent_ms": verdict.call_center.time_to_agent_ms,
        "media": verdict.media,
        "health": {s.source: {m.field: s.fields.get(m.field) for m in metrics.HEALTH_METRICS}
                   for s in live.health.values()},
        "sla": [line.to_dict() for line in verdict.lines],
        "verdict": verdict.verdict.value,
        "verdict_reason": verdict.reason,
    }


def rows(figures: dict[str, Any]) -> list[dict[str, str]]:
    """The tab's table: one row per figure."""
    out: list[dict[str, str]] = []

    def row(section: str, figure: str, value: Any, detail: str = "") -> None:
        out.append({"section": section, "figure": figure, "value": _text(value), "detail": detail})

    calls = figures["calls"]
    ended = calls["ended"]
    row("calls", "target", figures["target"])
    row("calls", "in flight", calls["in_flight"])
    row("calls", "attempted", calls["attempted"])
    row("calls", "ended", ended, "finished: every record is in" if figures["finished"] else "records so far")
    row("calls", "answered (200 OK)", calls["answered"], _share(calls["answered"], ended))
    row("calls", "reached an agent", calls["reached_agent"], _share(calls["reached_agent"], ended))
    for outcome, count in calls["outcomes"].items():
        if outcome != "completed":
            row("calls", f"failed: {outcome}", count, _share(count, ended))
    judged = f"over the {figures['judged_calls']} calls last judged"
    row("delays", "setup delay (SRD) ms", _points(figures["setup_ms"]), "RFC 6076 4.3")
    row("delays", "time to agent ms", _points(figures["time_to_agent_ms"]), judged)
    for name, label in (("loss_pct", "loss %"), ("jitter_ms", "jitter ms"), ("mos_cqe", "MOS-CQE")):
        figure = figures["media"][name]
        row("media", label, _points({k: v for k, v in figure.items() if k != "calls"}),
            f"{figure['calls']} calls; {judged}")
    for metric in metrics.HEALTH_METRICS:
        values = {source: fields.get(metric.field) for source, fields in figures["health"].items()}
        shown = ", ".join(f"{source} {_text(value)}" for source, value in values.items() if value is not None)
        row("generator", metric.field, shown or None, metric.help)
    for line in figures["sla"]:
        row("SLA so far", line["name"], line["verdict"], _line_detail(SlaLine.from_dict(line)))
    row("SLA so far", "run verdict", figures["verdict"], figures["verdict_reason"])
    return out


def install(environment, live: LiveFigures) -> None:
    """The tab, the JSON view and the Host, on `environment`'s web UI (created, not yet serving requests)."""
    from flask import Blueprint, Response, request

    web_ui = environment.web_ui
    environment.host = live.target
    web_ui.template_args["extended_tabs"] = [{"title": "callproof", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB_KEY, "structure": [{"key": key, "title": title} for key, title in COLUMNS]}]

    @web_ui.app.after_request
    def add_callproof_rows(response):
        if request.path.rstrip("/").endswith("/stats/requests") and response.is_json:
            live.note_reader()
            body = {**response.get_json(), "extended_stats": [{"key": TAB_KEY, "data": rows(snapshot(live))}]}
            response.set_data(json.dumps(body))
        return response

    blueprint = Blueprint("callproof", __name__)

    @blueprint.route(LIVE_PATH)
    def live_json():
        live.note_reader()
        return Response(json.dumps(snapshot(live), allow_nan=False), mimetype="application/json")

    web_ui.app.register_blueprint(blueprint)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _share(count: int, total: int) -> str:
    return f"{100.0 * count / total:.1f}% of the calls ended" if total else ""


def _points(points: dict[str, float | None]) -> str:
    shown = [f"{name} {_text(value)}" for name, value in points.items() if value is not None]
    return "  ".join(shown) if shown else "-"


def _line_detail(line: SlaLine) -> str:
    observed = "not measured" if line.observed is None else f"{_text(line.observed)} {line.unit}".strip()
    interval = ""
    if line.ci_low is not None or line.ci_high is not None:
        interval = f" (95% interval {_text(line.ci_low)} to {_text(line.ci_high)})"
    return f"{observed}{interval}, threshold {line.comparison} {_text(line.threshold)} {line.unit}".strip()
