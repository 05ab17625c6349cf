"""The report's words in English and Simplified Chinese, and a font that can draw them.

Verdict words (PASS, FAIL...) and SLA line names stay as the verifier wrote
them in every language: they are what a contract and a CI system quote. Only
the prose around them is translated.

Chinese needs a CJK font in the plots and the PDF. `find_cjk_font()` asks
matplotlib's font list (which fontconfig's folders feed) for a Simplified
Chinese face; Debian's fonts-noto-cjk provides "Noto Sans CJK SC". matplotlib
caches that list at its first use, so a font installed later is not in it:
when no face is found, the system's fonts are scanned again (once) before we
give up. With none installed, the PDF and plots fall back to English and one
line says so, so Chinese never comes out as empty boxes.
"""

from __future__ import annotations

import dataclasses
import functools

LANGUAGES = ("en", "zh")

# Preferred Simplified Chinese faces, best first.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "AR PL UMing CN",
    "Droid Sans Fallback",
)
STOCK_VERIFY = (
    "ssh-keygen -Y verify -f allowed_signers -I ID -n callproof-bundle -s SHA256SUMS.sig < SHA256SUMS"
    " && sha256sum -c SHA256SUMS"
)
NO_CJK_FONT = (
    "no CJK font is installed (Debian: apt-get install fonts-noto-cjk), "
    "so report.pdf and the plots are in English; report.html is in Chinese"
)

