"""What the caller heard, from a recording to its SLA lines: the arithmetic of time to prompt (the
recording's start, the anchor, our jitter buffer), dead air, one-way audio, and the scenario's errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from callproof.harness.errors import BadInput
from callproof.harness.scenario.loader import load_scenario
from callproof.harness.scenario.model import Expectation
from callproof.harness.verdict import hearing
from callproof.harness.verdict.sla import hearing_lines
from callproof.reports.summary_file import Verdict
from callproof.rtp_analysis.hearing import audible_span
from tests.speech import speech_samples, write_wav
from tests.verify import records as r
from tests.verify.test_verify import sla


@pytest.fixture(scope="module")
def menu(tmp_path_factory):
    folder = tmp_path_factory.mktemp("menu")
    samples = speech_samples(folder, "menu_en")
    return write_wav(folder / "menu.wav", samples), samples


def test_time_to_prompt_counts_from_the_anchor_to_the_first_sound_at_our_endpoint(menu, tmp_path):
    path, samples = menu
    # The recorder joined 30 ms after the 200 OK; the menu's first sound is 1.5 s into the recording;
    # our jitter buffer held it 20 ms (records.media's jbuf_delay_ms): it reached us 1510 ms after the
    # answer, 1010 ms after DTMF step 1 (handed over at 700 ms).
    first, _ = audible_span(samples)
    lead = 12000 - first
    wav = write_wav(tmp_path / "rec.wav", np.concatenate([np.zeros(lead), samples, np.zeros(8000)]))
    call = dataclasses.replace(r.answered(answer_ms=200.0), recording="rec.wav",
                               recording_start_ms=230.0, dtmf_steps_ms=(700.0,))
    expect = (Expectation(path, 5.0, "answer", None), Expectation(path, 5.0, "dtmf 1", 0),
              Expectation(path, 0.5, "dtmf step 1", 0), Expectation(path, 5.0, "dtmf step 2", 1))
    entry = hearing.analyse_call(call, wav, expect, caller_signal=True)
    answer, step, late, undelivered = entry["prompts"]
    assert answer["heard"] and answer["time_to_prompt_ms"] == pytest.approx(230 + 1500 - 20 - 200, abs=0.2)
    assert step["heard"] and step["time_to_prompt_ms"] == pytest.approx(1510 - 500, abs=0.2)
    assert answer["score"] > 0.99
    assert not late["heard"] and late["reason"].startswith("no match reached the threshold within 0.5 s")
    assert not undelivered["heard"] and undelivered["reason"] == "DTMF step 2 was not delivered"
    assert entry["dead_air_s"] == 1.5 and entry["dead_air_from_ms"] == 230.0
    assert entry["audio_in"] is True and entry["audio_out"] is True and entry["one_way"] is False


def test_silence_received_while_we_sent_signal_is_one_way_audio(tmp_path):
    wav = write_wav(tmp_path / "silent.wav", np.zeros(8000 * 4))
    call = dataclasses.replace(r.answered(), recording="silent.wav", recording_start_ms=201.0)
    entry = hearing.analyse_call(call, wav, (), caller_signal=True)
    assert entry["dead_air_s"] == 4.0 and entry["audio_in"] is False
    assert entry["audio_out"] is True and entry["one_way"] is True
    # A caller that sends silence by design decides nothing about the other direction.
    assert hearing.analyse_call(call, wav, (), caller_signal=None)["one_way"] is None
    # The peer's receiver reports say none of our packets arrived: nothing flowed out either.
    refused = dataclasses.replace(call, media=r.media(tx_packets=150, tx_lost=150, rr=3))
    assert hearing.analyse_call(refused, wav, (), caller_signal=True)["audio_out"] is False


def entries(heard: list[float | None], dead: list[float], one_way: list[bool | None]) -> list[dict]:
    out = []
    for i, (t, d, w) in enumerate(zip(heard, dead, one_way, strict=True)):
        prompt = {"prompt": "menu.wav", "after": "answer", "within_s": 5.0, "heard": t is not None,
                  "time_to_prompt_ms": t, "score": 0.9, "reason": None}
        out.append({"call_id": str(i), "dead_air_s": d, "audio_in": True, "audio_out": True, "one_way": w,
                    "prompts": [prompt]})
    return out


def test_the_lines_read_hearing_jsonl():
    data = entries([700.0 + i for i in range(95)] + [None] * 5, [0.7] * 100, [False] * 99 + [None])
    lines = {line.name: line for line in hearing_lines(
        sla(prompt_heard_rate_min=0.8, time_to_prompt_p95_ms_max=1000.0, dead_air_p95_s_max=1.0,
            one_way_audio_max=0.05), data)}
    assert lines["prompt_heard_rate"].observed == 95.0 and lines["prompt_heard_rate"].verdict == Verdict.PASS
    # 5 not heard count as longer than every heard one: the p95 is the 95th value, 794 ms; its upper
    # bound lands on a prompt not heard, which has no upper bound: undecided.
    ttp = lines["time_to_prompt_p95"]
    assert ttp.observed == 794.0 and ttp.ci_high is None and ttp.verdict == Verdict.INCONCLUSIVE
    assert lines["dead_air_p95"].observed == 0.7 and lines["dead_air_p95"].verdict == Verdict.PASS
    assert lines["one_way_audio"].observed == 0.0 and "0 of 99 recorded calls" in lines["one_way_audio"].note
    summary = hearing.hearing_summary(data)
    assert summary["prompts_expected"] == 100 and summary["prompts_heard"] == 95
    assert summary["time_to_prompt_ms"]["p50"] == 747.0 and summary["one_way_decided"] == 99
    assert math.isinf(hearing.times_to_prompt_ms(data)[-1])
    nothing = hearing_lines(sla(prompt_heard_rate_min=0.8, one_way_audio_max=0.05), [])
    assert [line.verdict for line in nothing] == [Verdict.INCONCLUSIVE] * 2
    assert nothing[0].note.startswith("not measured: no recorded call expected a prompt")


SCENARIO = """\
name: t
description: test
target: {uri: embedded}
load: {peak_concurrent: 2, duration_s: 30, max_cps: 10, max_concurrent: 10}
call:
  talk_time: {distribution: fixed, value_s: 2}
  record_fraction: 0.5
  dtmf: [{wait_s: 1, digits: "1"}, {wait_s: 1, digits: "1"}]
  expect:
