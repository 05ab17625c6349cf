"""Throughput: `callproof analyze` against `tshark -q -z rtp,streams` on one big capture.

Builds (or reuses) a pcap of about 1,000,000 G.711 RTP packets, by default 200 streams
of 5,100 packets (1 % random loss, a little arrival jitter); `--streams 100000` spreads
the same million packets over 100,000 streams of 10 (issue 15: captures at load scale).
Then it runs both tools on it alternately (--repeat times each, best run kept), checks
they agree on every stream's packets and lost, and prints each tool's wall-clock and
CPU time (user + system of the child process), its peak resident memory, and the
ratios. tshark lists every flow its RTP heuristic takes, even of a packet or two;
callproof keeps a heuristic stream from MIN_HEURISTIC_PACKETS packets on, so tshark's
shorter streams (random loss leaves a few of 10 packets with fewer) are counted and
set aside. A benchmark, not a test: on a shared machine the wall-clock figures move
with the load, the CPU figures much less.

    python bench/analyze_vs_tshark.py [--capture PATH] [--streams 200] [--packets N] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from callproof.rtp_analysis.streams import MIN_HEURISTIC_PACKETS

TSHARK_HEURISTIC = ["-o", "udp.try_heuristic_first:TRUE", "--enable-heuristic", "rtp_udp"]
RECORD = 16 + 14 + 20 + 8 + 12 + 160  # pcap record header + Ethernet + IPv4 + UDP + RTP + 20 ms of PCMU


def build_capture(path: str, streams: int, packets: int, seed: int = 1) -> int:
    """Write the capture with numpy (one structured record per packet); return its packet count."""
    rng = np.random.default_rng(seed)
    k = np.tile(np.arange(packets), streams)
    s = np.repeat(np.arange(streams), packets)
    keep = rng.random(k.size) >= 0.01
    keep[(k == 0) | (k == packets - 1)] = True
    k, s = k[keep], s[keep]
    t_us = (s * 97 + k * 20_000 + rng.normal(0, 800, k.size).clip(-5000, 5000)).astype(np.int64)
    order = np.argsort(t_us, kind="stable")
    k, s, t_us = k[order], s[order], t_us[order]
    t_us = np.maximum.accumulate(t_us)
    n = k.size
    rec = np.zeros((n, RECORD), dtype=np.uint8)

    def put(col: int, values: np.ndarray, width: int, big: bool = True) -> None:
        v = values.astype(np.uint64)
        for i in range(width):
            shift = 8 * (width - 1 - i) if big else 8 * i
            rec[:, col + i] = (v >> np.uint64(shift)) & np.uint64(0xFF)

    base = 1_700_000_000
    put(0, base + t_us // 1_000_000, 4, big=False)
    put(4, t_us % 1_000_000, 4, big=False)
    put(8, np.full(n, RECORD - 16), 4, big=False)
    put(12, np.full(n, RECORD - 16), 4, big=False)
    e = 16
    rec[:, e : e + 12] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]
    put(e + 12, np.full(n, 0x0800), 2)
    ip = e + 14
    rec[:, ip] = 0x45
    put(ip + 2, np.full(n, 20 + 8 + 12 + 160), 2)
    rec[:, ip + 6] = 0x40
    rec[:, ip + 8] = 64
    rec[:, ip + 9] = 17
    put(ip + 12, np.full(n, 0x0A000001), 4)
    put(ip + 16, 0x0A010000 + s, 4)
    udp = ip + 20
    port = 2 * (s % 10_000)  # streams beyond 10,000 differ by address only: ports stay even and in range
    put(udp, 20_000 + port, 2)
    put(udp + 2, 30_000 + port, 2)
    put(udp + 4, np.full(n, 8 + 12 + 160), 2)
    rtp = udp + 8
    rec[:, rtp] = 0x80
    put(rtp + 2, (1000 * s + k) % 65536, 2)
    put(rtp + 4, 8000 * s + 160 * k, 4)
    put(rtp + 8, 0x10000000 + s, 4)
    rec[:, rtp + 12 :] = 0xFF
    header = np.array([0xA1B2C3D4], "<u4").tobytes() + np.array([2, 4], "<u2").tobytes()
    header += np.array([0, 0, 65535, 1], "<u4").tobytes()
    with open(path, "wb") as f:
        f.write(header)
        rec.tofile(f)
    return n


def timed(cmd: list[str]) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds, peak RSS in MB, stdout) of one run of cmd, as its own rusage says."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage (RUSAGE_CHILDREN keeps the max of all)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise subprocess.CalledProcessError(child.returncode, cmd)
        out.seek(0)
        text = out.read().decode()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", help="default: /tmp/callproof-bench-STREAMSxPACKETS.pcap")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--packets", type=int, help="packets per stream before loss (default: 1,020,000 / streams)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tool; the best is reported")
    args = parser.parse_args()
    packets_per_stream = args.packets or max(MIN_HEURISTIC_PACKETS, round(1_020_000 / args.streams))
    capture = args.capture or f"/tmp/callproof-bench-{args.streams}x{packets_per_stream}.pcap"
    tshark = shutil.which("tshark")
    if tshark is None:
        print("tshark is not installed (Debian package tshark).", file=sys.stderr)
        return 2
    if not os.path.exists(capture):
        n = build_capture(capture, args.streams, packets_per_stream)
        print(f"built {capture}: {n:,} RTP packets, {os.path.getsize(capture) / 1e6:.0f} MB")
    callproof = [sys.executable, "-P", "-m", "callproof.harness.cli", "analyze", capture, "--json"]
    tshark_cmd = [tshark, "-n", "-r", capture, "-q", "-z", "rtp,streams", *TSHARK_HEURISTIC]
    ours_runs, theirs_runs = [], []
    for _ in range(args.repeat):
        ours_runs.append(timed(callproof))
        theirs_runs.append(timed(tshark_cmd))
    ours_out, theirs_out = ours_runs[0][3], theirs_runs[0][3]

    ours = {(r["src"], r["src_port"], r["dst"], r["dst_port"], r["ssrc"]): r for r in json.loads(ours_out)}
    rows = re.findall(
        r"^\s*[\d.]+\s+[\d.]+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+0x([0-9A-F]{8})\s+.+?\s+(\d+)\s+(-?\d+)\s+\(",
        theirs_out,
        re.M,
    )
    short = [row for row in rows if int(row[5]) < MIN_HEURISTIC_PACKETS]
    rows = [row for row in rows if int(row[5]) >= MIN_HEURISTIC_PACKETS]
    agree = len(rows) == len(ours) and all(
        (r := ours.get((src, int(sp), dst, int(dp), int(ssrc, 16)))) is not None
        and r["packets"] == int(pk)
        and r["lost"] == int(lost)
        for src, sp, dst, dp, ssrc, pk, lost in rows
    )
    packets = sum(r["packets"] for r in ours.values())
    print(f"capture: {packets:,} RTP packets in {len(ours):,} streams; tools agree on packets and lost: {agree}")
    if short:
        print(f"(tshark also lists {len(short)} flows of fewer than {MIN_HEURISTIC_PACKETS} packets, "
              "which callproof's heuristic leaves out)")  # fmt: skip
    print(f"best of {args.repeat} runs each; load average now: {os.getloadavg()[0]:.2f}")
    best = {}
    for label, runs in (("callproof analyze --json", ours_runs), ("tshark -z rtp,streams", theirs_runs)):
        wall, cpu, rss = (min(r[i] for r in runs) for i in range(3))
        best[label] = wall, cpu, rss
        print(f"{label:26s} wall {wall:6.2f} s  CPU {cpu:6.2f} s  peak RSS {rss:6.0f} MB  "
              f"({packets / cpu:,.0f} packets per CPU second)")  # fmt: skip
    (ours_s, ours_cpu, ours_rss), (theirs_s, theirs_cpu, theirs_rss) = best.values()
    print(
        f"callproof is {theirs_s / ours_s:.1f}x faster by wall clock, {theirs_cpu / ours_cpu:.1f}x by CPU time, "
        f"in {ours_rss / theirs_rss:.2f}x tshark's memory"
    )
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
