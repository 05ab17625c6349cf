"""SIPp (Debian's sip-tester) as a peer: UAS echo, scripted rejections, ringing forever."""

from __future__ import annotations

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
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def uri(self) -> str:
        return f"sip:service@127.0.0.1:{self.port}"

    def start(self) -> "Sipp":
        if shutil.which("sipp") is None:
            raise RuntimeError("sipp is not installed (Debian package sip-tester; .ci/run installs it)")
        log = open(self.log_dir / f"sipp-{self.port}.log", "wb")
        self.proc = subprocess.Popen(
            ["sipp", *self.args, "-i", "127.0.0.1", "-p", str(self.port), "-mi", "127.0.0.1",
             "-mp", str(self.media_port), "-nostdin"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.log_dir,
        )
        log.close()
        wait_bound(self.port, "udp")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_processes([self.proc])


def start_sipp(log_dir: Path, *args: str) -> Sipp:
    """Start SIPp with `args` on fresh ports, waiting until its SIP socket is bound."""
    return Sipp(list(args), free_port(), free_port(pair=True), log_dir).start()


def echo_uas(log_dir: Path) -> Sipp:
    return start_sipp(log_dir, "-sn", "uas", "-rtp_echo")


def scripted_uas(log_dir: Path, scenario: str, **fields: str) -> Sipp:
    """A UAS from tests/sipp/<scenario>.xml with its @name@ fields filled in.

    (SIPp checks status codes when it parses the file, before `-key` values apply.)
    """
    text = (SCENARIOS / f"{scenario}.xml").read_text()
    for name, value in fields.items():
        text = text.replace(f"@{name}@", value)
    suffix = "-".join(fields.values())
    path = log_dir / f"{scenario}{'-' + suffix if suffix else ''}.xml"
    path.write_text(text)
    return start_sipp(log_dir, "-sf", str(path))
