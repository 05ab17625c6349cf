"""A Chinese report reads wholly in Chinese: the verifier's sentences (the line under the verdict, each
SLA line's note, the load generator's reason, why PESQ scored nothing) are translated clause by clause
(callproof.reports.sentences). Each sentence here is one the verifier really writes, from runs that
pass, fail, measure nothing and are interrupted; a sentence without its translation fails this test."""

from __future__ import annotations

import dataclasses

import pytest
from markupsafe import escape

from callproof.harness.scenario.model import Probes, ServiceLevel
from callproof.harness.verdict.recordings import why_not_scored
from callproof.harness.verdict.sla import judge
from callproof.reports import layout
from callproof.reports.i18n import Translator
from callproof.reports.sentences import to_chinese, untranslated
from callproof.sip.records import Failure
from tests.verify import records as r
from tests.verify.test_verify import sla

EVERY_LINE = sla(answer_rate_min=0.9, isa_max=0.05, first_answer_s_max=30.0,
                 service_level=ServiceLevel(within_s=20.0, min=0.9), abandonment_max=0.1,
                 setup_delay_p95_ms_max=500.0, mos_cqe_p5_min=3.6, one_way_delay_p95_ms_max=150.0,
                 loss_p95_max=0.01, availability_min=0.99, rto_s_max=30.0, prompt_heard_rate_min=0.9,
                 time_to_prompt_p95_ms_max=3000.0, dead_air_p95_s_max=5.0, one_way_audio_max=0.05)
PROBES = Probes(call_interval_s=5.0, options_interval_s=1.0, setup_cap_ms=3000.0, call_talk_s=2.0,
                consecutive_ok=3, uri=None)
HEALTH = [{"at_utc": r.utc(i), "kind": "health", "cpu_pct": 40.0, "cpu_cores": 2, "loop_lag_ms_max": 3.0,
           "pump_lag_ms_max": 4.0, "interval_s": 1.0} for i in range(60)]


def good(i: int):
    return r.answered(i * 0.2, agent_ms=900.0, quality=r.quality(4.4, 4.4), rr=3, rtt_ms=1.0)


RUNS = {
    "every line passes or is unmeasured": ([good(i) for i in range(300)], {}),
    "no call at all": ([], {}),
    "lines fail and stay undecided": (
        [r.answered(i * 0.2, rx_packets=100, rx_lost=40, quality=r.quality(2.0, 4.4)) for i in range(20)]
        + [r.answered(50 + i, failure=Failure.ABANDONED) for i in range(3)], {"interrupted": True}),
    "calls left out after an SSRC change": (
        [good(i) for i in range(30)]
        + [r.answered(90 + i, rx_packets=150, rx_lost=200, ssrc_changes=1, separated=False) for i in range(2)], {}),
}


def heard(i: int, ok: bool = True) -> dict:
    """A hearing.jsonl entry: one expected prompt, heard (or not), audio both ways (or one)."""
    prompt = {"prompt": "menu.wav", "after": "answer", "within_s": 5.0, "heard": ok,
              "time_to_prompt_ms": 700.0 + i if ok else None, "score": 0.98 if ok else 0.2, "reason": None}
    return {"call_id": f"c{i}", "dead_air_s": 0.7, "audio_in": ok, "audio_out": True, "one_way": not ok,
            "prompts": [prompt]}


HEARINGS = ([heard(i) for i in range(100)], [heard(i, i % 2 == 0) for i in range(8)], [])


def verifier_sentences() -> list[str]:
    sentences = []
    for (calls, options), hearing in zip(RUNS.values(), (*HEARINGS, []), strict=True):
        for by_agent in (True, False):
            result = judge(calls, [], HEALTH, sla=EVERY_LINE, probes=PROBES, by_agent=by_agent, faults_planned=1,
                           agent_marker="#" if by_agent else None, hearing_entries=hearing, **options)
            sentences += [result.reason, result.generator.reason, *(line.note for line in result.lines)]
    passing = judge([good(i) for i in range(300)], [], HEALTH, sla=sla(answer_rate_min=0.5), probes=PROBES,
                    by_agent=False, faults_planned=0)
    assert passing.reason == "all 1 SLA lines passed"
    sentences.append(passing.reason)
    return sentences


