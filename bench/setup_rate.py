"""The highest rate of call setup with media one machine sustains, beside SIPp's UAC at the same rates.

    python bench/setup_rate.py                                # built engine (else the wheel), then SIPp
    python bench/setup_rate.py --rates 100,200 --seconds 20 --talk 5 --engines built

Each step offers `--seconds` of calls at one fixed rate, one INVITE every 1/rate s on a schedule
(lateness does not accumulate), through callproof's engine processes laid out as `callproof run`
lays them out. Every call is answered by a SIPp echo UAS (one per 200 concurrent calls), plays the
bundled prompt both ways for `--talk` s and is hung up by us. A rate is held when:

  - every call was answered;
  - SRD p95 is under 100 ms (RFC 6076 4.3: INVITE to the first non-100 response, CallRecord.setup_ms,
    nearest-rank percentile as in the verifier);
  - the INVITEs really went out at that rate (their span at most 5% longer than planned);
  - nothing was lost on our side: no drops on our sockets (kernel counters), no RTP lost beyond what
    the echo sockets dropped themselves, nothing discarded (bench/capacity.py's rule).

SIPp's own UAC then places the same calls at the same rate against a fresh echo set, streaming the
same prompt (mu-law); its SRD comes from its -trace_rtt file (INVITE to the 180, whole milliseconds).
CPU is the callers' (our engine processes, SIPp's UAC processes) from the step's first INVITE to its
last call's end: in % of one core, and per call (setup, 5 s of media both ways, teardown).
The climb of an engine ends at its first step not held. A benchmark, not a test: read the figures
beside each other. Every process it starts is stopped by its PID.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gevent  # noqa: E402

from bench.capacity import CALLS_PER_UAS, PROMPT, UAC_XML, EchoSet, Window, udp_drops, ulaw_prompt  # noqa: E402
from callproof.harness.run.engines import Fleet  # noqa: E402
from callproof.harness.run.processes import stop_processes  # noqa: E402
from callproof.harness.verdict.stats import percentiles  # noqa: E402
from callproof.sip.settings import CallSpec, EngineSettings  # noqa: E402
from tests.peers.net import free_port  # noqa: E402

SRD_P95_LIMIT_MS = 100.0  # the bar for a rate held
RATE_SLACK = 1.05  # the INVITEs of a step may span at most 5% longer than planned
SETUP_MARGIN_S = 2.0  # a call holds its slot this much longer than its talk time (setup, BYE)


def concurrent_calls(rate: int, talk_s: float) -> int:
    return math.ceil(rate * (talk_s + SETUP_MARGIN_S))


def step_verdict(row: dict) -> dict:
    """Whether a step held its rate, and the first reason it did not."""
    why = None
    if row["answered"] < row["calls"]:
        why = f"{row['calls'] - row['answered']} calls not answered"
    elif row["srd_ms"]["p95"] is None or row["srd_ms"]["p95"] >= SRD_P95_LIMIT_MS:
        why = f"SRD p95 {row['srd_ms']['p95']} ms"
    elif row["achieved_cps"] is None or row["achieved_cps"] * RATE_SLACK < row["rate"]:
        why = f"INVITEs at {row['achieved_cps']} cps"
    elif row.get("lost_ours", 0) > 0:
        why = f"{row['lost_ours']} packets lost on our side"
    return {**row, "held": why is None, "why_not": why}


# -- callproof ------------------------------------------------------------------------------


def invite_span_s(records) -> float:
    times = sorted(datetime.fromisoformat(r.invite_utc).timestamp() for r in records)
    return times[-1] - times[0] if len(times) > 1 else 0.0


def run_callproof(engine: str, rate: int, seconds: float, talk_s: float, workdir: Path) -> dict:
    os.environ["CALLPROOF_ENGINE"] = engine  # read by every engine process at start (callproof.sip.engine.install)
    calls = int(rate * seconds)
    echoes = EchoSet(concurrent_calls(rate, talk_s), workdir)
    fleet = Fleet(EngineSettings(name="caller", codecs=("PCMU",)), log_dir=None)
    pool = None
    try:
        pool = fleet.start_pool("caller", concurrent_calls(rate, talk_s))
        pids = [p.pid for p in pool.processes]
        window = Window(pids)
        first = time.monotonic() + 0.2
        pending = []
        for i in range(calls):
            gevent.sleep(max(0.0, first + i / rate - time.monotonic()))
            pending.append(pool.place(CallSpec(uri=echoes.uris[i % len(echoes.uris)], talk_s=talk_s,
                                               prompt=str(PROMPT), ring_timeout_s=20)))
        records = [p.wait_record(timeout=talk_s + 60) for p in pending]
        elapsed_s = time.monotonic() - window.started
        cpu = window.close()
        our_drops = udp_drops(pids)
    finally:
        if pool is not None:
            pool.stop()
        fleet.close()
        echo_drops = udp_drops(echoes.pids)
        echoes.stop()
    media = [r.media for r in records if r.media is not None]
    rx_lost = sum(m.rx_lost for m in media)
    discarded = sum(m.rx_discard + m.jbuf_discard for m in media)
    span = invite_span_s(records)
    return step_verdict({
        "engine": engine, "rate": rate, "calls": calls, "processes": len(pids),
        "achieved_cps": round((calls - 1) / span, 1) if span else None,
        "answered": sum(r.answered for r in records),
        "srd_ms": percentiles([r.setup_ms for r in records if r.answered], (50, 95, 99, 100)),
        "cpu_pct": round(cpu["cpu_pct"], 1), "cpu_ms_per_call": round(10 * cpu["cpu_pct"] * elapsed_s / calls, 2),
        "lost_ours": our_drops + max(0, rx_lost - echo_drops) + discarded,
        "our_socket_drops": our_drops, "rx_lost": rx_lost, "echo_socket_drops": echo_drops, "discarded": discarded,
    })


# -- SIPp's UAC ----------------------------------------------------------------------------


def wait_for_cpu_s(proc: subprocess.Popen, timeout_s: float) -> float:
    """Wait for a child to end; the CPU it used (user + system, s), from the kernel's rusage of it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        time.sleep(0.1)
    raise subprocess.TimeoutExpired(proc.args, timeout_s)


