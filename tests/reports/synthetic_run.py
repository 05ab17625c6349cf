"""A realistic run output folder, made from a seed: the report tests' and the benchmark's input.

Calls are real `callproof.sip.records.CallRecord`s written with `to_dict()`, one JSON
line each, as the engine writes them: Poisson arrivals, RFC 6076 setup delays,
a mix of completed, rejected (486, 503), timed-out, abandoned and no-answer
calls, RTP stats with loss and jitter, MOS-CQE per direction. A fault at 40%
of the run causes an outage (503s, failing probes) until 45%. Some answered
calls have an "inbound" twin (our agent's side), which reports must not count.
summary.json is the verifier's own (callproof.harness.verdict.summary.summarize), judged
against the scenario's default thresholds: lines that pass, fail and cannot be decided.
A rejected call's reason phrase carries markup, as a hostile peer may send it.

The scenario's digest password is planted in scenario.yaml and in some call
targets (`sip:user:password@host`), so tests can check that no report file
copies it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import struct
import wave
from pathlib import Path
from typing import Any

import numpy as np

from callproof.harness.verdict.summary import summarize, write_summary
from callproof.reports import layout
from callproof.reports.summary_file import parse_utc
from callproof.sip.records import CallRecord, Failure, MediaStats

START = dt.datetime(2026, 11, 20, 10, 0, 0, tzinfo=dt.timezone.utc)
PASSWORD = "pw-Zq8-digest-s3cret"
FAULT_AT, RESTORED_AT = 0.40, 0.45  # shares of the run's duration
BUSY_REASON = "Busy Here <b>&amp; gone</b>"  # the far end's words: text in a report, never markup

def utc(seconds: float) -> str:
    return (START + dt.timedelta(seconds=seconds)).isoformat(timespec="microseconds")


def make_run(
    folder: Path,
    *,
    calls: int = 300,
    seed: int = 7,
    interrupted: bool = False,
) -> dict[str, Any]:
    """Write a run folder; return the ground truth the tests compare against."""
    folder = Path(folder)
    (folder / layout.AUDIO_DIR).mkdir(parents=True, exist_ok=True)
    (folder / layout.CAPTURES_DIR).mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    rate_cps = 10.0
    duration_s = max(60.0, calls / rate_cps)
    fault_s, restored_s = FAULT_AT * duration_s, RESTORED_AT * duration_s
    arrivals = np.sort(rng.uniform(0.0, duration_s * 0.97, calls))

    records = [_call(i, at, rng, down=fault_s <= at < restored_s) for i, at in enumerate(arrivals)]
    for record in records[:2]:
        if record.recording:
            _write_wav(folder / record.recording)
    # Our own agents' side of some answered calls: "inbound" records, which no report counts.
    written: list[CallRecord] = []
    for i, record in enumerate(records):
        written.append(record)
        if record.answered and i % 10 == 0:
            written.append(dataclasses.replace(record, call_id=f"{record.call_id}-agent", direction="inbound"))
    lines = [json.dumps(r.to_dict()) for r in written]
    text = "\n".join(lines) + "\n"
    if interrupted:  # killed mid-write: the last line is cut short
        text = text[: len(text) - len(lines[-1]) // 2 - 1]
        written = written[:-1]
    (folder / layout.CALLS).write_text(text)
    records = [r for r in written if r.direction == "outbound"]

    _write_probes(folder, duration_s, fault_s, restored_s)
    _write_events(folder, duration_s, fault_s, seed, interrupted, records)
    (folder / layout.ENGINE).write_text(
        json.dumps(
            {
                "pjsua2_python": "2.15.1.post1",
                "pjproject": "2.15.1",
                "calls_per_process": 4,
                "ioqueue": "select",
                "media": {"clock_rate": 8000, "vad": False, "ptime_ms": 20},
            },
            indent=2,
        )
    )
    (folder / layout.SCENARIO).write_text(_scenario(seed, duration_s, fault_s))
    (folder / layout.CAPTURES_DIR / "sample.pcap").write_bytes(
        struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    )
    summary = summarize(folder)
    write_summary(folder, summary)
    return {
        "records": records,
        "inbound": [r for r in written if r.direction == "inbound"],
        "summary": summary,
        "duration_s": duration_s,
        "fault_s": fault_s,
        "restored_s": restored_s,
    }


def _scenario(seed: int, duration_s: float, fault_s: float) -> str:
    """A valid scenario (the verifier reads its thresholds), with the lab's password in a comment."""
    return (
        f"# lab PBX digest password, never to be copied into a report: {PASSWORD}\n"
        "name: synthetic-ivr\n"
        "description: a synthetic run for the report tests\n"
        f"seed: {seed}\n"
        "target:\n"
        "  uri: sip:ivr@127.0.0.1:5080\n"
        "  credentials: {username_env: SYNTHETIC_SIP_USER, password_env: SYNTHETIC_SIP_PASSWORD}\n"
        f"load: {{mode: arrivals, peak_cps: 10, duration_s: {duration_s:g}, max_cps: 20, max_concurrent: 600}}\n"
        "call: {talk_time: {distribution: uniform, min_s: 20, max_s: 40}}\n"
        "probes: {call_interval_s: 5, options_interval_s: 1}\n"
        f"faults: [{{at_s: {fault_s:g}, action: command, command: docker stop backend-a}}]\n"
    )