MESSAGES: dict[str, dict[str, str]] = {
    "title": {"en": "callproof load test report", "zh": "callproof 负载测试报告"},
    "scenario": {"en": "Scenario", "zh": "场景"},
    "run_window": {"en": "Run", "zh": "运行时间"},
    "seed": {"en": "Seed", "zh": "随机种子"},
    "interrupted": {
        "en": "This run was interrupted: the report covers the calls recorded before it stopped.",
        "zh": "本次运行被中断：报告只包含中断前记录的呼叫。",
    },
    "verdict": {"en": "Verdict", "zh": "判定"},
    "no_verdict": {"en": "NO VERDICT", "zh": "无判定"},
    "no_verdict_reason": {
        "en": "summary.json holds no verdict (the run ended before the verifier ran).",
        "zh": "summary.json 中没有判定（运行在验证之前结束）。",
    },
    "verdict_PASS": {"en": "passed", "zh": "通过"},
    "verdict_FAIL": {"en": "failed", "zh": "未通过"},
    "verdict_INCONCLUSIVE": {"en": "inconclusive", "zh": "无法判定"},
    "verdict_INVALID": {
        "en": "invalid: the load generator could not vouch for its measurements",
        "zh": "无效：负载发生器无法保证其测量结果",
    },
    "sla_lines": {"en": "SLA lines", "zh": "SLA 指标"},
    "sla_name": {"en": "Line", "zh": "指标"},
    "observed": {"en": "Observed", "zh": "实测值"},
    "threshold": {"en": "Threshold", "zh": "阈值"},
    "ci95": {"en": "95% confidence interval", "zh": "95% 置信区间"},
    "line_verdict": {"en": "Verdict", "zh": "判定"},
    "note": {"en": "Note", "zh": "说明"},
    "not_measured": {"en": "not measured", "zh": "未测得"},
    "no_sla": {"en": "No SLA line was evaluated.", "zh": "没有评估任何 SLA 指标。"},
    "generator": {"en": "Load generator", "zh": "负载发生器"},
    "pesq": {
        "en": "PESQ of the recorded calls (ITU-T P.862.1 MOS-LQO)", "zh": "录制呼叫的 PESQ（ITU-T P.862.1 MOS-LQO）",
    },
    "pesq_calls": {"en": "calls scored", "zh": "个呼叫已评分"},
    "pesq_unscored": {"en": "no call scored", "zh": "没有呼叫被评分"},
    "generator_valid": {"en": "valid: its own measurements held", "zh": "有效：发生器自身的测量可靠"},
    "generator_invalid": {
        "en": "INVALID: its own measurements cannot be trusted", "zh": "无效：发生器自身的测量不可信",
    },
    "generator_unknown": {"en": "not checked", "zh": "未检查"},
    "cpu_max": {"en": "max CPU", "zh": "最高 CPU"},
    "loop_lag_max": {"en": "max event-loop lag", "zh": "最大事件循环延迟"},
    "starved": {"en": "calls it could not start", "zh": "未能发起的呼叫"},
    "machine_busy_max": {"en": "whole machine busy at most", "zh": "整机 CPU 最高占用"},
    "own_socket_drops": {"en": "packets dropped by its own sockets", "zh": "自身套接字丢弃的数据包"},
    "control_leg": {"en": "Control leg", "zh": "对照呼叫"},
    "control_leg_note": {
        "en": (
            "Calls the load generator placed beside the target's, through the same engine processes with the same"
            " media, to an echo of its own on the same machine: nothing of the target's is on their path, so their"
            " figures are the generator's own baseline. They count in no SLA line."
        ),
        "zh": (
            "负载发生器在目标呼叫之外，经由相同的引擎进程、相同的媒体设置，向同一台机器上自己的回声端发起的呼叫："
            "其路径上没有任何目标系统的部分，因此这些数值就是发生器自身的基线。它们不计入任何 SLA 指标。"
        ),
    },
    "target_calls": {"en": "target's calls", "zh": "目标呼叫"},
    "control_calls": {"en": "control leg (our own echo)", "zh": "对照呼叫（自身回声）"},
    "setup_delay_short": {"en": "setup delay", "zh": "建立时延"},
    "calls": {"en": "Calls: the SIP dialog (RFC 6076)", "zh": "呼叫：SIP 对话（RFC 6076）"},
    "answered_200": {"en": "answered (200 OK)", "zh": "应答（200 OK）"},
    "queue": {"en": "The queue, as a call center reads it", "zh": "排队：呼叫中心视角"},
    "queue_by_marker": {
        "en": ("A call reached an agent when the agent's pickup marker arrived. The 200 OK, which an IVR or "
               "a queue sends long before any agent, describes the SIP dialog: it is counted under Calls and in "
               "RFC 6076's figures, never as an answer here."),
        "zh": ("当坐席的接听标记到达时，呼叫才算接通坐席。IVR 或队列在坐席接听之前早已发送的 200 OK 只描述 SIP 对话："
               "它计入“呼叫”与 RFC 6076 指标，在此不算作应答。"),
    },
    "queue_by_200": {
        "en": "The scenario has no agent marker: a call reached an agent when the 200 OK arrived.",
        "zh": "场景未设置坐席标记：收到 200 OK 即视为接通坐席。",
    },
    "offered": {"en": "offered", "zh": "呼入"},
    "reached_agent": {"en": "reached an agent", "zh": "接通坐席"},
    "time_to_agent": {"en": "Time to agent (first answer, ASA)", "zh": "接通坐席时间（首次应答，ASA）"},
    "time_to_abandon": {"en": "Time to abandon", "zh": "放弃前等待时间"},
    "service_level": {"en": "service level", "zh": "服务水平"},
    "service_level_value": {"en": "{pct} reached an agent within {within} s", "zh": "{pct} 在 {within} 秒内接通坐席"},
    "average_handle_time": {"en": "average handle time", "zh": "平均处理时长"},
    "plot_time_to_agent": {
        "en": "Time to agent and time to abandon, distribution",
        "zh": "接通坐席时间与放弃前等待时间的分布",
    },
    "hearing": {"en": "What the caller heard", "zh": "主叫方听到的内容"},
    "hearing_calls": {"en": "recorded calls analysed", "zh": "个已录制呼叫已分析"},
    "prompts_heard_of": {"en": "prompts heard", "zh": "听到的提示音"},
    "time_to_prompt": {"en": "time to prompt", "zh": "提示音到达时间"},
    "dead_air": {"en": "dead air", "zh": "静默时长"},
    "one_way_audio": {"en": "one-way audio", "zh": "单向音频"},
    "plot_time_to_prompt": {
        "en": "Time to prompt (call.expect), distribution",
        "zh": "提示音到达时间（call.expect）的分布",
    },
    "prompts_heard": {"en": "heard", "zh": "已听到"},
    "ms_after_anchor": {"en": "ms after the answer or the DTMF step", "zh": "接听或 DTMF 步骤之后的毫秒数"},
    "share_of_expected": {"en": "share of expected prompts", "zh": "预期提示音的比例"},
    "seconds_after_invite": {"en": "seconds after the INVITE", "zh": "INVITE 之后的秒数"},
    "abandoned_calls": {"en": "abandoned", "zh": "放弃"},
    "attempted": {"en": "attempted", "zh": "发起"},
    "answered": {"en": "answered", "zh": "应答"},
    "abandoned": {"en": "abandoned", "zh": "放弃"},
    "failed": {"en": "failed", "zh": "失败"},
    "setup_delay": {"en": "Setup delay (RFC 6076 SRD)", "zh": "呼叫建立时延（RFC 6076 SRD）"},
    "answer_delay": {"en": "Time to answer (200 OK)", "zh": "应答时间（200 OK）"},
    "timing_resolution": {
        "en": "Timing resolution (the SIP engines' worst event-pump lag while the calls ran)",
        "zh": "计时分辨率（呼叫进行期间 SIP 引擎事件泵的最大延迟）",
    },
    "failures_by_reason": {"en": "Failures by reason", "zh": "按原因统计的失败"},
    "availability": {"en": "Availability", "zh": "可用性"},
    "outages": {"en": "Outages", "zh": "中断"},
    "outage_start": {"en": "Start (UTC)", "zh": "开始（UTC）"},
    "outage_end": {"en": "End (UTC)", "zh": "结束（UTC）"},
    "outage_cause": {"en": "Cause", "zh": "原因"},
    "still_down": {"en": "still down at the end", "zh": "结束时仍未恢复"},
    "no_outages": {"en": "No outage.", "zh": "无中断。"},
    "rto": {"en": "Recovery time (RTO)", "zh": "恢复时间（RTO）"},
    "resolution": {"en": "resolution", "zh": "分辨率"},
    "plots": {"en": "Plots", "zh": "图表"},
    "worst_calls": {"en": "Worst calls", "zh": "最差呼叫"},
    "lowest_mos": {"en": "Lowest MOS-CQE", "zh": "MOS-CQE 最低的呼叫"},
    "no_mos": {"en": "No call has a MOS-CQE.", "zh": "没有呼叫测得 MOS-CQE。"},
    "failed_calls": {"en": "Failed and abandoned calls", "zh": "失败和放弃的呼叫"},
    "failed_calls_shown": {
        "en": "{shown} of {total} shown: the first {per_reason} of each reason.",
        "zh": "共 {total} 个，显示 {shown} 个：每种原因的前 {per_reason} 个。",
    },
    "no_failed": {"en": "No call failed.", "zh": "没有失败的呼叫。"},
    "call_id": {"en": "Call-ID", "zh": "Call-ID"},
    "invite_utc": {"en": "INVITE (UTC)", "zh": "INVITE（UTC）"},
    "target": {"en": "Target", "zh": "目标"},
    "outcome": {"en": "Outcome", "zh": "结果"},
    "final": {"en": "Final response", "zh": "最终响应"},
    "setup_ms": {"en": "Setup (ms)", "zh": "建立（ms）"},
    "answer_ms": {"en": "Answer (ms)", "zh": "应答（ms）"},
    "duration_s": {"en": "Duration (s)", "zh": "时长（s）"},
    "mos_cqe": {"en": "MOS-CQE", "zh": "MOS-CQE"},
    "jitter_ms": {"en": "Jitter (ms)", "zh": "抖动（ms）"},
    "loss_pct": {"en": "Loss, worse direction (%)", "zh": "丢包，较差方向（%）"},
    "recording": {"en": "Recording", "zh": "录音"},
    "footer": {
        "en": (
            "Made by callproof {version}. To check that no byte of this bundle changed, put the signer's"
            ' public key in a file allowed_signers as "ID KEY" and run, in this folder:'
        ),
        "zh": (
            "由 callproof {version} 生成。要校验本证据包的每个字节都未被修改，"
            '请将签名者公钥以 "ID KEY" 的形式写入 allowed_signers 文件，并在本目录中运行：'
        ),
    },
    "footer_callproof": {
        "en": "or: callproof verify . --pubkey SIGNER.pub",
        "zh": "或：callproof verify . --pubkey SIGNER.pub",
    },
    "signed_by": {"en": "Signer's key (information only)", "zh": "签名者公钥（仅供参考）"},
    # Plots
    "time_s": {"en": "time since start (s)", "zh": "自开始起的时间（秒）"},
    "time_min": {"en": "time since start (min)", "zh": "自开始起的时间（分钟）"},
    "plot_load": {"en": "Offered and answered calls, concurrent calls", "zh": "发起与应答的呼叫、并发呼叫"},
    "calls_per_s": {"en": "calls per second", "zh": "每秒呼叫数"},
    "offered_per_s": {"en": "offered / s", "zh": "发起 / 秒"},
    "answered_per_s": {"en": "answered / s", "zh": "应答 / 秒"},
    "target_rate": {"en": "target rate", "zh": "目标速率"},
    "concurrent": {"en": "concurrent calls", "zh": "并发呼叫"},
    "target_users": {"en": "target users (load shape)", "zh": "目标用户数（负载形状）"},
    "plot_setup": {"en": "Setup delay percentiles over time", "zh": "呼叫建立时延百分位随时间变化"},
    "setup_delay_ms": {"en": "setup delay (ms)", "zh": "建立时延（毫秒）"},
    "plot_answer_rate": {"en": "Answer rate over time, outages and faults", "zh": "应答率随时间变化、中断与故障"},
    "answer_rate_pct": {"en": "answer rate (%)", "zh": "应答率（%）"},
    "outage": {"en": "outage", "zh": "中断"},
    "fault": {"en": "fault", "zh": "故障"},
    "plot_mos": {"en": "MOS-CQE distribution (ITU-T G.107)", "zh": "MOS-CQE 分布（ITU-T G.107）"},
    "calls_count": {"en": "calls", "zh": "呼叫数"},
    "plot_media": {"en": "Jitter and loss (RFC 3550), cumulative", "zh": "抖动与丢包（RFC 3550）累积分布"},
    "jitter_axis": {"en": "mean jitter per call (ms)", "zh": "每次呼叫平均抖动（毫秒）"},
    "loss_axis": {"en": "packet loss per call, worse direction (%)", "zh": "每次呼叫丢包率，较差方向（%）"},
    "share_of_calls": {"en": "share of calls", "zh": "呼叫占比"},
    "share_of_offered": {"en": "share of offered calls", "zh": "占呼入呼叫的比例"},
    "plot_availability": {"en": "Availability probes, outages and RTO", "zh": "可用性探测、中断与 RTO"},
    "probe_call": {"en": "probe call", "zh": "探测呼叫"},
    "probe_options": {"en": "SIP OPTIONS", "zh": "SIP OPTIONS"},
    "probe_ok": {"en": "ok", "zh": "成功"},
    "probe_failed": {"en": "failed", "zh": "失败"},
    "probe_undecided": {"en": "undecided", "zh": "未判定"},
    "rto_label": {"en": "RTO {rto} s", "zh": "RTO {rto} 秒"},
    "plot_generator": {
        "en": "The load generator's own health: the machine's CPU, stalls, drops on its own sockets",
        "zh": "负载发生器自身状态：整机 CPU、停顿、自身套接字丢包",
    },
    "cpu_share_pct": {"en": "% of all cores / of the time", "zh": "占全部核心 / 时间的 %"},
    "machine_busy": {"en": "whole machine busy", "zh": "整机占用"},
    "ours_busy": {"en": "ours", "zh": "本工具"},
    "cpu_pressure": {"en": "CPU pressure (PSI some)", "zh": "CPU 压力（PSI some）"},
    "our_wait": {"en": "longest wait of a thread of ours for a CPU", "zh": "本工具线程等待 CPU 的最长时间"},
    "pump_lag_ms": {"en": "SIP engine pump lag (ms)", "zh": "SIP 引擎轮询延迟（毫秒）"},
    "event_loop_lag_ms": {"en": "load event-loop lag (ms)", "zh": "负载事件循环延迟（毫秒）"},
    "own_drops_marker": {"en": "packets dropped by our own sockets", "zh": "自身套接字丢包"},
    "stall_limit": {"en": "stall limit", "zh": "停顿上限"},
    "lag_ms": {"en": "lag (ms, log scale)", "zh": "延迟（毫秒，对数刻度）"},
    "starved_calls": {"en": "calls dropped at the cap or lost", "zh": "因上限被丢弃或丢失的呼叫"},
    "no_data": {"en": "no data", "zh": "无数据"},
}