"""


@pytest.mark.parametrize(("item", "sentence"), [
    ("{prompt: menu.wav, after: dtmf 1}", "line 10: call.expect[0].after is dtmf 1, but call.dtmf steps 1, 2 all send "
                                          "1; name one step: after: dtmf step N"),
    ("{prompt: menu.wav, after: dtmf 9}", "line 10: call.expect[0].after is dtmf 9, but no call.dtmf step sends 9; "
                                          "name one step: after: dtmf step N"),
    ("{prompt: menu.wav, after: dtmf step 3}",
     "line 10: call.expect[0].after is dtmf step 3, but call.dtmf has 2 steps"),
    ("{prompt: menu.wav, after: ringing}", 'line 10: call.expect[0].after must be answer, dtmf DIGITS or dtmf step N '
                                           '(got "ringing")'),
    ("{prompt: beep.wav}", "line 10: call.expect[0].prompt names beep.wav, which cannot be matched: the prompt has "
                           "0.00 s of sound above -50 dBFS; matching needs at least 0.3 s"),
    ("{prompt: ../menu.wav}",
     "line 10: call.expect[0].prompt names ../menu.wav, which is outside the scenario's folder"),
])
def test_a_bad_expectation_is_one_sentence(item, sentence, menu, tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "menu.wav").write_bytes(menu[0].read_bytes())
    (tmp_path / "menu.wav").write_bytes(menu[0].read_bytes())
    write_wav(folder / "beep.wav", np.zeros(8000))
    (folder / "x.yaml").write_text(SCENARIO + f"    - {item}\n")
    with pytest.raises(BadInput) as caught:
        load_scenario(folder / "x.yaml")
    assert str(caught.value).startswith(f"{folder / 'x.yaml'}, {sentence}")
    assert caught.value.exit_code == 2


def test_expectations_need_recorded_calls(menu, tmp_path):
    (tmp_path / "menu.wav").write_bytes(menu[0].read_bytes())
    (tmp_path / "x.yaml").write_text(SCENARIO.replace("0.5", "0") + "    - {prompt: menu.wav}\n")
    with pytest.raises(BadInput, match="call.expect is checked on recorded calls: set call.record_fraction above 0"):
        load_scenario(tmp_path / "x.yaml")
    (tmp_path / "x.yaml").write_text(SCENARIO + "    - {prompt: menu.wav, within_s: 4, after: dtmf step 2}\n")
    (expect,) = load_scenario(tmp_path / "x.yaml").call.expect
    assert (expect.prompt, expect.within_s, expect.after, expect.step) == (tmp_path / "menu.wav", 4.0,
                                                                          "dtmf step 2", 1)
