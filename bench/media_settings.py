"""What each media setting costs: CPU of N two-way G.711 calls against SIPp's echo,
one setting changed at a time from callproof's load defaults (callproof.sip.settings.MediaSettings).

    python bench/media_settings.py                 # built engine if installed, else the wheel
    python bench/media_settings.py --calls 40 --hold 20

The figures justify the defaults: an 8 kHz conference bridge for narrowband codecs
(pjsua's default 16 kHz resamples every G.711 call both ways), echo canceller off,
VAD off (continuous RTP, which measurement needs; its CPU effect is small).
A benchmark, not a test: read the ratios, the machine's other load moves the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gevent  # noqa: E402

from bench.capacity import EchoSet, Window  # noqa: E402
from callproof.harness.run.engines import Fleet  # noqa: E402
from callproof.sip.settings import CallSpec, EngineSettings, MediaSettings  # noqa: E402

VARIANTS = {
    "callproof defaults (8 kHz bridge, EC off, VAD off)": {},
    "pjsua's 16 kHz bridge": {"clock_rate": 16000, "snd_clock_rate": 16000},
    "echo canceller on": {"echo_canceller": True},
    "VAD on": {"vad": True},
}


def measure(overrides: dict, calls: int, hold_s: float, workdir: Path) -> dict:
    media = dataclasses.replace(MediaSettings(), **overrides)
    echoes = EchoSet(calls, workdir)
    pool = None
    fleet = Fleet(EngineSettings(name="caller", codecs=("PCMU",), media=media), log_dir=None)
    try:
        pool = fleet.start_pool("caller", calls)
        pending = [pool.place(CallSpec(uri=echoes.uris[i % len(echoes.uris)], talk_s=hold_s))
                   for i in range(calls)]
        for p in pending:
            p.wait_setup(timeout=60)
        gevent.sleep(3)
        window = Window([p.pid for p in pool.processes])
        gevent.sleep(max(5.0, hold_s - 8))
        measured = window.close()
        records = [p.wait_record(timeout=hold_s + 60) for p in pending]
    finally:
        if pool is not None:
            pool.stop()
        fleet.close()
        echoes.stop()
    return {"cpu_pct": round(measured["cpu_pct"], 1), "processes": len(pool.processes),
            "rx_lost": sum(r.media.rx_lost for r in records if r.media)}


def main() -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--hold", type=float, default=20.0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="callproof-media-") as tmp:
        for name, overrides in VARIANTS.items():
            row = {"setting": name, **measure(overrides, args.calls, args.hold, Path(tmp))}
            rows.append(row)
            print(row, flush=True)
    base = rows[0]["cpu_pct"]
    print(f"\n| setting ({args.calls} calls) | CPU % of a core | x defaults | lost |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['setting']} | {row['cpu_pct']} | {row['cpu_pct'] / base:.2f} | {row['rx_lost']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
