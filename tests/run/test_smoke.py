"""The first thing a newcomer runs: `callproof run scenarios/smoke.yaml` on a fresh machine."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from callproof.reports import keys, summary_file
from tests.cli import ROOT, callproof
from tests.run.helpers import assert_verdict, read_calls


@pytest.mark.sip_engine  # the main job, on both engines
@pytest.mark.e2e
def test_smoke_scenario_runs_against_the_embedded_agents(tmp_path):
    out = tmp_path / "smoke"
    result = callproof("run", "scenarios/smoke.yaml", "--out", str(out), timeout=180)
    assert_verdict(json.loads((out / "summary.json").read_text()), result.returncode, "PASS")

    calls = read_calls(out)
    summary = json.loads((out / "summary.json").read_text())
    answered = [c for c in calls if c["answer_ms"] is not None]
    assert len(calls) >= 100
    assert len(answered) / len(calls) >= 0.99
    assert summary_file.problem(summary) is None  # fits summary.schema.json, as the report read it
    assert summary["calls"]["attempted"] == len(calls)  # every call is in calls.jsonl
    assert summary["calls"]["answered"] == len(answered)
    assert len({c["call_id"] for c in calls}) == len(calls)
    for key in ("setup_ms", "answer_ms"):
        assert set(summary[key]) == {"p50", "p95", "p99"}
        assert 0 < summary[key]["p50"] <= summary[key]["p95"] <= summary[key]["p99"]
    assert 0 < summary["timing_resolution_ms"] < 100
    assert (out / "scenario.yaml").read_text().startswith("# yaml-language-server")
    for call in answered:
        assert call["media"]["rx_packets"] > 0 and call["media"]["rx_lost"] == 0
    assert "calls attempted" in result.stdout and str(out) in result.stdout

    # A real run's bundle passes every check `verify` makes (files, manifest, summary recomputed from the
    # records), and says nothing of this machine's folders (callproof.reports.layout).
    checked = callproof("verify", str(out), "--pubkey", str(keys.public_path(keys.default_key_path())))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    engine = json.loads((out / "engine.json").read_text())
    module = engine["module_path"]  # the built module's file, or the wheel's package
    assert module.endswith(("pjsua2.py", "pjsua2/__init__.py")) and not module.startswith("/")
    for name in ("engine.json", "events.jsonl", "manifest.json", "summary.json"):
        text = (out / name).read_text()
        for local in {str(ROOT), sys.prefix, str(Path.home()), str(tmp_path)}:
            assert local not in text, f"{name} names {local}"


@pytest.mark.e2e  # the CLI in a child process (tests/markers.py)
def test_bundled_scenario_by_name_and_listing():
    listing = callproof("scenarios")
    assert listing.returncode == 0
    assert "smoke" in listing.stdout and "peak-200" in listing.stdout
