"""The verifier's sentences (summary.json: verdict_reason, each SLA line's note, the generator's
reason, why PESQ scored nothing) in the report's language.

The verifier writes them in English, once, into summary.json: that file is the evidence, and
a contract or a CI system quotes it. A report in another language translates them clause by
clause ("; " separates clauses): each clause the verifier can write has a pattern here, its
numbers, names and units carried over as they are. A clause with no pattern stays in
English, so nothing is ever lost or guessed; tests/reports/test_report_zh.py renders a run
whose every sentence must come out translated, so a new sentence gets its translation.
"""

from __future__ import annotations

import re
from typing import Callable

INTERRUPTED = " (the run was interrupted: lines judged on the calls it made)"
_TRIALS = {"calls": "个呼叫", "probe intervals": "个探测区间", "expected prompts": "个预期提示音",
           "recorded calls": "个已录制呼叫"}
_TRIAL_WORDS = "calls|probe intervals|expected prompts|recorded calls"

_Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]


def _bounds(text: str) -> str:
    """"95% interval 90.1 to 99.2 %", "probe-grid bounds at most 12 s" in Chinese."""
    kind, _, rest = text.partition(" ")
    if text.startswith("95% interval "):
        kind, rest = "95% 置信区间", text.removeprefix("95% interval ")
    elif text.startswith("probe-grid bounds "):
        kind, rest = "探测网格界限", text.removeprefix("probe-grid bounds ")
    rest = re.sub(r"^at most ", "至多 ", re.sub(r"^at least ", "至少 ", rest))
    return f"{kind} {rest.replace(' to ', ' 至 ')}"


