"""`tshark -q -z rtp,streams` as an oracle: run it and parse its table."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

HEURISTIC = ["-o", "udp.try_heuristic_first:TRUE", "--enable-heuristic", "rtp_udp"]
_ROW = re.compile(
    r"^\s*(?P<start>[\d.]+)\s+(?P<end>[\d.]+)\s+(?P<src>\S+)\s+(?P<sport>\d+)\s+(?P<dst>\S+)\s+(?P<dport>\d+)\s+"
    r"0x(?P<ssrc>[0-9A-F]{8})\s+(?P<payload>.+?)\s+(?P<packets>\d+)\s+(?P<lost>-?\d+)\s+\((?P<pct>[-\d.]+)%\)\s+"
    r"(?P<min_delta>[-\d.]+)\s+(?P<mean_delta>[-\d.]+)\s+(?P<max_delta>[-\d.]+)\s+"
    r"(?P<min_jitter>[-\d.]+)\s+(?P<mean_jitter>[-\d.]+)\s+(?P<max_jitter>[-\d.]+)\s*(?P<problem>X?)\s*$"
)


@dataclasses.dataclass(frozen=True)
class TsharkRow:
    src: str
    src_port: int
    dst: str
    dst_port: int
    ssrc: int
    payload: str
    packets: int
    lost: int
    max_delta_ms: float
    mean_jitter_ms: float
    max_jitter_ms: float
    problem: bool

    @property
    def key(self) -> tuple:
        return (self.src, self.src_port, self.dst, self.dst_port, self.ssrc)


def require_tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        pytest.skip("tshark is not installed (Debian package tshark; CI installs it via .ci/debian-packages)")
    return path


def rtp_streams(capture: str, *, heuristic: bool = True) -> list[TsharkRow]:
    cmd = [require_tshark(), "-n", "-r", capture, "-q", "-z", "rtp,streams"] + (HEURISTIC if heuristic else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = _ROW.match(line)
        if m:
            rows.append(
                TsharkRow(
                    src=m["src"],
                    src_port=int(m["sport"]),
                    dst=m["dst"],
                    dst_port=int(m["dport"]),
                    ssrc=int(m["ssrc"], 16),
                    payload=m["payload"].strip(),
                    packets=int(m["packets"]),
                    lost=int(m["lost"]),
                    max_delta_ms=float(m["max_delta"]),
                    mean_jitter_ms=float(m["mean_jitter"]),
                    max_jitter_ms=float(m["max_jitter"]),
                    problem=m["problem"] == "X",
                )
            )
    return rows


# rtp_analysis/wireshark.py ports Wireshark 4.0's rules (Debian 12's tshark 4.0.17). Wireshark 4.2
# changed them for packets out of timestamp order: "in time sequence" is now against the last such
# packet rather than the first, and a packet that is not still moves the jitter. tshark 4.4 (Debian
# 13) therefore differs on reordered streams. Its 4.0 rows for the tests' generated captures are kept
# here, by the capture's SHA-256, recorded with CALLPROOF_RECORD_TSHARK=1 on a machine with tshark 4.0.
PORTED = "4.0."
RECORDS = Path(__file__).with_name("tshark_4_0")


@functools.cache
def tshark_version() -> str:
    first = subprocess.run([require_tshark(), "--version"], capture_output=True, text=True, timeout=60,
                           check=True).stdout.splitlines()[0]  # "TShark (Wireshark) 4.0.17 (Git v4.0.17 ...)."
    return re.search(r"\d+\.\d+\.\d+", first)[0]  # type: ignore[index]


def ported_rtp_streams(capture: str, *, heuristic: bool = True) -> list[TsharkRow]:
    """Wireshark 4.0's rows for a generated capture: tshark's own where it is 4.0 (and equal to the
    record), else the record, with the installed tshark held to the same streams, packets and lost."""
    digest = hashlib.sha256(Path(capture).read_bytes() + bytes([heuristic])).hexdigest()[:24]
    record = RECORDS / f"{digest}.json.gz"
    if tshark_version().startswith(PORTED):
        rows = rtp_streams(capture, heuristic=heuristic)
        if os.environ.get("CALLPROOF_RECORD_TSHARK") == "1":
            RECORDS.mkdir(exist_ok=True)
            record.write_bytes(gzip.compress(json.dumps([dataclasses.asdict(r) for r in rows]).encode(), mtime=0))
        assert record.is_file(), f"no record of tshark 4.0's rows for {capture}: run with CALLPROOF_RECORD_TSHARK=1"
        assert _recorded(record) == rows, "the capture or tshark 4.0's rows changed since they were recorded"
        return rows
    assert record.is_file(), f"no record of tshark 4.0's rows for {capture} (tshark here is {tshark_version()})"
    rows = _recorded(record)
    counts = [(r.key, r.packets, r.lost) for r in rtp_streams(capture, heuristic=heuristic)]
    assert counts == [(r.key, r.packets, r.lost) for r in rows]
    return rows


def _recorded(record: Path) -> list[TsharkRow]:
    return [TsharkRow(**row) for row in json.loads(gzip.decompress(record.read_bytes()))]
