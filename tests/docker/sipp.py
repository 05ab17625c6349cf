"""SIPp peers for the Kamailio tests: backends that answer, a caller that counts.

Each UAS logs every message it receives (`-trace_msg`, flushed per message),
so a test counts the calls a backend answered from the backend's own record,
even after the backend was killed.
"""

from __future__ import annotations

import dataclasses
import errno
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.peers.kamailio import HOST, REPO_ROOT

UAS_BEHIND_PROXY = REPO_ROOT / "tests" / "peers" / "sipp" / "uas_behind_proxy.xml"
UAC_THROUGH_PROXY = REPO_ROOT / "tests" / "peers" / "sipp" / "uac_through_proxy.xml"

_READY_TIMEOUT_S = 5.0
_MESSAGE_SEPARATOR = re.compile(r"^-{20,} .*$", re.MULTILINE)


def free_udp_port_block(size: int) -> int:
    """The first of `size` consecutive UDP ports free right now.

    SIPp's RTP echo binds -mp and -mp+2, so its media ports must not overlap
    another peer's.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((HOST, 0))
            base = probe.getsockname()[1]
        if base + size > 65536:
            continue
        sockets = []
        try:
            for port in range(base, base + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(sock)
                sock.bind((HOST, port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no block of {size} free UDP ports on {HOST}")


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


@dataclasses.dataclass(frozen=True)
class ReceivedInvite:
    request_uri: str
    call_id: str


@dataclasses.dataclass
class SippUas:
    port: int
    process: subprocess.Popen
    message_file: Path

    @property
    def uri(self) -> str:
        return f"sip:{HOST}:{self.port}"

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
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def start_uas(workdir: Path, name: str) -> SippUas:
    """A SIPp UAS (uas_behind_proxy.xml) echoing RTP, ready when its SIP port is bound."""
    port = free_udp_port_block(1)
    media_port = free_udp_port_block(4)
    message_file = workdir / f"{name}.messages.log"
    argv = [
        "sipp", "-sf", str(UAS_BEHIND_PROXY),
        "-i", HOST, "-p", str(port), "-mi", HOST, "-mp", str(media_port), "-rtp_echo",
        "-nostdin", "-trace_msg", "-message_file", str(message_file),
    ]  # fmt: skip
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uas = SippUas(port=port, process=process, message_file=message_file)
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sipp UAS {name} exited with {process.returncode}")
        if _port_taken(port):
            return uas
        time.sleep(0.05)
    uas.stop()
    raise RuntimeError(f"sipp UAS {name} did not bind {HOST}:{port} within {_READY_TIMEOUT_S} s")


def run_uac(*, proxy_port: int, service: str, calls: int, workdir: Path, rate_cps: int = 10) -> int:
    """Place `calls` calls to sip:SERVICE@proxy through uac_through_proxy.xml; SIPp's exit code.

    0 means every call was answered and hung up cleanly; SIPp gives up on the
    run after 30 s, which a test sees as a non-zero code.
    """
    media_port = free_udp_port_block(4)
    argv = [
        "sipp", "-sf", str(UAC_THROUGH_PROXY), "-s", service,
        "-i", HOST, "-p", str(free_udp_port_block(1)), "-mi", HOST, "-mp", str(media_port),
        "-m", str(calls), "-r", str(rate_cps), "-nostdin", "-timeout", "30s", "-timeout_error",
        "-trace_err", "-error_file", str(workdir / f"uac-{service}.errors.log"),
        f"{HOST}:{proxy_port}",
    ]  # fmt: skip
    completed = subprocess.run(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=40, check=False
    )
    return completed.returncode
