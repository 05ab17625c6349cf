"""Is a built engine fit for load? Short calls through it on 127.0.0.1, measured.

`callproof engine build` ends with this check, in a child process that loads the
engine from its cache entry before anything is installed:

    python -P -m callproof.sip.engine.selfcheck --engine-dir DIR [--json]

The child runs one Endpoint the way a load engine does (sip.endpoint: one
thread, the gevent pump polling `libHandleEvents`) with two accounts: an echo
agent (sip.agent, as the embedded target and `callproof run` use it) and a
caller. The caller places CALLS calls to the agent, LANES at a time, each held
HOLD_S, and measures:

    setup delay    INVITE sent to 180 Ringing read (RFC 6076 SRD), per call
    media start    200 OK read to the first RTP packet counted on the caller's stream, per call
    pump latency   the longest gap between two polls of the SIP stack while the calls ran:
                   the timing resolution of every SIP timestamp (a run's "timing resolution")

Limits (`LIMITS`), from measurements on the project's 2-core machines
(docs/engine.md, "Self-check"): fit engines (Jami's 2.12.1 with our patches,
upstream 2.15-2.17 with theirs) measure setup 1-5 ms, media start 0-40 ms and
pump latency about 21 ms (the 20 ms poll plus a turn of the loop). The two
defects the patches exist for fail them by far: without 0003 (2.12.1) the
first RTP waits 500 ms; without 0004 (2.16) hangups block the pump for up to
300 ms each, setup delay p50 141-306 ms. The limits sit between, wide enough
for a busy CI machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from callproof.sip.errors import EngineError

CALLS = 8
LANES = 2
HOLD_S = 0.6
FIRST_RTP_WAIT_S = 2.0
SETUP_TIMEOUT_S = 5.0
_RTP_POLL_S = 0.002

# What a fit engine must show. The pump's limit is well inside the one a run's generator
# validity uses (harness/verdict/generator.py PUMP_LAG_LIMIT_MS, 500 ms: one stall that
# lets a peer retransmit): an idle engine held 300 ms at each hangup (2.16 without 0004)
# is unfit although a single such stall would not make a run INVALID.
LIMITS = {
    "setup_delay_p50_ms": 50.0,
    "media_start_p50_ms": 150.0,
    "pump_latency_max_ms": 100.0,
}
_WHAT = {
    "setup_delay_p50_ms": "setup delay p50",
    "media_start_p50_ms": "media start (first RTP) p50",
    "pump_latency_max_ms": "event-pump latency",
}


@dataclasses.dataclass(frozen=True)
class Figures:
    """What the child measured; lists hold one value per call that got that far."""

    calls: int
    setup_delay_ms: list[float]
    media_start_ms: list[float]
    pump_latency_max_ms: float
    failures: list[str]

    def summary(self) -> dict[str, float | None]:
        return {
            "setup_delay_p50_ms": _median(self.setup_delay_ms),
            "media_start_p50_ms": _median(self.media_start_ms),
            "pump_latency_max_ms": round(self.pump_latency_max_ms, 1),
        }

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), **self.summary(), "limits": LIMITS}


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def problems(figures: Figures) -> list[str]:
    """Why the engine is not fit for load (empty: fit)."""
    found = list(dict.fromkeys(figures.failures))
    for key, value in figures.summary().items():
        if value is None:
            found.append(f"no {_WHAT[key]} measured")
        elif value > LIMITS[key]:
            found.append(f"{_WHAT[key]} {value:g} ms (limit {LIMITS[key]:g} ms)")
    return found


def describe(figures: Figures) -> str:
    s = figures.summary()
    return (f"setup delay p50 {s['setup_delay_p50_ms']} ms, media start p50 {s['media_start_p50_ms']} ms, "
            f"pump latency max {s['pump_latency_max_ms']} ms over {figures.calls} calls")


# -- the child ------------------------------------------------------------------------


def measure() -> Figures:
    """Place the calls in this process (a fresh one: it owns a pjsua2 Endpoint for life)."""
    import gevent
    import gevent.pool

    from callproof.sip.account import SipAccount
    from callproof.sip.agent import Agent
    from callproof.sip.endpoint import Endpoint
    from callproof.sip.settings import AccountSpec, AgentSpec, EngineSettings

    settings = EngineSettings(name="selfcheck", sip_port=0, rtp_port=0, rtp_port_range=0, max_calls=64,
                              log_level=1)
    endpoint = Endpoint(settings)
    endpoint.start()
    assert endpoint.ep is not None, "start() made it"
    group = gevent.pool.Group()
    agent = Agent(endpoint, AgentSpec(ring_delay_s=0.0, mode="echo"), on_record=lambda record: None,
                  spawn=group.spawn)
    agent_account = SipAccount(endpoint, AccountSpec(user="agent"), on_incoming=agent.on_incoming)
    caller_account = SipAccount(endpoint, AccountSpec(user="caller"))
    uri = f"sip:agent@{settings.bind_ip}:{endpoint.sip_ports['udp']}"
    results: list[dict[str, Any]] = []
    try:
        endpoint.start_pump()
        agent_account.start()
        caller_account.start()
        gevent.sleep(0.1)  # let start-up settle: the pump's first turns are not what load sees
        endpoint.pump_lag_ms_max = 0.0

        def lane(count: int) -> None:
            for _ in range(count):
                results.append(_one_call(endpoint, caller_account, uri))

        per_lane = [CALLS // LANES + (1 if i < CALLS % LANES else 0) for i in range(LANES)]
        gevent.joinall([gevent.spawn(lane, n) for n in per_lane])
        group.join(timeout=5.0)
        pump_max = endpoint.pump_lag_ms_max
    finally:
        endpoint.ep.hangupAllCalls()
        group.kill()
        agent.calls.clear()
        endpoint.stop_pump()
        endpoint.handle_events_for(0.05)
        endpoint.sweep()
        for account in (caller_account, agent_account):
            if account.isValid():
                account.shutdown()
        import gc

        gc.collect()  # pjsua2 objects in reference cycles must go before libDestroy
        endpoint.destroy()
    return Figures(
        calls=len(results),
        setup_delay_ms=[r["setup_ms"] for r in results if r["setup_ms"] is not None],
        media_start_ms=[r["media_ms"] for r in results if r["media_ms"] is not None],
        pump_latency_max_ms=pump_max,
        failures=[r["failure"] for r in results if r["failure"]],
    )


def _one_call(endpoint, account, uri: str) -> dict[str, Any]:
    import gevent
    import pjsua2 as pj

    from callproof.sip.call import TrackedCall
    from callproof.sip.media import CallAudio

    audio = CallAudio(endpoint.ep, prompt=None, record_to=None, echo=False)
    call = TrackedCall(account, audio=audio, ptime_ms=endpoint.settings.media.ptime_ms,
                       media_events=endpoint.media_events, invite_timeout_s=SETUP_TIMEOUT_S)
    param = pj.CallOpParam(True)
    param.opt.audioCount = 1
    param.opt.videoCount = 0
    figures: dict[str, Any] = {"setup_ms": None, "media_ms": None, "failure": None}
    sent = time.monotonic()
    try:
        call.makeCall(uri, param)
    except pj.Error as exc:
        figures["failure"] = f"a call could not be placed ({str(exc.reason).strip().splitlines()[0]})"
        endpoint.bury(call)
        return figures
    call.wait_until(lambda: call.final is not None or call.ended, SETUP_TIMEOUT_S)
    ringing = next((at for code, at in call.provisional if code > 100), None)
    if ringing is not None:
        figures["setup_ms"] = round((ringing - sent) * 1000.0, 3)
    if call.final is None or call.final[0] >= 300:
        figures["failure"] = "a call was not answered" if call.final is None else f"a call got {call.final[0]}"
    else:
        answered = call.final[2]
        while call.rx_packets_now() == 0 and not call.ended and time.monotonic() - answered < FIRST_RTP_WAIT_S:
            gevent.sleep(_RTP_POLL_S)
        if call.rx_packets_now() > 0:
            figures["media_ms"] = round((time.monotonic() - answered) * 1000.0, 3)
        else:
            figures["failure"] = f"no RTP arrived within {FIRST_RTP_WAIT_S:g} s of the answer"
        call.wait_until(lambda: call.ended, max(0.0, answered + HOLD_S - time.monotonic()))
    call.hang_up()
    call.wait_until(lambda: call.ended, SETUP_TIMEOUT_S)
    audio.release()
    endpoint.bury(call)
    return figures


def run_in_subprocess(engine_dir: Path, *, env: dict[str, str] | None = None, timeout_s: float = 60.0) -> Figures:
    """measure() in a child that loads the engine in `engine_dir`; EngineError when it cannot run."""
    command = [sys.executable, "-P", "-m", "callproof.sip.engine.selfcheck", "--engine-dir", str(engine_dir), "--json"]
    try:
        child = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise EngineError(f"the engine's self-check did not finish within {timeout_s:.0f} s") from exc
    if child.returncode != 0:
        lines = child.stderr.strip().splitlines()
        raise EngineError(f"the engine's self-check could not run: {lines[-1] if lines else child.returncode}")
    data = json.loads(child.stdout)
    return Figures(**{field.name: data[field.name] for field in dataclasses.fields(Figures)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m callproof.sip.engine.selfcheck",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--engine-dir", type=Path, required=True, help="a built engine (pjsua2.py, _pjsua2*.so)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    # Before anything imports pjsua2: this engine wins over an installed one and the wheel.
    sys.path.insert(0, str(args.engine_dir.resolve()))
    import pjsua2

    loaded = Path(pjsua2.__file__).resolve().parent
    if loaded != args.engine_dir.resolve():
        raise SystemExit(f"the self-check loaded {pjsua2.__file__}, not the engine in {args.engine_dir}")
    # pjlib logs to stdout before any log level applies: keep stdout for the result.
    result_fd = os.dup(1)
    os.dup2(2, 1)
    figures = measure()
    text = json.dumps(figures.to_dict()) if args.json else describe(figures)
    with os.fdopen(result_fd, "w") as result:
        result.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
