"""Soak: does a long run at a few hundred concurrent calls degrade its own generator?

    python bench/soak.py                                       # 60 min, 300 calls, built engine
    python bench/soak.py --minutes 5 --calls 200 --baseline-min 2   # the short proof

Runs `callproof run` as a user would, on a scenario of its own (closed loop, talk times of
20-40 s so calls keep ending and starting, the bundled prompt both ways) against one SIPp echo on
127.0.0.1 (at a real-time priority when run as root, so the machine's other load reaches only
the generator; one echo socket holds about 400 calls, hence --calls at most 400). Every 10 s
it samples the Locust process (`callproof run` itself) and every SIP engine process of the
run: RSS (/proc/PID/status VmRSS) and CPU (% of one core over the interval, /proc/PID/stat);
CPU per call in progress for the Locust process and the engines together; each engine's pump
lag from the run's own health events (pump_lag_ms_by_engine). Then it prints, per process,
RSS and CPU in the baseline minute (the 10th) and in the last minute, and the growth between
them: issue 13 wants it under 10%. Every sample goes to OUT/soak.jsonl; the run's own folder
is OUT/run. Every process it starts is stopped by its PID.

A benchmark, not a test: read the growth, and the verdict the run gave itself.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callproof.harness.run.health import cpu_seconds  # noqa: E402
from tests.peers import sipp  # noqa: E402

MAX_CALLS = 400  # one SIPp echo socket drops packets above about 400 calls (field notes)
SAMPLE_S = 10.0
PROMPT = ROOT / "scenarios" / "prompts" / "hello.wav"


def rss_kb(pid: int) -> int | None:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def engine_processes(parent: int) -> dict[str, int]:
    """name -> PID of the run's engine processes (each writes its log, logs/NAME.log, on stderr)."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) != parent:
                continue
            log = os.readlink(f"/proc/{pid}/fd/2")
        except (OSError, ValueError, IndexError):
            continue
        if log.endswith(".log") and "/logs/" in log:
            found[Path(log).stem] = int(pid)
    return found


def last_health(events: Path) -> dict:
    """The run's latest health event (in_flight, pump_lag_ms_by_engine...), or {}."""
    try:
        lines = events.read_bytes().splitlines()
    except OSError:
        return {}
    for line in reversed(lines):
        if b'"kind":"health"' in line:
            try:
                return json.loads(line)
            except ValueError:
                continue
    return {}