def _rules() -> list[_Rule]:
    table: list[tuple[str, str | Callable[[re.Match[str]], str]]] = [
        # The line under the verdict (callproof.harness.verdict.sla.run_verdict).
        (r"all (?P<n>\d+) SLA lines passed", "全部 {n} 条 SLA 指标均通过"),
        (r"no SLA line is switched on in the scenario: nothing was checked",
         "场景中未启用任何 SLA 指标：没有检查任何内容"),
        (r"(?P<name>\w+) (?P<observed>.+?) misses (?P<cmp>[<>]=) (?P<threshold>.+?) \((?P<bounds>.+)\)",
         lambda m: f"{m['name']} {m['observed']} 未满足 {m['cmp']} {m['threshold']}（{_bounds(m['bounds'])}）"),
        (r"(?P<name>\w+) (?P<observed>.+?) would miss (?P<cmp>[<>]=) (?P<threshold>.+?), "
         r"but that loss cannot be told from ours",
         "{name} {observed} 本会未满足 {cmp} {threshold}，但这部分丢包无法与我方自身的丢包区分"),
        (r"(?P<name>\w+) not measured", "{name} 未测得"),
        (r"(?P<name>\w+) undecided", "{name} 无法判定"),
        # What the notes of the SLA lines are made of (callproof.harness.verdict.sla).
        (rf"(?P<count>\d+) of (?P<total>\d+) (?P<trials>{_TRIAL_WORDS})",
         lambda m: f"{m['total']} {_TRIALS[m['trials']]}中的 {m['count']} 个"),
        (r"95% Wilson interval", "95% Wilson 置信区间"),
        (r"(?P<n>\d+) calls", "{n} 个呼叫"),
        (r"95% distribution-free interval \(ranks (?P<low>\S+) and (?P<high>\S+) of (?P<n>\d+)\)",
         "95% 无分布假设置信区间（共 {n} 个中的第 {low} 和第 {high} 位）"),
        (rf"about (?P<n>\d+) more (?P<trials>{_TRIAL_WORDS}) would settle it, if what was observed held",
         lambda m: f"若观测值保持不变，约再需 {m['n']} {_TRIALS[m['trials']]}即可判定"),
        (rf"no number of further (?P<trials>{_TRIAL_WORDS}) settles it while the observed value sits on "
         r"the threshold", "观测值恰在阈值上，再多的样本也无法判定"),
        (r"more than (?P<pct>[\d.]+)% of calls were never answered: the percentile is above what is shown",
         "超过 {pct}% 的呼叫从未被接听：该百分位高于所示值"),
        (r"reached an agent \(the agent marker arrived\) / offered", "到达坐席（收到坐席标记）/ 呼入总数"),
        (r"reached an agent \(the 200 OK arrived\) / offered", "到达坐席（收到 200 OK）/ 呼入总数"),
        (r"calls abandoned in the queue count as offered, not as failures",
         "在队列中放弃的呼叫计入呼入总数，不计为失败"),
        (r"RFC 6076 4\.8 ineffective session attempts: INVITEs ending in 408, 500, 503 or 504 \(no response "
         r"counts as 408, a transport error as 503: RFC 3261 8\.1\.3\.1\)",
         "RFC 6076 4.8 无效会话尝试：以 408、500、503 或 504 结束的 INVITE（无响应计为 408，传输错误计为 503："
         "RFC 3261 8.1.3.1）"),
        (r"first answer: INVITE to the 200 OK, p95 over calls answered or rung out \(a rung-out call counts as "
         r"longer than every answer\)",
         "首次接听：从 INVITE 到 200 OK，按已接听或振铃超时的呼叫计的 p95（振铃超时的呼叫计为长于任何一次接听）"),
        (r"first answer: INVITE to the agent's pickup \(the agent marker\), p95 over calls that reached an agent, "
         r"abandoned the queue or rang out \(those two count as longer than every answer\)",
         "首次接听：从 INVITE 到坐席接起（坐席标记），按到达坐席、在队列中放弃或振铃超时的呼叫计的 p95"
         "（后两者计为长于任何一次接听）"),
        (r"reached an agent within (?P<s>[\d.]+) s of the INVITE \((?P<how>the agent marker arrived|the 200 OK "
         r"arrived)\) / offered",
         lambda m: f"自 INVITE 起 {m['s']} 秒内到达坐席（{'收到坐席标记' if 'marker' in m['how'] else '收到 200 OK'}）"
                   "/ 呼入总数"),
        (r"calls abandoned in the queue \(the caller's patience ran out\) / offered",
         "在队列中放弃的呼叫（主叫方等待耐心耗尽）/ 呼入总数"),
        (r"RFC 6076 4\.3 SRD, INVITE to the first non-100 provisional or final response, p95",
         "RFC 6076 4.3 SRD：从 INVITE 到首个非 100 临时响应或最终响应，p95"),
        (r"ITU-T G\.107 Annex B MOS-CQE per call \(worse direction\), 5th percentile",
         "ITU-T G.107 附录 B 每个呼叫的 MOS-CQE（较差方向），第 5 百分位"),
        (r"G\.107 one-way delay Ta per call \(RTT / 2 \+ jitter buffer \+ packetisation\), p95",
         "G.107 每个呼叫的单向时延 Ta（RTT / 2 + 抖动缓冲 + 打包时长），p95"),
        (r"RFC 3550 A\.3 packet loss per call \(worse direction\), 95th percentile",
         "RFC 3550 A.3 每个呼叫的丢包率（较差方向），第 95 百分位"),
        (r"probe intervals up / up \+ down \(a probe call every (?P<s>\S+) s",
         "正常探测区间 / （正常 + 中断）（每 {s} 秒一次探测呼叫"),
        (r"(?P<n>\d+) undecided left out\)", "{n} 个无法判定的区间未计入）"),
        (r"fault to the first of (?P<n>\d+) successful probe calls in a row, worst fault",
         "从故障到连续 {n} 次探测呼叫成功中的第一次，取最差的故障"),
        (r"the true RTO lies between the bounds \(probe interval (?P<s>\S+) s\)",
         "真实 RTO 位于上下界之间（探测间隔 {s} 秒）"),
        (r"(?P<n>\d+) of the scenario's (?P<total>\d+) faults never fired", "场景的 {total} 个故障中有 {n} 个从未触发"),
        (r"the fault at (?P<at>\S+) did not take effect \((?P<why>.+)\)", "{at} 的故障未生效（{why}）"),
        (r"service was not restored before the run ended: the RTO is at least the lower bound",
         "运行结束前服务未恢复：RTO 至少为下界"),
        # What the caller heard (callproof.harness.verdict.sla.hearing_lines, docs/hearing.md).
        (r"call\.expect prompts heard within their window / expected, over the recorded calls \(normalised "
         r"cross-correlation with the reference\)",
         "在时限内听到的 call.expect 提示音 / 预期提示音总数，按已录制的呼叫计（与参考音频的归一化互相关）"),
        (r"time to prompt: its answer or DTMF step to the prompt's first sound at our endpoint, p95 over the "
         r"expected prompts \(one not heard counts as longer than every one heard\)",
         "提示音到达时间：从接听或 DTMF 步骤到提示音的第一个声音到达我方终端，按预期提示音计的 p95"
         "（未听到的计为长于任何一次听到的）"),
        (r"dead air: the longest silence \(20 ms frames below -50 dBFS\) the caller heard after the answer, "
         r"per recorded call, p95",
         "静默时长：接听后主叫方听到的最长静默（低于 -50 dBFS 的 20 毫秒帧），按已录制的呼叫计，p95"),
        (r"recorded calls whose audio carried signal in one direction only / recorded calls with both "
         r"directions decided", "仅单向有信号的已录制呼叫 / 双向均可判定的已录制呼叫"),
        (r"no recorded call expected a prompt", "没有已录制的呼叫预期提示音"),
        (r"no answered call was recorded", "没有录制已接听的呼叫"),
        (r"no recorded call with both directions decided \(the caller sends silence when call\.prompt is null\)",
         "没有双向均可判定的已录制呼叫（call.prompt 为 null 时主叫方发送静音）"),
        (r"not measured: (?P<why>.+)", lambda m: f"未测得：{translate_clause(m['why'])}"),
        (r"no calls", "没有呼叫"),
        (r"no call got a response", "没有呼叫收到响应"),
        (r"no call was answered or rang", "没有呼叫被接听或振铃"),
        (r"no call carries a MOS-CQE \(no answered call, or no quality figures in the records\)",
         "没有呼叫带有 MOS-CQE（没有已接听的呼叫，或记录中没有质量数据）"),
        (r"no call had an RTCP round-trip time \(the peer sent no receiver reports\)",
         "没有呼叫测得 RTCP 往返时间（对端未发送接收报告）"),
        (r"no call was answered with media", "没有带媒体的已接听呼叫"),
        (r"no probe call ran", "没有运行探测呼叫"),
        (r"no probe calls ran \(probes\.call_interval_s is null\)",
         "没有运行探测呼叫（probes.call_interval_s 为 null）"),
        (r"(?P<n>\d+) calls? left out: the received SSRC changed \(a new source, RFC 3550 8\.2\) and the engine "
         r"that measured them \(the PyPI wheel\) counts the change as lost packets, so their own loss is unknown",
         "{n} 个呼叫未计入：接收到的 SSRC 发生变化（新的信源，RFC 3550 8.2），而测量它们的引擎（PyPI wheel）"
         "把这一变化计为丢包，因此其实际丢包未知"),
        # The call flow (callproof.harness.verdict.flow), first in a reason that is not PASS.
        (r"(?P<n>\d+) of (?P<total>\d+) answered calls were hung up because a DTMF step could not be delivered "
         r"\((?P<why>.+)\)", "{total} 个已接听呼叫中有 {n} 个因 DTMF 步骤无法送达而被挂断（{why}）"),
        (r"no call reached an agent: the target never sent the agent marker (?P<marker>\S+)",
         "没有呼叫到达坐席：被测目标从未发送坐席标记 {marker}"),
        (r"are callproof's agents the ones answering the queue\?", "接听队列的是 callproof 的坐席吗？"),
        # The load generator's reason when it held (callproof.harness.verdict.generator).
        (r"CPU at most (?P<cpu>[\d.]+)% of one core on (?P<cores>[\d.]+) cores"
         r"(?: \(the whole machine at most (?P<busy>[\d.]+)% busy\))?",
         lambda m: f"CPU 至多为单核的 {m['cpu']}%（共 {m['cores']} 核）"
                   + (f"（整机至多 {m['busy']}% 繁忙）" if m["busy"] else "")),
        (r"CPU not recorded", "未记录 CPU"),
        (r"loop lag at most (?P<ms>[\d.]+) ms", "事件循环延迟至多 {ms} 毫秒"),
        (r"loop lag not recorded", "未记录事件循环延迟"),
        (r"engine pump lag at most (?P<ms>[\d.]+) ms", "引擎事件泵延迟至多 {ms} 毫秒"),
        (r"engine pump lag not recorded", "未记录引擎事件泵延迟"),
        (r"(?P<n>\d+) packets dropped on its own sockets", "自身套接字丢弃 {n} 个数据包"),
        (r"control leg clean \((?P<n>\d+) calls to its own echo\)", "对照支路正常（{n} 个呼叫到自身回声）"),
        (r"no control call ended: the control leg says nothing", "没有结束的对照呼叫：对照支路无结论"),
        (r"no call waited for a slot below the provision", "在预留容量之内没有呼叫等待引擎空位"),
        (r"(?P<sent>\d+) of (?P<n>\d+) answered calls sent their media", "{n} 个已接听呼叫中有 {sent} 个发送了媒体"),
        (r"no health events and no media were recorded: the generator could not be checked",
         "没有记录健康事件和媒体：无法检查负载发生器"),
        # Why PESQ scored no call (callproof.harness.verdict.recordings.why_not_scored).
        (r"no call was recorded \(call\.record_fraction is 0\)", "没有录制任何呼叫（call.record_fraction 为 0）"),
        (r"no reference to score against: call\.prompt is null \(PESQ compares a recording with the prompt the far "
         r"end sends back: the caller's own prompt from an echo\)(?P<pbx> and our agents' prompt reaches callers "
         r"only after the PBX's own media \(menu, queue music\), which PESQ would score as distortion)?",
         lambda m: "没有可比较的参考音频：call.prompt 为 null"
                   "（PESQ 将录音与对端送回的提示音比较：即回声返回的主叫方自身提示音）"
                   + ("，而我方坐席的提示音要在 PBX 自身的媒体（菜单、排队音乐）之后才到达主叫方，PESQ 会将其计为失真"
                      if m["pbx"] else "")),
        (r"no call was recorded: call\.record_fraction picked none of the (?P<n>\d+) answered calls",
         "没有录制任何呼叫：call.record_fraction 未从 {n} 个已接听呼叫中抽中任何一个"),
        (r"no call was recorded: no call was answered", "没有录制任何呼叫：没有呼叫被接听"),
        (r"the (?P<n>\d+) recorded calls were not scored \(the run ended before PESQ ran, or PESQ failed\)",
         "{n} 个已录制的呼叫未评分（运行在 PESQ 之前结束，或 PESQ 失败）"),
        (r"PESQ could not score any of the (?P<n>\d+) recorded calls: (?P<why>.+)",
         lambda m: f"PESQ 无法为 {m['n']} 个已录制呼叫中的任何一个评分：{translate_clause(m['why'])}"),
        (r"the recording is silent", "录音无声"),
        (r"PESQ found no utterances in the recording", "PESQ 在录音中未找到语音段"),
        (r"the prompt is too short for PESQ \(it needs about 0\.25 s\)", "提示音对 PESQ 而言过短（约需 0.25 秒）"),
        (r"the recording is no longer than the (?P<s>[\d.]+) s set aside for settling",
         "录音不长于为稳定而略去的 {s} 秒"),
    ]
    rules: list[_Rule] = []
    for pattern, out in table:
        render = out if callable(out) else (lambda m, out=out: out.format(**m.groupdict()))
        rules.append((re.compile(pattern), render))
    return rules


_RULES = _rules()


def translate_clause(clause: str) -> str:
    """One clause in Chinese, or as it is when no rule knows it."""
    for pattern, render in _RULES:
        match = pattern.fullmatch(clause)
        if match:
            return render(match)
    return clause


def to_chinese(text: str) -> str:
    """A sentence of the verifier in Chinese, clause by clause."""
    suffix = ""
    if text.endswith(INTERRUPTED):
        text, suffix = text.removesuffix(INTERRUPTED), "（运行被中断：按已完成的呼叫判定）"
    return "；".join(translate_clause(clause) for clause in text.split("; ")) + suffix


def untranslated(text: str) -> list[str]:
    """The clauses of `text` no rule knows (for the tests that keep this table complete)."""
    if text.endswith(INTERRUPTED):
        text = text.removesuffix(INTERRUPTED)
    return [clause for clause in text.split("; ") if translate_clause(clause) == clause]
