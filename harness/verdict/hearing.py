"""What the caller heard, per recorded call (hearing.jsonl), and its figures and SLA lines.

After the load, like PESQ (callproof.harness.verdict.recordings): each recorded call's
WAV is searched for the scenario's `call.expect` prompts, and its silence and signal
are measured (callproof.rtp_analysis.hearing). Definitions (docs/hearing.md):

    recording timeline   sample t of the WAV is at recording_start_ms + 1000 t after the
                         INVITE (the recorder joined the call's audio then; its first
                         frame is the media bridge's next 20 ms tick)
    time to prompt       when the prompt's first sound reached our endpoint, less the
                         anchor: recording_start_ms + 1000 start_s - jbuf - anchor_ms, the
                         anchor the 200 OK (answer_ms) or the DTMF step's hand-over
                         (dtmf_steps_ms); jbuf, our own jitter buffer's delay (ours, not
                         the target's), is min(jbuf_delay_ms, ptime_ms): one packet at the
                         start of a call
    heard                the prompt's match score reached the threshold at a start within
                         within_s of the anchor
    dead air             the longest run of silent 20 ms frames in the recording (from
                         the answer to the hang-up)
    audio_in             the recording carries at least 0.2 s of signal
    audio_out            we put signal into RTP (call.prompt has sound and packets went
                         out): None when the caller sends silence by design (no prompt);
                         False when no packet went out, or the peer's RTCP receiver
                         reports say none arrived
    one-way audio        audio_in differs from audio_out (None when audio_out is None)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

from callproof.harness.scenario.model import Expectation, Scenario
from callproof.harness.verdict.connect import Ratio
from callproof.harness.verdict.stats import percentiles
from callproof.reports import layout
from callproof.reports.records import load_calls
from callproof.sip.records import CallRecord

POINTS = (5, 50, 95)


def _reference(path: Path, cache: dict[Path, Any]) -> Any:
    from callproof.rtp_analysis.audio import read_wav
    from callproof.rtp_analysis.hearing import prepare_reference

    if path not in cache:
        cache[path] = prepare_reference(*read_wav(path))
    return cache[path]


def sends_signal(scenario: Scenario) -> bool | None:
    """Whether the caller's prompt carries sound (None: the caller sends silence by design)."""
    from callproof.rtp_analysis.audio import read_wav
    from callproof.rtp_analysis.hearing import silence

    if scenario.call.prompt is None:
        return None
    samples, rate = read_wav(scenario.call.prompt)
    return silence(samples, rate).has_signal


def analyse_call(call: CallRecord, recording: Path, expect: Sequence[Expectation], *,
                 caller_signal: bool | None, references: dict[Path, Any] | None = None) -> dict[str, Any]:
    """hearing.jsonl's entry for one recorded call (its keys: callproof.reports.layout)."""
    from callproof.rtp_analysis.audio import read_wav
    from callproof.rtp_analysis.hearing import HEARING_RATE_HZ, SLIP_S, band_limited, match_prepared, silence

    references = {} if references is None else references
    samples, rate = read_wav(recording)
    quiet = silence(samples, rate)
    media = call.media
    # Our jitter buffer's delay when the prompt arrived is not recorded; its average over the call
    # overstates it when the buffer grew later (a busy machine): one packet, pjmedia's hold at a call's
    # start (measured 20 ms on clean 20 ms calls), or less when the average is less.
    jbuf_ms = min(media.jbuf_delay_ms, media.ptime_ms) if media is not None else 0.0
    start_ms = call.recording_start_ms
    audio_out = None
    if caller_signal is not None:
        sent = media is not None and media.tx_packets > 0
        refused = media is not None and media.rtcp_rr_received > 0 and media.tx_lost >= media.tx_packets
        audio_out = bool(caller_signal and sent and not refused) if caller_signal else None
    entry: dict[str, Any] = {
        "call_id": call.call_id,
        "recording": call.recording,
        "recording_s": round(samples.size / rate, 3),
        "dead_air_s": quiet.longest_s,
        "dead_air_from_ms": None if quiet.longest_from_s is None or start_ms is None
        else round(start_ms + 1000.0 * quiet.longest_from_s, 3),
        "signal_s": quiet.signal_s,
        "audio_in": quiet.has_signal,
        "audio_out": audio_out,
        "one_way": None if audio_out is None else audio_out != quiet.has_signal,
        "prompts": [],
    }
    band = band_limited(samples, rate) if expect else None
    for item in expect:
        result: dict[str, Any] = {"prompt": item.prompt.name, "after": item.after, "within_s": item.within_s,
                                  "heard": False, "time_to_prompt_ms": None, "score": None, "reason": None}
        entry["prompts"].append(result)
        if start_ms is None or call.answer_ms is None:
            result["reason"] = "the call has no recording start (not answered)"
            continue
        if item.step is None:
            anchor = call.answer_ms
        elif item.step < len(call.dtmf_steps_ms):
            anchor = call.dtmf_steps_ms[item.step]
        else:
            result["reason"] = f"DTMF step {item.step + 1} was not delivered"
            continue
        # The recording instant whose sound reached our endpoint at `anchor`.
        from_s = max(0.0, (anchor - start_ms + jbuf_ms) / 1000.0)
        reference = _reference(item.prompt, references)
        if from_s + reference.size / HEARING_RATE_HZ > samples.size / rate + SLIP_S:
            result["reason"] = (f"the recording ends {samples.size / rate - from_s:.2f} s after the anchor, before "
                                f"the {reference.size / HEARING_RATE_HZ:.2f} s prompt could be heard in full")
            continue
        assert band is not None  # made above whenever there is something to expect
        match = match_prepared(band, reference, from_s=from_s, to_s=from_s + item.within_s)
        result["score"] = match.score
        if match.heard and match.start_s is not None:  # a heard match always has its start
            result["heard"] = True
            result["time_to_prompt_ms"] = round(start_ms + 1000.0 * match.start_s - jbuf_ms - anchor, 3)
        else:
            result["reason"] = (f"no match reached the threshold within {item.within_s:g} s "
                                f"(best score {match.score:.2f})")
            # Only starts that leave room for the whole prompt were searched.
            room_s = samples.size / rate + SLIP_S - reference.size / HEARING_RATE_HZ - from_s
            if room_s < item.within_s:
                result["reason"] = (f"no match reached the threshold within {max(room_s, 0):.2f} s (best score "
                                    f"{match.score:.2f}): the recording ends too soon after the anchor for the "
                                    f"{reference.size / HEARING_RATE_HZ:.2f} s prompt to be heard in full had it "
                                    "started later")
    return entry


