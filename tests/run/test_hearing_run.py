"""`callproof run` with call.expect, as a user runs it: our agents answer with a Chinese menu after 0.6 s
of silence; every call is recorded; the callers expect that menu within 2 s of the answer and an English
hold message the agents never play after their DTMF step. hearing.jsonl, summary.json's `hearing`, the
four SLA lines, junit.xml and the report must all say so, and `callproof verify` recomputes them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from callproof.rtp_analysis.audio import read_wav
from callproof.rtp_analysis.hearing import HEARING_RATE_HZ, audible_span, silence
from tests.cli import callproof
from tests.run.helpers import scenario_file
from tests.speech import speech_wav

LEAD_S = 0.6


@pytest.mark.sip_engine
@pytest.mark.e2e
@pytest.mark.heavy  # times to prompt within 20 ms
def test_a_run_reports_what_its_callers_heard(tmp_path):
    menu, hold = speech_wav(tmp_path, "menu_zh"), speech_wav(tmp_path, "hold_en")
    shutil.copy(speech_wav(tmp_path, "menu_zh", lead_s=LEAD_S), tmp_path / "agent.wav")
    menu_s = read_wav(menu)[0].size / 8000
    path = scenario_file(
        tmp_path / "ivr.yaml", "embedded", load={"peak_concurrent": 3, "duration_s": 2 * menu_s + 6},
        call={"talk_time": {"distribution": "fixed", "value_s": menu_s + 1.5}, "record_fraction": 1,
              "prompt": hold.name, "dtmf": [{"wait_s": 1, "digits": "1"}],
              "expect": [{"prompt": menu.name, "within_s": 2},
                         {"prompt": hold.name, "after": "dtmf 1", "within_s": 3}]},
        agents={"count": 6, "mode": "prompt", "prompt": "agent.wav"},
        sla={"prompt_heard_rate_min": 0.9, "time_to_prompt_p95_ms_max": 1000, "dead_air_p95_s_max": 2,
             "one_way_audio_max": 0.5})
    out = tmp_path / "run"
    result = callproof("run", str(path), "--out", str(out), timeout=240)
    summary = json.loads((out / "summary.json").read_text())
    entries = [json.loads(line) for line in (out / "hearing.jsonl").read_text().splitlines()]
    assert entries and len(entries) == summary["hearing"]["calls"]

    onset_ms = 1000 * audible_span(read_wav(menu)[0])[0] / HEARING_RATE_HZ
    # The agents loop their WAV: the longest silence a caller can hear is the longest in two plays of it
    # (the menu's own pauses, its tail joined to the next play's lead).
    agent = read_wav(tmp_path / "agent.wav")[0]
    longest_s = silence(np.concatenate([agent, agent]), 8000).longest_s
    for entry in entries:
        expected_menu, expected_hold = entry["prompts"]
        assert expected_menu["heard"], expected_menu["reason"]
        assert expected_menu["time_to_prompt_ms"] == pytest.approx(1000 * LEAD_S + onset_ms, abs=20)
        assert not expected_hold["heard"]  # the agents never play it
        assert entry["audio_in"] and entry["audio_out"] and entry["one_way"] is False
        # Give or take what a busy machine adds: a jitter buffer that runs dry (jbuf_empty) or shrinks plays
        # silence, which the caller hears (seen: 0.92-1.14 s for 0.94 s, 2 cores shared with other jobs).
        assert entry["dead_air_s"] == pytest.approx(longest_s, abs=0.25)
    assert summary["hearing"]["prompts_heard"] * 2 == summary["hearing"]["prompts_expected"]
    lines = {line["name"]: line for line in summary["sla"]}
    assert lines["prompt_heard_rate"]["observed"] == 50.0 and lines["prompt_heard_rate"]["verdict"] == "FAIL"
    assert lines["one_way_audio"]["observed"] == 0.0
    assert result.returncode == 1 or summary["verdict"] == "INVALID"  # a busy machine may invalidate the run
    junit = (out / "junit.xml").read_text()
    for name in ("prompt_heard_rate", "time_to_prompt_p95", "dead_air_p95", "one_way_audio"):
        assert f'testcase name="{name}"' in junit
    page = (out / "report.html").read_text()
    assert 'id="plot-time_to_prompt"' in page and 'id="hearing"' in page
    key = tmp_path / "home"
    verified = callproof("verify", str(out), env={"XDG_CONFIG_HOME": str(key)})
    assert "intact" in verified.stdout + verified.stderr
