"""A packet capture of the run's media, taken by dumpcap (Wireshark's capture engine).

Only RTP and RTCP: UDP to or from our own address on the RTP ports our engine
processes were given (callproof.harness.run.engines.Fleet). pjsua picks each call's port
inside its process's range as the call starts, so the filter can name only the ranges;
when the run ends, `keep_only_ports` rewrites the capture to the exact ports its records
name (each call's RTP port and the RTCP port after it): another program's RTP that
happened to use a port in our ranges does not reach the bundle (issue 14, section 4).
SIP stays out because its Authorization headers carry digest responses, which must
never reach a bundle. The capture runs on Linux's `any` device (cooked headers, which
`callproof analyze` reads), so one filter serves loopback and real interfaces alike.

dumpcap dies with the run (issue 14, section 4): a dumpcap left behind by a killed run
kept writing into a bundle that was then signed. It runs under a small guard process
that asks the kernel for SIGTERM when the run dies (PR_SET_PDEATHSIG) and passes it
on; the request cannot be made for dumpcap itself, because the kernel drops it when a
program with file capabilities starts (dumpcap has them wherever non-root users may
capture). On SIGTERM dumpcap writes out what it holds and closes the file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from callproof.harness.errors import HarnessError
from callproof.harness.run.processes import stop_processes
from callproof.harness.scenario.model import Capture
from callproof.rtp_analysis.errors import CaptureError
from callproof.rtp_analysis.net import udp_datagrams
from callproof.rtp_analysis.pcap import read_frames

_READY_TIMEOUT_S = 10.0
# The guard: SIGTERM when its parent (the run) dies, passed on to dumpcap; it ends with dumpcap. argv: the run's
# PID, then dumpcap's command. If the run died before the request took hold, dumpcap never starts.
_GUARD = """
import ctypes, os, signal, subprocess, sys
TERM = {signal.SIGTERM}
signal.pthread_sigmask(signal.SIG_BLOCK, TERM)  # held until dumpcap exists to take it
ctypes.CDLL(None).prctl(1, signal.SIGTERM)
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)
child = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL,
                         preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_UNBLOCK, TERM))
signal.signal(signal.SIGTERM, lambda *_: child.terminate())
signal.pthread_sigmask(signal.SIG_UNBLOCK, TERM)
sys.exit(child.wait())
"""


def keep_only_ports(path: Path, ports: set[int]) -> tuple[int, int] | None:
    """Rewrite the pcap file at `path` with only the UDP datagrams to or from `ports`.

    Returns (kept, dropped) frames, or None when there was nothing to rewrite (no file, no
    packets, or not the plain pcap dumpcap -P writes). The file is replaced atomically.
    """
    try:
        frames = read_frames(path)
        datagrams = udp_datagrams(frames, path.name)
    except (CaptureError, OSError):
        return None
    if frames.data[:4].tobytes() not in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        return None  # little-endian pcap only: what dumpcap -P writes on this machine
    wanted = np.fromiter(ports, dtype=np.int64, count=len(ports))
    ours = np.isin(datagrams.src_port, wanted) | np.isin(datagrams.dst_port, wanted)
    keep = np.sort(datagrams.frame[ours])
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as out:
        out.write(frames.data[:_PCAP_HEADER].tobytes())
        for start, length in zip(frames.offset[keep] - _RECORD_HEADER, frames.caplen[keep] + _RECORD_HEADER,
                                 strict=True):
            out.write(frames.data[start:start + length].tobytes())
    os.replace(partial, path)
    return int(keep.size), len(frames) - int(keep.size)


_PCAP_HEADER = 24  # pcap's file header
_RECORD_HEADER = 16  # each record's header, just before its frame


def capture_filter(address: str, ports: list[range]) -> str:
    """BPF for UDP to or from `address` on `ports` (our engines' RTP and RTCP ranges)."""
    ranges = " or ".join(f"portrange {r.start}-{r.stop - 1}" for r in ports)
    return f"udp and host {address} and ({ranges})"


class MediaCapture:
    """dumpcap writing `path` until its limits or stop(); started before the first call."""

    def __init__(self, spec: Capture, bpf: str, path: Path, log_path: Path) -> None:
        self.spec = spec
        self.bpf = bpf
        self.path = path
        self.log_path = log_path
        self._proc: subprocess.Popen | None = None

    def command(self, dumpcap: str) -> list[str]:
        argv = [dumpcap, "-i", "any", "-f", self.bpf, "-P", "-w", str(self.path), "-q",
                "-a", f"filesize:{max(1, int(self.spec.max_mb * 1000))}"]
        if self.spec.seconds is not None:
            argv += ["-a", f"duration:{max(1, round(self.spec.seconds))}"]
        return argv

    def start(self) -> None:
        dumpcap = shutil.which("dumpcap")
        if dumpcap is None:
            raise HarnessError("capture.enabled needs dumpcap, which is not installed "
                               "(Debian package wireshark-common, which tshark brings)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen([sys.executable, "-P", "-c", _GUARD, str(os.getpid()),
                                           *self.command(dumpcap)], stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT)
        # dumpcap says "File: PATH" once the device is open and the filter compiled.
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while b"File: " not in self.log_path.read_bytes():
            if self._proc.poll() is not None:
                raise HarnessError(f"dumpcap could not capture: {self._last_line()} "
                                   "(it needs root, or membership of the wireshark group)")
            if time.monotonic() > deadline:
                self.stop()
                raise HarnessError(f"dumpcap did not start capturing within {_READY_TIMEOUT_S:g} s "
                                   f"(see logs/{self.log_path.name})")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (the guard passes it on): dumpcap writes out what it holds and closes the file."""
        if self._proc is not None:
            stop_processes([self._proc])

    def _last_line(self) -> str:
        assert self._proc is not None, "read after dumpcap started"
        lines = [line.strip() for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1].rstrip(".") if lines else f"exit code {self._proc.returncode}"
