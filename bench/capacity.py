"""How many concurrent two-way G.711 calls one machine holds with no loss on our side,
and what each call costs, side by side with SIPp's own UAC streaming RTP in the same run.

    python bench/capacity.py                                   # wheel, built engine if installed, SIPp
    python bench/capacity.py --engines wheel,sipp --calls 50,100,200 --hold 30

For each engine and each step of concurrent calls: start ceil(N/200) SIPp echo UAS
(one echo socket drops packets above about 400 calls), place N calls of `--hold`
seconds through callproof's engine processes, laid out as `callproof run` lays them
out (callproof.harness.run.engines.Fleet), each playing the bundled prompt; measure CPU (all
engine processes, in % of one core) and RSS over the steady middle of the hold;
then loss from the records: ours (pjsua's rx_lost, discards, drops on our sockets)
and theirs (drops on SIPp's echo sockets, /proc/net/udp). SIPp's UAC then holds the
same N calls against a fresh UAS set, streaming the same prompt (mu-law). A step
with loss on our side, or a machine out of CPU, ends that engine's climb.

This is a benchmark, not a test: the machine's other load moves the figures, so
read the ratios. Every process it starts is stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gevent  # noqa: E402

from callproof.harness.run.engines import Fleet  # noqa: E402
from callproof.harness.run.health import cpu_seconds  # noqa: E402
from callproof.harness.run.processes import stop_processes  # noqa: E402
from callproof.rtp_analysis.audio import read_wav, resample  # noqa: E402
from callproof.sip.settings import CallSpec, EngineSettings  # noqa: E402
from tests.peers.net import free_port  # noqa: E402
from tests.rtp_analysis.g711 import ulaw_encode  # noqa: E402

CALLS_PER_UAS = 200
RAMP_CPS = 100  # call starts per second: a burst of hundreds of INVITEs overflows UDP buffers
PROMPT = ROOT / "scenarios" / "prompts" / "hello.wav"
UAC_XML = ROOT / "bench" / "sipp" / "uac_rtp_stream.xml"
CPU_LIMIT_PCT = 0.9 * 100 * (os.cpu_count() or 1)  # beyond this the machine, not the engine, is the limit


# -- /proc readings -------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def udp_drops(pids: list[int]) -> int:
    """Packets the kernel dropped on these processes' UDP sockets (receive buffer full)."""
    inodes = set().union(*(socket_inodes(p) for p in pids)) if pids else set()
    drops = 0
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        for line in Path(name).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                drops += int(fields[-1])
    return drops