def _call(i: int, at_s: float, rng: np.random.Generator, down: bool) -> CallRecord:
    call_id = f"{i:06d}-{rng.integers(1 << 32):08x}@callproof"
    target = f"sip:alice:{PASSWORD}@127.0.0.1:5080" if i % 50 == 0 else "sip:ivr@127.0.0.1:5080"
    setup = float(np.round(rng.lognormal(np.log(120.0), 0.35), 1))
    trying = float(np.round(rng.uniform(1.0, 6.0), 1))
    base = dict(
        call_id=call_id,
        target=target,
        invite_utc=utc(at_s),
        ack_ms=None,
        agent_ms=None,
        cancel_ms=None,
        bye_ms=None,
        bye_response_ms=None,
        worker=f"w{i % 4}",
    )
    roll = rng.random()
    if down or roll < 0.02:
        end = trying + setup
        return CallRecord(
            **base,
            provisional_ms=((100, trying),),
            final_ms=end,
            answer_ms=None,
            end_ms=end + 0.4,
            final_code=503,
            final_reason="Service Unavailable",
            failure=Failure.REJECTED,
            hangup_by=None,
        )
    if roll < 0.05:
        return CallRecord(
            **base,
            provisional_ms=((100, trying),),
            final_ms=trying + setup,
            answer_ms=None,
            end_ms=trying + setup + 0.3,
            final_code=486,
            final_reason=BUSY_REASON,
            failure=Failure.REJECTED,
            hangup_by=None,
        )
    if roll < 0.06:
        return CallRecord(
            **base,
            provisional_ms=(),
            final_ms=None,
            answer_ms=None,
            end_ms=32000.0,
            final_code=None,
            final_reason="",
            failure=Failure.TIMEOUT,
            hangup_by=None,
        )
    if roll < 0.08:
        waited = float(np.round(rng.uniform(20000, 40000), 1))
        return CallRecord(
            **{**base, "cancel_ms": waited},
            provisional_ms=((100, trying), (180, setup)),
            final_ms=waited + 8.0,
            answer_ms=None,
            end_ms=waited + 9.0,
            final_code=487,
            final_reason="Request Terminated",
            failure=Failure.ABANDONED,
            hangup_by=None,
        )
    answer = float(np.round(setup + rng.uniform(500.0, 4000.0), 1))
    talk_ms = float(np.round(rng.uniform(20000.0, 40000.0), 1))
    packets = int(talk_ms / 20)
    loss_pct = float(rng.choice([0.0, 0.0, 0.0, 0.2, 0.5, 1.0, 3.0]))
    lost = int(round(packets * loss_pct / 100))
    jitter = float(np.round(rng.gamma(2.0, 1.5), 2))
    mos = float(np.round(np.clip(4.41 - 0.35 * loss_pct - 0.02 * jitter + rng.normal(0, 0.03), 1.0, 4.5), 3))
    media = MediaStats(
        codec="PCMU/8000",
        clock_rate=8000,
        ptime_ms=20,
        rx_packets=packets - lost,
        rx_lost=lost,
        rx_dup=0,
        rx_discard=0,
        rx_jitter_mean_ms=jitter,
        rx_jitter_max_ms=jitter * 3,
        rx_loss_bursts=min(lost, 3),
        tx_packets=packets,
        tx_lost=0,
        tx_jitter_mean_ms=None,
        rtcp_rr_received=0,
        rtt_ms=None,
        rtt_max_ms=None,
        jbuf_delay_ms=40.0,
        jbuf_lost=lost,
        jbuf_discard=0,
        jbuf_empty=0,
        srtp=False,
    )
    end = answer + talk_ms
    return CallRecord(
        **{**base, "ack_ms": answer + 0.5, "bye_ms": end, "bye_response_ms": end + 2.0},
        provisional_ms=((100, trying), (180, setup)),
        final_ms=answer,
        answer_ms=answer,
        end_ms=end + 2.0,
        final_code=200,
        final_reason="OK",
        failure=None,
        hangup_by="caller",
        media=media,
        recording=f"audio/{call_id}.wav" if i < 2 else None,
        quality={"rx": {"mos_cqe": mos, "r_factor": 93.2 - 8 * loss_pct}, "tx": {"mos_cqe": min(4.41, mos + 0.1)}},
    )


