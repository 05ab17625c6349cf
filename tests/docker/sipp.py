"""SIPp peers for the Kamailio tests: backends that answer, a caller that counts.

Each backend logs every message it receives (`-trace_msg`, flushed per
message), so a test counts the calls a backend answered from the backend's
own record, even after the backend was killed.
"""

from __future__ import annotations

import dataclasses
import re
import signal
import subprocess
from pathlib import Path

from tests.peers.net import free_port
from tests.peers.sipp import SCENARIOS, Sipp, start_sipp

UAS_BEHIND_PROXY = SCENARIOS / "uas_behind_proxy.xml"
UAC_THROUGH_PROXY = SCENARIOS / "uac_through_proxy.xml"

_MESSAGE_SEPARATOR = re.compile(r"^-{20,} .*$", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class ReceivedInvite:
    request_uri: str
    call_id: str


@dataclasses.dataclass
class Backend:
    """A SIPp UAS (uas_behind_proxy.xml, RTP echo) and the log of what it received."""

    sipp: Sipp
    message_file: Path

    @property
    def port(self) -> int:
        return self.sipp.port

    @property
    def uri(self) -> str:
        return f"sip:127.0.0.1:{self.sipp.port}"

    def invites(self) -> list[ReceivedInvite]:
        """INVITEs received, one per Call-ID (retransmissions folded)."""
        if not self.message_file.exists():
            return []
        seen: dict[str, ReceivedInvite] = {}
        for block in _MESSAGE_SEPARATOR.split(self.message_file.read_text(errors="replace")):
            lines = [line.strip() for line in block.strip().splitlines()]
            if not lines or not lines[0].startswith("UDP message received"):
                continue
            message = [line for line in lines[1:] if line]
            if not message or not message[0].startswith("INVITE "):
                continue
            call_id = next(line.split(":", 1)[1].strip() for line in message if line.lower().startswith("call-id:"))
            seen.setdefault(call_id, ReceivedInvite(request_uri=message[0].split()[1], call_id=call_id))
        return list(seen.values())

    def kill(self) -> None:
        """SIGKILL: the backend dies the way a crashed PBX does, without a word."""
        proc = self.sipp.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)

    def stop(self) -> None:
        self.sipp.stop()


def start_backend(log_dir: Path, name: str) -> Backend:
    """A backend on fresh ports, ready once its SIP socket is bound."""
    message_file = log_dir / f"{name}.messages.log"
    sipp = start_sipp(
        log_dir, "-sf", str(UAS_BEHIND_PROXY), "-rtp_echo", "-trace_msg", "-message_file", str(message_file)
    )
    return Backend(sipp=sipp, message_file=message_file)


def run_uac(*, proxy_port: int, service: str, calls: int, workdir: Path, rate_cps: int = 10) -> int:
    """Place `calls` calls to sip:SERVICE@proxy through uac_through_proxy.xml; SIPp's exit code.

    0 means every call was answered and hung up cleanly; SIPp gives up on the
    run after 30 s, which a test sees as a non-zero code.
    """
    argv = [
        "sipp", "-sf", str(UAC_THROUGH_PROXY), "-s", service,
        "-i", "127.0.0.1", "-p", str(free_port()), "-mi", "127.0.0.1", "-mp", str(free_port(pair=True)),
        "-m", str(calls), "-r", str(rate_cps), "-nostdin", "-timeout", "30s", "-timeout_error",
        "-trace_err", "-error_file", str(workdir / f"uac-{service}.errors.log"),
        f"127.0.0.1:{proxy_port}",
    ]  # fmt: skip
    completed = subprocess.run(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=40, check=False
    )
    return completed.returncode
