"""Kamailio for tests: docker/kamailio/kamailio.cfg, started natively.

The compose `failover` profile runs this same file in a container; here it
runs as a foreground process (`-DD -E`) on 127.0.0.1, configured only through
the `-A` defines the file documents. A session-scoped fixture factory starts
as many instances as a test session needs and stops each by its PID:

    from tests.peers.kamailio import kamailio_factory  # noqa: F401 (fixture)

    def test_failover(kamailio_factory):
        proxy = kamailio_factory(backends=("sip:127.0.0.1:5071", "sip:127.0.0.1:5072"))
        ...  # send calls to proxy.uri

`start_kamailio()` returns only once the proxy answers a SIP OPTIONS, so a
test never races its start-up; the dispatcher list is loaded before any
request is served. `Kamailio.dispatcher_flags()` reads each backend's state
(AX active, IP down and probed) through kamcmd.

The proxy record-routes INVITEs. SIPp backends behind it should run
tests/sipp/uas_behind_proxy.xml rather than `-sn uas`: the built-in
scenario echoes no Record-Route, yet sends every reply of a call to the
proxy, so a caller's BYE sent straight to the backend never gets its 200.
tests/sipp/uac_through_proxy.xml is the matching SIPp caller.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.peers.net import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
KAMAILIO_CFG = REPO_ROOT / "docker" / "kamailio" / "kamailio.cfg"
HOST = "127.0.0.1"
# Defaults of kamailio.cfg itself, repeated for the tests that talk to it.
DEFAULT_AGENT_PASSWORD = "callproof-agent"
DEFAULT_REALM = "callproof"

_READY_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class KamailioSettings:
    """The -A defines of kamailio.cfg, as a test chooses them."""

    port: int
    backends: tuple[str, ...] = ()  # dispatcher set 1, SIP URIs
    probing_mode: int = 0  # 0 for SIPp backends (no OPTIONS answers), 1 for Asterisk
    ping_interval_s: int = 2
    algorithm: int = 4  # 4 round-robin, 0 hash over Call-ID
    fr_timer_ms: int = 2000
    agent_password: str = DEFAULT_AGENT_PASSWORD
    realm: str = DEFAULT_REALM
    min_expires_s: int = 60  # shortest registration granted; tests of refresh use a few seconds

    def __post_init__(self) -> None:
        for name in ("agent_password", "realm"):
            value = getattr(self, name)
            # The value goes into a double-quoted define.
            if not value or any(c in value for c in '"\\\n'):
                raise ValueError(f"{name} must be non-empty, without quotes, backslashes or newlines")
        for uri in self.backends:
            if not uri.startswith("sip:") or any(c.isspace() for c in uri):
                raise ValueError(f"backend {uri!r} is not a SIP URI without spaces")
        if self.probing_mode not in (0, 1):
            raise ValueError("probing_mode is 0 or 1")

    def defines(self, dispatcher_list: Path) -> list[str]:
        return [
            f"LISTEN=udp:{HOST}:{self.port}",
            f'DS_LIST="{dispatcher_list}"',
            f"DS_PROBING_MODE={self.probing_mode}",
            f"DS_PING_INTERVAL={self.ping_interval_s}",
            f"DS_ALGORITHM={self.algorithm}",
            f"FR_TIMER_MS={self.fr_timer_ms}",
            f'AGENT_PASSWORD="{self.agent_password}"',
            f'REALM="{self.realm}"',
            f"REG_MIN_EXPIRES={self.min_expires_s}",
        ]


@dataclasses.dataclass
class Kamailio:
    """A running Kamailio; `stop()` ends it (idempotent)."""

    settings: KamailioSettings
    process: subprocess.Popen
    runtime_dir: Path
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        return self.settings.port

    @property
    def uri(self) -> str:
        return f"sip:{HOST}:{self.settings.port}"

    @property
    def ctl_socket(self) -> str:
        """For `kamcmd -s SOCKET ...` (dispatcher.list, ul.dump)."""
        return f"unix:{self.runtime_dir / 'kamailio_ctl'}"

    def dispatcher_flags(self) -> dict[str, str]:
        """Each backend's dispatcher state by URI, from `kamcmd dispatcher.list`.

        First letter A active, I inactive, T trying, D disabled; a second
        letter P means OPTIONS probing is on for it, X off.
        """
        listing = subprocess.run(
            ["kamcmd", "-s", self.ctl_socket, "dispatcher.list"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
        return dict(re.findall(r"URI:\s*(\S+)\s+FLAGS:\s*(\S+)", listing))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        # SIGTERM to the main process: it stops its own children.
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            # The process group is ours (start_new_session): no orphans left.
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(_STOP_TIMEOUT_S)


def sip_options(host: str, port: int, timeout_s: float = 0.5) -> int | None:
    """Send one SIP OPTIONS over UDP; the reply's status code, or None if none came."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        local_port = sock.getsockname()[1]
        tag = secrets.token_hex(4)
        request = (
            f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{local_port};branch=z9hG4bK{secrets.token_hex(8)};rport\r\n"
            f"From: <sip:probe@{HOST}>;tag={tag}\r\n"
            f"To: <sip:{host}:{port}>\r\n"
            f"Call-ID: {secrets.token_hex(8)}@{HOST}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Max-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        sock.sendto(request.encode(), (host, port))
        sock.settimeout(timeout_s)
        try:
            data, _ = sock.recvfrom(65535)
        except TimeoutError:
            return None
    status_line = data.split(b"\r\n", 1)[0].decode(errors="replace").split()
    if len(status_line) < 2 or status_line[0] != "SIP/2.0" or not status_line[1].isdigit():
        return None
    return int(status_line[1])


def start_kamailio(settings: KamailioSettings, workdir: Path) -> Kamailio:
    """Start kamailio.cfg in the foreground and wait until it answers OPTIONS."""
    runtime_dir = workdir / "run"
    runtime_dir.mkdir(parents=True)
    dispatcher_list = workdir / "dispatcher.list"
    dispatcher_list.write_text("".join(f"1 {uri}\n" for uri in settings.backends))
    log_path = workdir / "kamailio.log"
    argv = ["kamailio", "-f", str(KAMAILIO_CFG), "-DD", "-E", "-m", "32", "-M", "4", "-Y", str(runtime_dir)]
    for define in settings.defines(dispatcher_list):
        argv += ["-A", define]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    kamailio = Kamailio(settings=settings, process=process, runtime_dir=runtime_dir, log_path=log_path)
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"kamailio exited with {process.returncode}:\n{kamailio.log()[-3000:]}")
        if sip_options(HOST, settings.port) == 200:
            return kamailio
    kamailio.stop()
    raise RuntimeError(f"kamailio did not answer OPTIONS within {_READY_TIMEOUT_S} s:\n{kamailio.log()[-3000:]}")


@pytest.fixture(scope="session")
def kamailio_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Kamailio]]:
    """Start Kamailio instances: `kamailio_factory(backends=(...), probing_mode=0, ...)`.

    Keyword arguments are `KamailioSettings` fields; `port` defaults to a free
    one. Every instance is stopped at the end of the session.
    """
    started: list[Kamailio] = []

    def start(**fields: object) -> Kamailio:
        fields.setdefault("port", free_port())
        kamailio = start_kamailio(KamailioSettings(**fields), tmp_path_factory.mktemp("kamailio"))
        started.append(kamailio)
        return kamailio

    yield start
    for kamailio in started:
        kamailio.stop()
