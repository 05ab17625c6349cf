"""The compose profile `metrics`: Prometheus's scrape configuration and the provisioned Grafana dashboard.

No Docker engine runs here, so the files are checked as files: Prometheus's own
promtool checks the configuration and the syntax of every panel's query (as
recording rules), and every metric a query names must be one callproof exports:
the names come from a real exposition of callproof.harness.run.metrics, read back
with prometheus-client's parser.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from callproof.harness.run import metrics
from callproof.harness.run.live import LiveFigures
from callproof.harness.scenario.loader import load_scenario
from tests.docker.conftest import COMPOSE_FILE, DOCKER_DIR
from tests.verify import records as r

PROMETHEUS_CONFIG = DOCKER_DIR / "prometheus" / "prometheus.yml"
GRAFANA_DIR = DOCKER_DIR / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "callproof-run.json"
PROMTOOL = shutil.which("promtool")
METRICS_PORT = "9464"  # the port docs/live-metrics.md runs callproof with in compose

# PromQL words that are not metric names.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
            "inf", "nan"}


def exported_names() -> set[str]:
    """Every sample name callproof's exposition holds, with records and health in it."""
    live = LiveFigures(load_scenario("smoke", offline=True), role="local")
    registry = metrics.registry_for(live)
    live.on_call(r.answered(0.0, agent_ms=500.0).to_dict())
    live.on_event({"at_utc": r.utc(1), "kind": "health",
                   **{m.field: 1 for m in metrics.HEALTH_METRICS}})
    text = generate_latest(registry).decode()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions, keywords or labels."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)  # label lists
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group()
        following = text[match.end():].lstrip()[:1]
        if following == "(" or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def queries() -> list[tuple[str, str]]:
    """(panel title, expression) of every query of the dashboard."""
    out = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            out.append((panel["title"], target["expr"]))
    return out


def test_the_promql_reader_finds_metric_names():
    assert metric_names('sum by (le) (rate(callproof_x_bucket{job="a"}[1m]))') == {"callproof_x_bucket"}
    assert metric_names("callproof_a_total / clamp_min(sum(callproof_b), 1) == 1") == {"callproof_a_total",
                                                                                        "callproof_b"}
    assert metric_names("histogram_quantile(0.95, sum without (source) (up))") == {"up"}


def test_every_panel_reads_only_metrics_callproof_exports():
    exported = exported_names()
    assert "callproof_calls_total" in exported and "callproof_call_mos_cqe_bucket" in exported
    read = set()
    for title, expr in queries():
        names = metric_names(expr)
        assert names, f"{title}: {expr} names no metric"
        assert names <= exported, f"{title}: {sorted(names - exported)} is not a metric callproof exports"
        read |= names
    # The dashboard shows each part of issue 17's list: calls, outcomes, delays, media, health, SLA lines.
    for needed in ("callproof_calls_in_flight", "callproof_calls_total", "callproof_calls_answered_total",
                   "callproof_calls_reached_agent_total", "callproof_setup_delay_seconds_bucket",
                   "callproof_time_to_agent_seconds_bucket", "callproof_call_loss_ratio_bucket",
                   "callproof_call_jitter_seconds_bucket", "callproof_call_mos_cqe_bucket",
                   "callproof_generator_cpu_percent", "callproof_generator_loop_lag_seconds",
                   "callproof_sla_verdict"):
        assert needed in read, needed


def test_a_query_naming_a_metric_we_do_not_export_is_caught():
    assert not metric_names("sum(callproof_calls_placed_total)") <= exported_names()


@pytest.mark.skipif(PROMTOOL is None, reason="needs Debian's prometheus (promtool)")
def test_every_query_is_promql_prometheus_accepts(tmp_path):
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"callproof:panel_{i}", "expr": expr} for i, (_, expr) in enumerate(queries())]}]}
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    done = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "x:y", "expr": "sum(("}]}]}))
    assert subprocess.run([PROMTOOL, "check", "rules", str(broken)], capture_output=True, timeout=60).returncode != 0


@pytest.mark.skipif(PROMTOOL is None, reason="needs Debian's prometheus (promtool)")
def test_the_scrape_configuration_is_valid_and_reaches_callproof():
    done = subprocess.run([PROMTOOL, "check", "config", str(PROMETHEUS_CONFIG)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    (job,) = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]
    assert job["static_configs"] == [{"targets": [f"callproof:{METRICS_PORT}"]}]


def test_grafana_is_provisioned_with_the_dashboard_and_its_data_source():
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    grafana, prometheus = services["grafana"], services["prometheus"]
    assert grafana["profiles"] == prometheus["profiles"] == ["metrics"]
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    mounts = dict(volume.rsplit(":", 1)[0].split(":", 1) for volume in grafana["volumes"])
    assert mounts == {"./grafana/provisioning": "/etc/grafana/provisioning",
                      "./grafana/dashboards": "/var/lib/grafana/dashboards"}
    (source,) = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yaml").read_text())[
        "datasources"]
    assert source["url"] == "http://prometheus:9090" and source["type"] == "prometheus"
    (provider,) = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "callproof.yaml").read_text())[
        "providers"]
    assert provider["options"]["path"] == mounts["./grafana/dashboards"]
    # Every panel and query reads the provisioned data source, by its uid.
    for panel in dashboard()["panels"]:
        for item in (panel, *panel.get("targets", [])):
            if "datasource" in item:
                assert item["datasource"] == {"type": "prometheus", "uid": source["uid"]}, panel["title"]
    assert METRICS_PORT in services["callproof"]["expose"]
    for image in (grafana["image"], prometheus["image"]):
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", image), f"{image} is not pinned to a release"
