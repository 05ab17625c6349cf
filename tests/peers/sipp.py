"""SIPp (Debian's sip-tester) as a peer: UAS echo, scripted rejections, ringing forever."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from callproof.harness.run.processes import stop_processes
from tests.peers.net import free_port, wait_bound

SCENARIOS = Path(__file__).resolve().parent.parent / "sipp"


@dataclass
class Sipp:
    """One SIPp process; `uri` is where to call it."""

    args: list[str]
    port: int
    media_port: int
    log_dir: Path
    realtime: bool = False  # SCHED_RR: the machine's other load never delays it (root only)
    media_ip: str = "127.0.0.1"
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def uri(self) -> str:
        return f"sip:service@{self.media_ip}:{self.port}"

    def start(self) -> "Sipp":
        if shutil.which("sipp") is None:
            raise RuntimeError("sipp is not installed (Debian package sip-tester; .ci/run installs it)")
        log = open(self.log_dir / f"sipp-{self.port}.log", "wb")
        self.proc = subprocess.Popen(
            ["sipp", *self.args, "-i", self.media_ip, "-p", str(self.port), "-mi", self.media_ip,
             "-mp", str(self.media_port), "-nostdin"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.log_dir,
            preexec_fn=_realtime if self.realtime else None,
        )
        log.close()
        wait_bound(self.port, "udp")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_processes([self.proc])

    def socket_drops(self) -> int:
        """Datagrams the kernel dropped on SIPp's own sockets so far: the far side's loss."""
        return process_socket_drops(self.proc.pid)


def process_socket_drops(pid: int) -> int:
    """Drops on every UDP socket of process `pid` (its network namespace's /proc/net/udp{,6}, by inode)."""
    from callproof.sip.socket_drops import udp_sockets

    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    tables = (Path(f"/proc/{pid}/net/udp"), Path(f"/proc/{pid}/net/udp6"))
    return sum(row.drops for row in udp_sockets(inodes, tables))


def can_run_realtime() -> bool:
    return os.geteuid() == 0


def _realtime() -> None:
    """In the child before exec: round-robin real-time priority, inherited by every thread SIPp starts."""
    os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(10))


def start_sipp(log_dir: Path, *args: str, realtime: bool = False) -> Sipp:
    """Start SIPp with `args` on fresh ports, waiting until its SIP socket is bound."""
    return Sipp(list(args), free_port(), free_port(pair=True), log_dir, realtime=realtime).start()


def echo_uas(log_dir: Path, *, realtime: bool = False) -> Sipp:
    return start_sipp(log_dir, "-sn", "uas", "-rtp_echo", realtime=realtime)


def scripted_uas(log_dir: Path, scenario: str, *args: str, **fields: str) -> Sipp:
    """A UAS from tests/sipp/<scenario>.xml with its @name@ fields filled in, and SIPp's `args`.

    (SIPp checks status codes when it parses the file, before `-key` values apply.)
    """
    text = (SCENARIOS / f"{scenario}.xml").read_text()
    for name, value in fields.items():
        text = text.replace(f"@{name}@", value)
    suffix = "-".join(fields.values())
    path = log_dir / f"{scenario}{'-' + suffix if suffix else ''}.xml"
    path.write_text(text)
    return start_sipp(log_dir, "-sf", str(path), *args)