@pytest.mark.parametrize("sentence", sorted(set(verifier_sentences())))
def test_every_sentence_of_the_verifier_has_its_chinese(sentence):
    assert untranslated(sentence) == []
    assert not any(word in to_chinese(sentence) for word in (" calls", " the ", " of ", " no "))


def test_the_line_under_the_verdict_and_the_interruption_in_chinese():
    assert to_chinese("all 8 SLA lines passed") == "全部 8 条 SLA 指标均通过"
    assert to_chinese("loss_p95 4 % misses <= 1 % (95% interval 2.1 to 6.3 %) (the run was interrupted: lines "
                      "judged on the calls it made)") == (
        "loss_p95 4 % 未满足 <= 1 %（95% 置信区间 2.1 至 6.3 %）（运行被中断：按已完成的呼叫判定）")
    # A clause no rule knows stays as the verifier wrote it: nothing lost, nothing guessed.
    assert to_chinese("all 2 SLA lines passed; something new") == "全部 2 条 SLA 指标均通过；something new"
    assert Translator("en").sentence("all 8 SLA lines passed") == "all 8 SLA lines passed"


def test_why_pesq_scored_nothing_is_said_and_translated(tmp_path):
    scenario = dataclasses.make_dataclass("S", [("call", object), ("agents", object), ("target", object)])
    call = dataclasses.make_dataclass("C", [("record_fraction", float), ("prompt", object)])
    agents = dataclasses.make_dataclass("A", [("mode", str), ("prompt", object)])
    target = dataclasses.make_dataclass("T", [("embedded", bool)])
    behind_pbx = scenario(call(0.1, None), agents("prompt", tmp_path / "agent.wav"), target(False))
    calls = [r.answered(i) for i in range(10)]
    reasons = [
        why_not_scored(behind_pbx, calls, []),
        why_not_scored(scenario(call(0.0, None), agents("echo", None), target(False)), calls, []),
        why_not_scored(scenario(call(0.1, tmp_path / "p.wav"), agents("echo", None), target(False)), calls, []),
        why_not_scored(None, [], []),
        why_not_scored(None, [dataclasses.replace(c, recording="audio/c.wav") for c in calls], []),
        why_not_scored(None, calls, [{"pesq": {"score": None, "reason": "the recording is silent"}}]),
    ]
    assert reasons[0].startswith("no reference to score against: call.prompt is null")
    assert "PBX's own media" in reasons[0]
    assert reasons[1] == "no call was recorded (call.record_fraction is 0)"
    assert reasons[2] == "no call was recorded: call.record_fraction picked none of the 10 answered calls"
    assert reasons[3] == "no call was recorded: no call was answered"
    assert reasons[4] == "the 10 recorded calls were not scored (the run ended before PESQ ran, or PESQ failed)"
    assert reasons[5] == "PESQ could not score any of the 1 recorded calls: the recording is silent"
    assert why_not_scored(None, calls, [{"pesq": {"score": 3.9}}]) is None
    for reason in reasons:
        assert untranslated(reason) == [], reason
    assert to_chinese(reasons[5]) == "PESQ 无法为 1 个已录制呼叫中的任何一个评分：录音无声"


def test_the_chinese_report_shows_them_in_chinese(built_zh):
    folder, truth = built_zh
    page = (folder / layout.REPORT_HTML).read_text(encoding="utf-8")
    summary = truth["summary"]
    assert str(escape(to_chinese(summary["verdict_reason"]))) in page  # as jinja escapes it
    for line in summary["sla"]:
        assert untranslated(line["note"]) == [], line["name"]
        assert str(escape(to_chinese(line["note"]))) in page
    assert untranslated(summary["generator"]["reason"]) == []
    assert str(escape(to_chinese(summary["generator"]["reason"]))) in page
    # Why PESQ scored no call: said, in Chinese (the summary keeps the English sentence).
    reason = summary["media"]["pesq_unscored"]
    assert reason and untranslated(reason) == []
    shown = f"录制呼叫的 PESQ（ITU-T P.862.1 MOS-LQO）: 没有呼叫被评分: {escape(to_chinese(reason))}"
    assert f'<p id="pesq">{shown}</p>' in page
