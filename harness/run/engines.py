"""SIP engine processes for a run: how many, on which ports, with which settings.

Callers: the pool is sized from the engine's real per-process capacity, which
is only known once a process has started: the first process starts alone,
reports it, and the rest start in parallel. Each process gets its own RTP
port range, claimed machine-wide so that no other engine process of this run,
of another run or of another program holds it (callproof.harness.run.ports).

Embedded target: our own agents in child processes on 127.0.0.1. Each call
goes to the agent process with the fewest calls in progress (a tiny ACD), so
no agent process is offered more calls than it can hold.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import os
import socket
from pathlib import Path
from typing import Callable

from callproof.harness.errors import BadInput, HarnessError
from callproof.harness.run.ports import PortRegistry, merged, pjsua_range
from callproof.harness.scenario.loader import media_settings
from callproof.harness.scenario.model import EMBEDDED, Scenario
from callproof.sip.errors import EngineError
from callproof.sip.pool import EnginePool, EngineProcess
from callproof.sip.records import CallRecord
from callproof.sip.settings import AccountSpec, AgentSpec, EngineSettings
from callproof.sip.uri import SipUri

PORTS_PER_CALL = 2  # RTP + RTCP
WHEEL_CAPACITY = 4  # PJSUA_MAX_CALLS of the PyPI wheel


def caller_template(scenario: Scenario) -> EngineSettings:
    """Settings of the scenario's caller engine processes (the Fleet numbers and places each one)."""
    target = scenario.target
    transports = ("udp",) if target.embedded else tuple(dict.fromkeys(("udp", target.transport)))
    credentials = target.credentials
    account = AccountSpec(
        user=target.from_user,
        proxy=target.outbound_proxy,
        registrar=SipUri.parse(target.uri, "target.uri").server() if target.register else None,
        username=credentials.username if credentials else None,
        password=credentials.password if credentials else None,
        realm=credentials.realm if credentials else "*",
    )
    return EngineSettings(name="caller", bind_ip=local_address_for(target.uri), transports=transports,
                          codecs=scenario.call.codecs, srtp=target.srtp,
                          tls_verify_server=target.tls_verify_server, media=media_settings(scenario),
                          account=account)


def local_address_for(uri: str) -> str:
    """The address of ours that reaches `uri`'s host: what our SIP and RTP sockets bind and announce.

    127.0.0.1 for the embedded target and loopback targets; otherwise the source address
    the kernel picks for that host (in a container: the container's address).
    """
    if uri == EMBEDDED:
        return "127.0.0.1"
    host, port = SipUri.parse(uri, "the target URI").host_port("udp")
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(address)  # UDP: no packet is sent, the kernel only picks a route
            return probe.getsockname()[0]
    except OSError as exc:
        raise BadInput(f"cannot reach the target host {host} from this machine: {exc.strerror or exc}") from None


def rtp_stride(capacity: int) -> int:
    # Four spare pairs beyond the calls: pjsua skips a pair it cannot bind (a socket
    # another program bound after the range was claimed).
    return PORTS_PER_CALL * capacity + 8


def processes_needed(calls: int, capacity: int) -> int:
    return max(1, math.ceil(calls / max(1, capacity)))