def analyse_recordings(folder: Path, scenario: Scenario) -> int:
    """Write hearing.jsonl for every recorded, answered call; the number analysed."""
    folder = Path(folder)
    recorded = [(c, folder / c.recording) for c in load_calls(folder)
                if c.recording and c.answered and c.direction == "outbound" and (folder / c.recording).is_file()]
    if not recorded:
        return 0
    caller_signal = sends_signal(scenario)
    references: dict[Path, Any] = {}
    with open(folder / layout.HEARING, "a", encoding="utf-8") as out:
        for call, recording in recorded:
            entry = analyse_call(call, recording, scenario.call.expect, caller_signal=caller_signal,
                                 references=references)
            out.write(json.dumps(entry, separators=(",", ":"), allow_nan=False) + "\n")
    return len(recorded)


# -- figures from hearing.jsonl: one definition each, for the summary, the SLA lines and the report --

def prompt_results(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for e in entries for p in (e.get("prompts") or []) if isinstance(p, dict)]


def prompts_heard(entries: Iterable[dict[str, Any]]) -> Ratio:
    results = prompt_results(entries)
    return Ratio(sum(1 for p in results if p.get("heard") is True), len(results))


def times_to_prompt_ms(entries: Iterable[dict[str, Any]]) -> list[float]:
    """Each expected prompt's time to prompt; math.inf for one not heard (longer than every one heard)."""
    out = []
    for p in prompt_results(entries):
        value = p.get("time_to_prompt_ms")
        out.append(float(value) if p.get("heard") is True and value is not None and _finite(value) else math.inf)
    return out


def heard_times_ms(entries: Iterable[dict[str, Any]]) -> list[float]:
    return [v for v in times_to_prompt_ms(entries) if math.isfinite(v)]


def dead_air_s(entries: Iterable[dict[str, Any]]) -> list[float]:
    return [float(e["dead_air_s"]) for e in entries if _finite(e.get("dead_air_s"))]


def one_way(entries: Iterable[dict[str, Any]]) -> Ratio:
    decided = [e for e in entries if isinstance(e.get("one_way"), bool)]
    return Ratio(sum(1 for e in decided if e["one_way"]), len(decided))


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def hearing_summary(entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """summary.json's `hearing`: what the recorded calls heard."""
    heard = prompts_heard(entries)
    ways = one_way(entries)
    return {
        "calls": len(entries),
        "prompts_expected": heard.total,
        "prompts_heard": heard.count,
        "time_to_prompt_ms": {"calls": len(heard_times_ms(entries)), **percentiles(heard_times_ms(entries), POINTS)},
        "dead_air_s": {"calls": len(dead_air_s(entries)), **percentiles(dead_air_s(entries), POINTS)},
        "audio_in": sum(1 for e in entries if e.get("audio_in") is True),
        "one_way_decided": ways.total,
        "one_way": ways.count,
    }