def _write_wav(path: Path) -> None:
    samples = (8000 * np.sin(2 * np.pi * 440 * np.arange(1600) / 8000)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(samples.tobytes())


def _probe_record(t: float, down: bool) -> dict[str, Any]:
    return CallRecord(
        call_id=f"probe-{t:g}",
        target="sip:ivr@127.0.0.1:5080",
        invite_utc=utc(t),
        provisional_ms=((100, 1.0),) if down else ((100, 1.0), (180, 40.0)),
        final_ms=30.0 if down else 95.0,
        ack_ms=None if down else 95.5,
        answer_ms=None if down else 95.0,
        agent_ms=None,
        cancel_ms=None,
        bye_ms=None if down else 2095.0,
        bye_response_ms=None if down else 2097.0,
        end_ms=30.4 if down else 2097.0,
        final_code=503 if down else 200,
        final_reason="Service Unavailable" if down else "OK",
        failure=Failure.REJECTED if down else None,
        hangup_by=None if down else "caller",
    ).to_dict()


def _write_probes(folder: Path, duration_s: float, fault_s: float, restored_s: float) -> None:
    """callproof.reports.layout's probe entries, as the prober writes them (callproof.harness.run.probes)."""
    lines = []
    for t in np.arange(0.0, duration_s, 1.0):
        down = fault_s <= t < restored_s
        if t % 5 == 0:
            lines.append({"kind": "call", "at_utc": utc(t), "record": _probe_record(float(t), down)})
        lines.append({"kind": "options", "at_utc": utc(t), "code": 200, "rtt_ms": 1.2, "reason": "OK"})
    (folder / layout.PROBES).write_text("".join(json.dumps(p) + "\n" for p in lines))


def _in_flight(records: list, t: float) -> int:
    """Calls of the synthetic run between their INVITE and their end at `t` s (what the runner counts)."""
    count = 0
    for record in records:
        start = (parse_utc(record.invite_utc, "calls") - START).total_seconds()
        if start <= t < start + record.end_ms / 1000.0:
            count += 1
    return count


def _write_events(folder: Path, duration_s: float, fault_s: float, seed: int, interrupted: bool, records: list) -> None:
    events = [
        {
            "at_utc": utc(0),
            "kind": "run_start",
            "scenario": "synthetic-ivr",
            "seed": seed,
            "role": "local",
            "target": "sip:ivr@127.0.0.1:5080",
            "argv": ["synthetic.yaml"],
        },
        {"at_utc": utc(0), "kind": "shape", "users": 200, "rate": 5.0},
        {"at_utc": utc(duration_s * 0.1), "kind": "shape", "users": 400, "rate": 10.0},
        {"at_utc": utc(fault_s), "kind": "fault", "action": "stop backend-a"},
    ]
    capped = 0
    for t in np.arange(0.0, duration_s, 5.0):  # callproof.harness.run.runner's health event, plus CPU
        capped += int(fault_s <= t < fault_s + 10)  # a few arrivals dropped at the cap during the outage
        events.append(
            {
                "at_utc": utc(t),
                "kind": "health",
                "pump_lag_ms_max": 2.0 + (t % 7),
                "in_flight": _in_flight(records, float(t)),
                "attempted": int(t * 10),
                "capped": capped,
                "lost": 0,
                "slot_waits": 0,
                "slot_wait_ms_max": 0.5 + (t % 3),
                "cpu_pct": 20.0 + 5 * np.sin(t / 50),
            }
        )
    if not interrupted:
        events.append({"at_utc": utc(duration_s), "kind": "run_end", "reason": "completed", "interrupted": False})
    events.sort(key=lambda e: e["at_utc"])
    (folder / layout.EVENTS).write_text("".join(json.dumps(e) + "\n" for e in events))