class Fleet:
    """Starts SIP engine processes in a port layout that never overlaps."""

    def __init__(self, template: EngineSettings, *, log_dir: Path | None, ports: PortRegistry | None = None) -> None:
        self.template = template
        self.log_dir = log_dir
        self.ports = ports or PortRegistry(template.bind_ip)
        # Processes are numbered per prefix from 1 (caller1, caller2; agent n for registered agent n),
        # so a process's name, its log (logs/NAME.log) and the agent it plays agree.
        self._counts: collections.Counter[str] = collections.Counter()

    @property
    def rtp_ports(self) -> list[range]:
        """Every RTP and RTCP port range handed out so far, adjacent ones joined."""
        return merged(self.ports.claimed)

    def close(self) -> None:
        """Give the port ranges back; call once every engine process of the fleet has stopped."""
        self.ports.close()

    def _settings(self, prefix: str, stride: int, **changes) -> EngineSettings:
        ports = self.ports.claim(stride)
        values = self.template.to_dict() | changes
        self._counts[prefix] += 1
        values.update(name=f"{prefix}{self._counts[prefix]}", rtp_port=ports.start,
                      rtp_port_range=pjsua_range(len(ports)))
        return EngineSettings.from_dict(values)

    def start_pool(self, prefix: str, calls: int, *, exact: int | None = None, spread: bool = True,
                   on_inbound: Callable[[CallRecord], None] | None = None, **changes) -> EnginePool:
        """Processes of `prefix` for `calls` concurrent calls, or `exact` processes.

        The per-process capacity is read from the first process, which starts alone. An
        uncapped engine gets one process per core to spread the media work, unless `spread`
        is False (a few calls: one process holds them). `changes` are EngineSettings fields (as
        plain values) that differ from the template.
        """
        # Each process gets ports for as many calls as it could take: all of them, up to what it
        # may hold (small ranges fit between the ports other programs hold).
        calls = max(1, calls)
        first = self.process(prefix, min(self.template.max_calls, calls), on_inbound=on_inbound, **changes)
        EnginePool([first]).start()
        count = exact if exact is not None else processes_needed(calls, first.capacity)
        if exact is None and spread and first.capacity > WHEEL_CAPACITY:
            # An uncapped engine: one process per core spreads the media work (issue 8).
            count = max(count, min(os.cpu_count() or 1, calls))
        rest = EnginePool([self.process(prefix, min(first.capacity, calls), on_inbound=on_inbound, **changes)
                           for _ in range(count - 1)])
        try:
            rest.start()
        except EngineError:
            first.stop()
            raise
        return EnginePool([first, *rest.processes])

    def process(self, prefix: str, calls: int, *, on_inbound: Callable[[CallRecord], None] | None = None,
                **changes) -> EngineProcess:
        """One engine process of `prefix`, not started yet, with RTP ports for `calls` calls.

        For processes that differ from each other (one account each); `changes` as in start_pool.
        """
        settings = self._settings(prefix, rtp_stride(calls), **changes)
        log_path = self.log_dir / f"{settings.name}.log" if self.log_dir else None  # logs/NAME.log, NAME its own
        return EngineProcess(settings, log_path=log_path, on_inbound=on_inbound)


class EmbeddedTarget:
    """Our agents on 127.0.0.1, and least-busy routing of calls to them."""

    def __init__(self, pool: EnginePool) -> None:
        self.pool = pool
        self._busy = {p.name: 0 for p in pool.processes}
        self._by_name = {p.name: p for p in pool.processes}

    @classmethod
    def start(cls, fleet: Fleet, agents: int, spec: AgentSpec,
              on_inbound: Callable[[CallRecord], None] | None = None) -> "EmbeddedTarget":
        pool = fleet.start_pool("agent", agents, agent=dataclasses.asdict(spec),
                                account=AccountSpec(user="agent").to_dict(), on_inbound=on_inbound)
        return cls(pool)

    @property
    def capacity(self) -> int:
        return self.pool.capacity

    def acquire(self) -> tuple[str, str]:
        """(agent name, URI) of the agent process with the fewest calls in progress."""
        name = min(self._busy, key=lambda n: (self._busy[n], n))
        self._busy[name] += 1
        port = self._by_name[name].sip_ports["udp"]
        return name, f"sip:agent@127.0.0.1:{port}"

    def release(self, name: str) -> None:
        self._busy[name] -= 1

    def stop(self) -> None:
        self.pool.stop()


def check_registrations(pool: EnginePool, who: str) -> None:
    """Every process of `pool` that registers got a 200; else one sentence (2: credentials, 3: no answer)."""
    for process in pool.processes:
        registrar = process.settings.account.registrar
        if registrar is None:
            continue
        code, reason, _ = process.registration or (None, "no answer", 0)
        if code == 200:
            continue
        if code in (401, 403, 407):
            raise BadInput(f"{registrar} refused the {who}'s registration ({code} {reason}): check the credentials")
        raise HarnessError(f"the {who} could not register with {registrar} ({code or 'no answer'} {reason})".strip())
