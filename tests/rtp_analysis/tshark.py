"""`tshark -q -z rtp,streams` as an oracle: run it and parse its table."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

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