class Translator:
    """`tr("key", **values)`: the message in this language, formatted."""

    def __init__(self, lang: str) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"language {lang!r} is not one of {', '.join(LANGUAGES)}")
        self.lang = lang

    def __call__(self, key: str, **values: object) -> str:
        text = MESSAGES[key][self.lang]
        return text.format(**values) if values else text

    def sentence(self, text: str) -> str:
        """One of the verifier's sentences (summary.json, written in English) in this language."""
        if self.lang == "zh":
            from callproof.reports.sentences import to_chinese

            return to_chinese(text)
        return text


@dataclasses.dataclass(frozen=True)
class CjkFont:
    family: str
    path: str
    index: int  # face number inside a .ttc collection


@functools.cache
def find_cjk_font(bold: bool = False) -> CjkFont | None:
    """The best installed Simplified Chinese font, or None (matplotlib's font list, no guessing).

    `bold` picks the family's face nearest weight 700 instead of 400.
    """
    font = _best_cjk_face(700 if bold else 400)
    if font is None and rescan_fonts():
        font = _best_cjk_face(700 if bold else 400)
    return font


def _best_cjk_face(weight: int) -> CjkFont | None:
    from matplotlib import font_manager

    for family in CJK_FAMILIES:
        entries = [f for f in font_manager.fontManager.ttflist if f.name == family and f.style == "normal"]
        if entries:
            face = min(entries, key=lambda f: abs(_weight(f.weight) - weight))
            return CjkFont(family, face.fname, int(getattr(face, "index", 0) or 0))
    return None


@functools.cache
def rescan_fonts() -> bool:
    """Scan the system's fonts again, once per process; True when fonts were found that matplotlib's list lacked.

    matplotlib builds its font list at first use and caches it (fontlist-*.json in its cache
    folder), so a font installed afterwards stays invisible to every later run. The scan
    rewrites that cache, as matplotlib itself does when it has none (so the next run sees the
    font at once), and adds the new files to this process's list (`FontManager.addfont`).
    """
    from matplotlib import font_manager

    # scans, then writes the cache; matplotlib's stub leaves this private function out
    fresh = font_manager._load_fontmanager(try_read_cache=False)  # type: ignore[attr-defined]
    running = font_manager.fontManager
    new_files = sorted({f.fname for f in fresh.ttflist} - {f.fname for f in running.ttflist})
    for path in new_files:
        running.addfont(path)
    return bool(new_files)


def _weight(weight: int | str) -> int:
    names = {"light": 300, "normal": 400, "regular": 400, "medium": 500, "bold": 700}
    return weight if isinstance(weight, int) else names.get(str(weight).lower(), 400)