def sipp_srd_ms(workdir: Path, pid: int) -> list[float]:
    """SIPp's RTD 1 of every call (INVITE to the 180), from its -trace_rtt file."""
    path = workdir / f"uac_{pid}_rtt.csv"
    if not path.exists():
        return []
    return [float(line.split(";")[1]) for line in path.read_text().splitlines()[1:] if line.strip()]


def sipp_successful_calls(workdir: Path, pid: int) -> int:
    """SIPp's own count of calls that ran its scenario to the end, from its -trace_stat file."""
    path = workdir / f"uac_{pid}_.csv"
    if not path.exists():
        return 0
    rows = list(csv.DictReader(path.read_text().splitlines(), delimiter=";"))
    return int(rows[-1]["SuccessfulCall(C)"]) if rows else 0


def run_sipp_uac(rate: int, seconds: float, talk_s: float, workdir: Path) -> dict:
    echoes = EchoSet(concurrent_calls(rate, talk_s), workdir)
    ulaw = ulaw_prompt(workdir)
    xml = workdir / "uac.xml"  # RTD 1 stops at the 180, as SRD does; the echo UAS rings before it answers
    xml.write_text(UAC_XML.read_text().replace("@ulaw@", str(ulaw))
                   .replace('<recv response="180" optional="true" />', '<recv response="180" rtd="true" />')
                   .replace('<recv response="200" rtd="true" />', '<recv response="200" />'))
    shares = [rate // len(echoes.uris) + (1 if i < rate % len(echoes.uris) else 0) for i in range(len(echoes.uris))]
    uacs: list[subprocess.Popen] = []
    try:
        for uri, share in zip(echoes.uris, shares, strict=True):
            uacs.append(subprocess.Popen(
                ["sipp", "-sf", str(xml), uri.split("@", 1)[1], "-s", "service", "-i", "127.0.0.1",
                 "-p", str(free_port()), "-mi", "127.0.0.1", "-mp", str(free_port(pair=True)),
                 "-m", str(int(share * seconds)), "-l", str(CALLS_PER_UAS * 2), "-r", str(share),
                 "-d", str(int(talk_s * 1000)), "-trace_rtt", "-rtt_freq", "1", "-trace_stat", "-fd", "1",
                 "-nostdin"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir))
        started = time.monotonic()
        cpu_s = sum(wait_for_cpu_s(proc, seconds + talk_s + 60) for proc in uacs)
        elapsed_s = time.monotonic() - started
    finally:
        stop_processes(uacs)
        echoes.stop()
    srd = [v for proc in uacs for v in sipp_srd_ms(workdir, proc.pid)]
    calls = sum(int(share * seconds) for share in shares)
    return step_verdict({
        "engine": "sipp-uac", "rate": rate, "calls": calls, "processes": len(uacs),
        "achieved_cps": float(rate),  # SIPp paces its own calls; its rate is not read back
        "answered": sum(sipp_successful_calls(workdir, proc.pid) for proc in uacs),
        "srd_ms": percentiles(srd, (50, 95, 99, 100)),
        "cpu_pct": round(100 * cpu_s / elapsed_s, 1), "cpu_ms_per_call": round(1000 * cpu_s / calls, 2),
    })


# -- the climb -----------------------------------------------------------------------------------


def positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not greater than 0")
    return value


def rates(text: str) -> list[int]:
    """Calls per second, rising: "50,100,150"."""
    try:
        values = [int(r) for r in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of whole calls per second, e.g. 50,100") from None
    if any(v < 2 for v in values) or values != sorted(values):
        raise argparse.ArgumentTypeError(f"{text!r}: rates of at least 2 calls per second, rising")
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="built,sipp", help="built, wheel, sipp, comma-separated")
    parser.add_argument("--rates", type=rates, default="50,100,150,200,250,300", help="calls per second, rising")
    parser.add_argument("--seconds", type=positive, default=15.0, help="seconds of arrivals at each rate")
    parser.add_argument("--talk", type=positive, default=5.0, help="talk time of each call, s")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    unknown = set(args.engines.split(",")) - {"built", "wheel", "sipp"}
    if unknown:
        parser.error(f"--engines: {', '.join(sorted(unknown))} is not built, wheel or sipp")
    from callproof.sip.engine.install import is_installed

    rows = []
    with tempfile.TemporaryDirectory(prefix="callproof-bench-") as tmp:
        for engine in args.engines.split(","):
            if engine == "built" and not is_installed():
                print("built engine: not installed (callproof engine build); the wheel instead", file=sys.stderr)
                engine = "wheel"
            for rate in args.rates:
                workdir = Path(tmp) / f"{engine}-{rate}"
                workdir.mkdir()
                row = run_sipp_uac(rate, args.seconds, args.talk, workdir) if engine == "sipp" else \
                    run_callproof(engine, rate, args.seconds, args.talk, workdir)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if not row["held"]:
                    break
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def print_table(rows: list[dict]) -> None:
    print("\n| engine | offered cps | calls | INVITEs cps | answered | SRD p50 / p95 / max ms | "
          "lost on our side | CPU % of a core | CPU ms per call | held |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        srd = " / ".join(f"{r['srd_ms'][p]:g}" if r["srd_ms"][p] is not None else "-" for p in ("p50", "p95", "p100"))
        print(f"| {r['engine']} | {r['rate']} | {r['calls']} | {r['achieved_cps']} | {r['answered']} | {srd} | "
              f"{r.get('lost_ours', '-')} | {r['cpu_pct']} | {r['cpu_ms_per_call']} | "
              f"{'yes' if r['held'] else 'no: ' + r['why_not']} |")
    best: dict[str, int] = {}
    for r in rows:
        if r["held"]:
            best[r["engine"]] = max(best.get(r["engine"], 0), r["rate"])
    for engine, rate in best.items():
        print(f"{engine}: highest rate held: {rate} calls per second")


if __name__ == "__main__":
    sys.exit(main())