def pump_lags_since(events: Path, offset: int) -> tuple[dict[str, float], int]:
    """The worst pump lag of each engine in the health events after byte `offset`; the new offset."""
    worst: dict[str, float] = {}
    try:
        with open(events, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return worst, offset
    complete = data[: data.rfind(b"\n") + 1]
    for line in complete.splitlines():
        if b'"kind":"health"' not in line:
            continue
        for name, lag in json.loads(line).get("pump_lag_ms_by_engine", {}).items():
            worst[name] = max(worst.get(name, 0.0), lag)
    return worst, offset + len(complete)


def scenario(path: Path, uri: str, calls: int, minutes: float) -> Path:
    data = {
        "name": "soak-bench", "description": "bench/soak.py: a long closed loop against SIPp's echo.", "seed": 13,
        "target": {"uri": uri},
        "load": {"mode": "concurrency", "peak_concurrent": calls, "ramp_up_s": 10, "duration_s": minutes * 60,
                 "ramp_down_s": 0, "max_cps": 50, "max_concurrent": calls},
        "call": {"codecs": ["PCMU"], "ring_timeout_s": 10, "prompt": str(PROMPT),
                 "talk_time": {"distribution": "uniform", "min_s": 20, "max_s": 40}},
        "probes": {"call_interval_s": None, "options_interval_s": None},
        "sla": {"answer_rate_min": 0.95, "loss_p95_max": 0.01, "isa_max": None, "first_answer_s_max": None,
                "service_level": None, "abandonment_max": None, "setup_delay_p95_ms_max": 2000,
                "mos_cqe_p5_min": None, "one_way_delay_p95_ms_max": None, "availability_min": None,
                "rto_s_max": None},
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Sampler:
    """CPU and RSS of the Locust process and every engine process, every SAMPLE_S; time counts from
    the load's start (the run's first health event), and samples before it are left out."""

    def __init__(self, run: subprocess.Popen, events: Path, out: Path) -> None:
        self.run = run
        self.events = events
        self.out = out
        self.started: float | None = None
        self._cpu: dict[int, float] = {}
        self._at = time.monotonic()
        self._offset = 0
        self.samples: list[dict] = []

    def sample(self) -> dict:
        now = time.monotonic()
        interval = now - self._at
        processes = {"locust": self.run.pid, **engine_processes(self.run.pid)}
        health = last_health(self.events)
        in_flight = health.get("in_flight") or 0
        lags, self._offset = pump_lags_since(self.events, self._offset)
        if health and self.started is None:
            self.started = now
        row = {"t_s": None if self.started is None else round(now - self.started, 1), "in_flight": in_flight,
               "processes": {}}
        for name, pid in processes.items():
            seconds = cpu_seconds(pid)
            if seconds is None:
                continue
            cpu_pct = 100.0 * (seconds - self._cpu[pid]) / interval if pid in self._cpu else None
            self._cpu[pid] = seconds
            row["processes"][name] = {"rss_mb": round((rss_kb(pid) or 0) / 1024, 1),
                                      "cpu_pct": None if cpu_pct is None else round(cpu_pct, 2),
                                      "pump_lag_ms_max": lags.get(name)}
        engines = [p for n, p in row["processes"].items() if n != "locust" and p["cpu_pct"] is not None]
        row["engine_cpu_pct"] = round(sum(p["cpu_pct"] for p in engines), 2) if engines else None
        row["engine_cpu_pct_per_call"] = (round(row["engine_cpu_pct"] / in_flight, 4)
                                          if engines and in_flight else None)
        row["engine_rss_mb"] = round(sum(p["rss_mb"] for n, p in row["processes"].items() if n != "locust"), 1)
        self._at = now
        if row["t_s"] is not None:
            self.samples.append(row)
        with open(self.out, "a") as f:
            f.write(json.dumps(row) + "\n")
        return row


def window(samples: list[dict], start_s: float, end_s: float) -> list[dict]:
    return [s for s in samples if start_s <= s["t_s"] < end_s]


def steady(samples: list[dict], calls: int) -> list[dict]:
    """The samples while the load held its level (not the ramp, not the last calls draining)."""
    return [s for s in samples if s["in_flight"] >= 0.9 * calls]


def mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def growth(before: float | None, after: float | None) -> str:
    if before is None or after is None or before == 0:
        return "-"
    return f"{100.0 * (after - before) / before:+.1f}%"


def figure(rows: list[dict], name: str, key: str, per_call: bool = False) -> float | None:
    """The mean of process `name`'s `key` over `rows` ("all engines": their sum), per call in progress if asked."""
    values = []
    for row in rows:
        if name == "all engines":
            value = row["engine_rss_mb"] if key == "rss_mb" else row["engine_cpu_pct"]
        else:
            value = row["processes"].get(name, {}).get(key)
        if value is None or (per_call and not row["in_flight"]):
            continue
        values.append(value / row["in_flight"] if per_call else value)
    return mean(values)


def report(samples: list[dict], baseline_min: float, minutes: float, calls: int) -> list[str]:
    """Per process: RSS and CPU in the baseline minute and the last, and their growth; CPU per call
    in progress for the Locust process and for all engines together (calls are not counted per engine).
    Minutes count from the load's start; the last is the last minute at the load's level."""
    held = steady(samples, calls)
    base = window(held, (baseline_min - 1) * 60, baseline_min * 60)
    end = max((s["t_s"] for s in held), default=0.0)
    last = window(held, end - 60, end + 1)
    names = ["locust", "all engines", *sorted({n for s in samples for n in s["processes"]} - {"locust"})]
    lines = [f"| process | RSS MB, minute {baseline_min:g} | last minute | growth | CPU % of a core, minute "
             f"{baseline_min:g} | last minute | growth | CPU % per call, minute {baseline_min:g} | last minute | "
             "growth | pump lag ms: max, median of 10 s maxima |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]

    def fmt(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    for name in names:
        rss0, rss1 = figure(base, name, "rss_mb"), figure(last, name, "rss_mb")
        cpu0, cpu1 = figure(base, name, "cpu_pct"), figure(last, name, "cpu_pct")
        cells = [fmt(rss0, 1), fmt(rss1, 1), growth(rss0, rss1), fmt(cpu0, 2), fmt(cpu1, 2), growth(cpu0, cpu1)]
        if name in ("locust", "all engines"):
            call0, call1 = figure(base, name, "cpu_pct", True), figure(last, name, "cpu_pct", True)
            cells += [fmt(call0, 4), fmt(call1, 4), growth(call0, call1)]
        else:
            cells += ["", "", ""]
        lags = sorted(r["processes"][name]["pump_lag_ms_max"] for r in samples
                      if name in r["processes"] and r["processes"][name].get("pump_lag_ms_max") is not None)
        cells.append(f"{lags[-1]:g}, {lags[len(lags) // 2]:g}" if lags else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--baseline-min", type=float, default=10.0, help="the minute growth is measured from")
    parser.add_argument("--engine", default="built", choices=("built", "wheel"))
    parser.add_argument("--out", type=Path, default=None, help="folder for soak.jsonl and the run (default: a temp)")
    args = parser.parse_args()
    if args.calls > MAX_CALLS:
        parser.error(f"--calls above {MAX_CALLS}: one SIPp echo drops packets beyond that")
    if not 1 <= args.baseline_min < args.minutes:
        parser.error("--baseline-min must be at least 1 and below --minutes")
    out = args.out or Path(tempfile.mkdtemp(prefix="callproof-soak-"))
    out.mkdir(parents=True, exist_ok=True)
    echo = sipp.echo_uas(out, realtime=sipp.can_run_realtime())
    run = None
    try:
        path = scenario(out / "soak.yaml", echo.uri, args.calls, args.minutes)
        env = {**os.environ, "CALLPROOF_ENGINE": args.engine}
        run = subprocess.Popen([sys.executable, "-P", "-m", "callproof.harness.cli", "run", str(path), "--out",
                                str(out / "run"), "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        sampler = Sampler(run, out / "run" / "events.jsonl", out / "soak.jsonl")
        next_at = time.monotonic()
        while run.poll() is None:
            row = sampler.sample()
            print(f"{row['t_s'] or 0:7.0f} s  in flight {row['in_flight']:4}  engines "
                  f"{row['engine_cpu_pct'] or 0:6.1f}% of a core, {row['engine_rss_mb']:7.1f} MB", file=sys.stderr,
                  flush=True)
            next_at += SAMPLE_S
            time.sleep(max(0.0, next_at - time.monotonic()))
        stdout, stderr = run.communicate()
    finally:
        if run is not None and run.poll() is None:
            run.terminate()
            run.wait(timeout=120)
        echo.stop()
    summary = json.loads((out / "run" / "summary.json").read_text())
    print(f"\nsoak: {args.calls} calls for {args.minutes:g} min on the {args.engine} engine; samples in "
          f"{out / 'soak.jsonl'}; the run's verdict: {summary['verdict']} ({summary['verdict_reason']})\n")
    print("\n".join(report(sampler.samples, args.baseline_min, args.minutes, args.calls)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