class Window:
    """CPU and RSS of some processes over an interval."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.started = time.monotonic()
        self.cpu0 = sum(cpu_seconds(p) or 0.0 for p in pids)

    def close(self) -> dict[str, float]:
        seconds = time.monotonic() - self.started
        cpu = sum(cpu_seconds(p) or 0.0 for p in self.pids) - self.cpu0
        return {"cpu_pct": 100.0 * cpu / seconds, "rss_mb": sum(rss_kb(p) for p in self.pids) / 1024.0}


# -- peers ----------------------------------------------------------------------------------


class EchoSet:
    """ceil(N/200) SIPp UAS echoing RTP, on free ports, stopped by PID."""

    def __init__(self, calls: int, workdir: Path) -> None:
        self.procs: list[subprocess.Popen] = []
        self.uris: list[str] = []
        for _ in range(math.ceil(calls / CALLS_PER_UAS)):
            port, media = free_port(), free_port(pair=True)
            self.procs.append(subprocess.Popen(
                ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1", "-mp", str(media),
                 "-rtp_echo", "-nostdin"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, cwd=workdir))
            self.uris.append(f"sip:service@127.0.0.1:{port}")
        time.sleep(1.0)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        stop_processes(self.procs)


def ulaw_prompt(workdir: Path) -> Path:
    samples, rate = read_wav(PROMPT)
    pcm = np.round(resample(samples, rate, 8000)).clip(-32768, 32767).astype(np.int16)
    path = workdir / "prompt.ulaw"
    path.write_bytes(ulaw_encode(pcm).astype(np.uint8).tobytes())
    return path


# -- one step --------------------------------------------------------------------------------


def run_callproof(engine: str, calls: int, hold_s: float, workdir: Path) -> dict:
    os.environ["CALLPROOF_ENGINE"] = engine  # read by every engine process at start (callproof.sip.engine.install)
    echoes = EchoSet(calls, workdir)
    fleet = Fleet(EngineSettings(name="caller", codecs=("PCMU",)), log_dir=None)
    pool = None
    try:
        started = time.monotonic()
        pool = fleet.start_pool("caller", calls)
        start_s = time.monotonic() - started
        pending = []
        for i in range(calls):  # ramp at RAMP_CPS, as `callproof run` caps starts; all up together for hold_s
            talk_s = hold_s + (calls - i) / RAMP_CPS
            pending.append(pool.place(CallSpec(uri=echoes.uris[i % len(echoes.uris)], talk_s=talk_s,
                                               prompt=str(PROMPT), ring_timeout_s=20)))
            gevent.sleep(1.0 / RAMP_CPS)
        for p in pending:
            p.wait_setup(timeout=60)
        gevent.sleep(3)  # past the set-up burst
        pids = [p.pid for p in pool.processes]
        engine_window, echo_window = Window(pids), Window(echoes.pids)
        gevent.sleep(max(5.0, hold_s - 10))
        ours, theirs = engine_window.close(), echo_window.close()
        our_drops_now = udp_drops(pids)
        records = [p.wait_record(timeout=hold_s + 60) for p in pending]
    finally:
        if pool is not None:
            pool.stop()
        fleet.close()
        echo_drops = udp_drops(echoes.pids)
        echoes.stop()
    media = [r.media for r in records if r.media is not None]
    return {
        "engine": engine, "calls": calls, "processes": len(pool.processes), "start_s": round(start_s, 1),
        "answered": sum(r.answered for r in records),
        "cpu_pct": round(ours["cpu_pct"], 1), "rss_mb": round(ours["rss_mb"], 1),
        "cpu_pct_per_call": round(ours["cpu_pct"] / calls, 3), "rss_kb_per_call": round(1024 * ours["rss_mb"] / calls),
        "rx_lost": sum(m.rx_lost for m in media),
        "discarded": sum(m.rx_discard + m.jbuf_discard for m in media),
        "our_socket_drops": our_drops_now, "echo_socket_drops": echo_drops,
        "rx_packets": sum(m.rx_packets for m in media), "echo_cpu_pct": round(theirs["cpu_pct"], 1),
    }


def run_sipp_uac(calls: int, hold_s: float, workdir: Path) -> dict:
    echoes = EchoSet(calls, workdir)
    ulaw = ulaw_prompt(workdir)
    xml = workdir / "uac.xml"
    xml.write_text(UAC_XML.read_text().replace("@ulaw@", str(ulaw)))
    uacs: list[subprocess.Popen] = []
    try:
        for i, uri in enumerate(echoes.uris):
            share = min(CALLS_PER_UAS, calls - i * CALLS_PER_UAS)
            host_port = uri.split("@", 1)[1]
            uacs.append(subprocess.Popen(
                ["sipp", "-sf", str(xml), host_port, "-s", "service", "-i", "127.0.0.1", "-p", str(free_port()),
                 "-mi", "127.0.0.1", "-mp", str(free_port(pair=True)), "-m", str(share), "-l", str(share),
                 "-r", str(RAMP_CPS), "-d", str(int(hold_s * 1000)), "-nostdin"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir))
        time.sleep(max(3.0, calls / 100 + 3))  # all calls up at -r 100
        window = Window([p.pid for p in uacs])
        time.sleep(max(5.0, hold_s - 10 - calls / 100))
        measured = window.close()
        for proc in uacs:
            proc.wait(timeout=hold_s + 60)
    finally:
        stop_processes(uacs)
        echoes.stop()
    return {"engine": "sipp-uac", "calls": calls, "processes": len(uacs), "cpu_pct": round(measured["cpu_pct"], 1),
            "rss_mb": round(measured["rss_mb"], 1), "cpu_pct_per_call": round(measured["cpu_pct"] / calls, 3),
            "rss_kb_per_call": round(1024 * measured["rss_mb"] / calls)}


# -- the climb ---------------------------------------------------------------------------------


def loss_on_our_side(row: dict) -> bool:
    """Loss we caused: packets lost beyond what SIPp's echo sockets dropped, or discarded by us."""
    return row["rx_lost"] > row["echo_socket_drops"] or row["discarded"] > 0 or row["our_socket_drops"] > 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="wheel,built,sipp")
    parser.add_argument("--calls", default=None, help="steps, e.g. 50,100,200 (default: per engine)")
    parser.add_argument("--hold", type=float, default=30.0)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    from callproof.sip.engine.install import is_installed

    defaults = {"wheel": [50, 100, 200, 300], "built": [200, 400, 800, 1000, 1200], "sipp": [200, 800]}
    rows = []
    with tempfile.TemporaryDirectory(prefix="callproof-bench-") as tmp:
        workdir = Path(tmp)
        for engine in args.engines.split(","):
            if engine == "built" and not is_installed():
                print("built engine: not installed (callproof engine build); skipped", file=sys.stderr)
                continue
            steps = [int(n) for n in args.calls.split(",")] if args.calls else defaults[engine]
            for calls in steps:
                row = run_sipp_uac(calls, args.hold, workdir) if engine == "sipp" else \
                    run_callproof(engine, calls, args.hold, workdir)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if engine != "sipp" and (loss_on_our_side(row) or row["cpu_pct"] > CPU_LIMIT_PCT):
                    break
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def print_table(rows: list[dict]) -> None:
    sipp = {r["calls"]: r for r in rows if r["engine"] == "sipp-uac"}
    print("\n| engine | calls | processes | CPU % of a core | per call | RSS MB | KB per call | "
          "lost (ours / echo drops) | x SIPp UAC CPU |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        lost = f"{r['rx_lost']} / {r['echo_socket_drops']}" if "rx_lost" in r else "-"
        base = sipp.get(r["calls"]) or (min(sipp.values(), key=lambda s: abs(s["calls"] - r["calls"]))
                                        if sipp else None)
        ratio = f"{r['cpu_pct_per_call'] / base['cpu_pct_per_call']:.1f}" if base and r["engine"] != "sipp-uac" \
            else "-"
        print(f"| {r['engine']} | {r['calls']} | {r['processes']} | {r['cpu_pct']} | {r['cpu_pct_per_call']} | "
              f"{r['rss_mb']} | {r['rss_kb_per_call']} | {lost} | {ratio} |")
    held = {}
    for r in rows:
        if r["engine"] != "sipp-uac" and not loss_on_our_side(r) and r["answered"] == r["calls"]:
            held[r["engine"]] = max(held.get(r["engine"], 0), r["calls"])
    for engine, calls in held.items():
        print(f"{engine}: largest step held with no loss on our side: {calls} concurrent calls")


if __name__ == "__main__":
    sys.exit(main())
