"""Availability probes beside the load (issue 5).

- A probe call every `call_interval_s`, from its own SIP engine process, so the
  load can never starve it of a call slot. Its record goes to probes.jsonl as is;
  the verifier decides whether its interval was up.
- A SIP OPTIONS every `options_interval_s`, sent from a plain socket (pjsua2 has
  no API for out-of-dialog requests). Reported, never deciding: a proxy answers
  OPTIONS while the PBX behind it is dead.
"""

from __future__ import annotations

import random
import re
import socket
import ssl
import time
import uuid
from typing import Callable

import gevent
import gevent.pool

from callproof.harness.run.recorder import JsonLines, utc_now
from callproof.sip.errors import EngineError
from callproof.sip.pool import EnginePool
from callproof.sip.settings import CallSpec
from callproof.sip.uri import SipUri

_OPTIONS_TIMEOUT_S = 2.0
_STATUS = re.compile(rb"^SIP/2\.0 (\d{3}) ?([^\r\n]*)")


def options_request(uri: str, local: tuple[str, int], transport: str) -> tuple[bytes, str]:
    call_id = uuid.uuid4().hex
    branch = "z9hG4bK" + uuid.uuid4().hex[:16]
    host, port = local
    text = (
        f"OPTIONS {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport.upper()} {host}:{port};branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{host}>;tag={random.getrandbits(32):08x}\r\n"
        f"To: <{uri}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Accept: application/sdp\r\n"
        "User-Agent: callproof-probe\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    return text.encode(), call_id


def send_options(uri: str, transport: str = "udp", timeout_s: float = _OPTIONS_TIMEOUT_S) -> dict:
    """One OPTIONS; {"code", "rtt_ms", "reason"} (code None: no answer or no connection)."""
    host, port = SipUri.parse(uri).host_port(transport)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    sock = socket.socket(family, kind)
    sock.settimeout(timeout_s)
    started = time.monotonic()
    try:
        if transport == "udp":
            sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
            sock.connect((host, port))
        else:
            sock.connect((host, port))
            if transport == "tls":
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE  # reachability probe, not an identity check
                sock = context.wrap_socket(sock, server_hostname=host)
        request, _ = options_request(uri, sock.getsockname()[:2], transport)
        sock.sendall(request)
        while True:  # skip provisional answers
            data = sock.recv(65535)
            if not data and transport != "udp":  # closed: every later read is empty at once too
                raise ConnectionError("the server closed the connection")
            match = _STATUS.match(data)
            if match and not match.group(1).startswith(b"1"):
                break
        rtt_ms = (time.monotonic() - started) * 1000.0
        return {"code": int(match.group(1)), "rtt_ms": round(rtt_ms, 3),
                "reason": match.group(2).decode(errors="replace")}
    except (OSError, ValueError) as exc:
        if isinstance(exc, TimeoutError | socket.timeout):
            reason = "no answer"
        elif isinstance(exc, OSError):
            reason = str(exc.strerror or exc)
        else:  # a ValueError has no strerror
            reason = str(exc)
        return {"code": None, "rtt_ms": None, "reason": reason}
    finally:
        sock.close()


class Prober:
    """Probe calls and OPTIONS on their own schedules, until stopped."""

    def __init__(self, *, pool: EnginePool | None, make_spec: Callable[[], CallSpec] | None, uri: str,
                 transport: str, call_interval_s: float | None, options_interval_s: float | None,
                 out: JsonLines) -> None:
        self.pool = pool
        self.make_spec = make_spec
        self.server = SipUri.parse(uri).server()  # OPTIONS asks the server itself (SipUri.server)
        self.transport = transport
        self.call_interval_s = call_interval_s
        self.options_interval_s = options_interval_s
        self.out = out
        self._greenlets: list[gevent.Greenlet] = []
        self._calls = gevent.pool.Group()
        self._options = gevent.pool.Group()  # OPTIONS in flight: one a target ignores is held 2 s

    def start(self) -> None:
        if self.call_interval_s and self.pool is not None:
            self._greenlets.append(gevent.spawn(self._every, self.call_interval_s, self._probe_call, self._calls))
        if self.options_interval_s:
            self._greenlets.append(gevent.spawn(self._every, self.options_interval_s, self._probe_options,
                                                self._options))

    def _every(self, interval_s: float, action: Callable[[], None], group: gevent.pool.Group) -> None:
        due = time.monotonic()
        while True:
            group.spawn(action)  # a slow answer never delays the next probe; stop() sees every one
            due += interval_s
            gevent.sleep(max(0.0, due - time.monotonic()))

    def _probe_call(self) -> None:
        assert self.pool is not None and self.make_spec is not None, "start() probes calls only with a pool"
        spec = self.make_spec()
        at_utc = utc_now()
        try:
            pending = self.pool.place(spec, timeout_s=0)
        except EngineError as exc:  # every probe slot busy: the prober's own trouble, said so
            self.out.write({"kind": "call", "at_utc": at_utc, "record": None, "error": str(exc)})
            return
        try:
            record = pending.wait_record()
        except EngineError as exc:
            self.out.write({"kind": "call", "at_utc": at_utc, "record": None, "error": str(exc)})
            return
        self.out.write({"kind": "call", "at_utc": record.invite_utc, "record": record.to_dict()})

    def _probe_options(self) -> None:
        at_utc = utc_now()
        self.out.write({"kind": "options", "at_utc": at_utc, **send_options(self.server, self.transport)})

    def stop(self, grace_s: float, hang_up_wait_s: float) -> None:
        """No new probe; probe calls in progress may end on their own for `grace_s`, then they
        are hung up and have `hang_up_wait_s` to be recorded (as the load's calls,
        callproof.harness.run.runner)."""
        for greenlet in self._greenlets:
            greenlet.kill()
        # An OPTIONS still waiting for its answer gets the calls' grace at most, then is dropped
        # unrecorded: probes.jsonl closes after this, and an answer after the run is not the run's.
        deadline = time.monotonic() + grace_s
        calls_ended = self._calls.join(timeout=grace_s)
        self._options.join(timeout=max(0.0, deadline - time.monotonic()))
        self._options.kill()
        if calls_ended:
            return
        if self.pool is not None:
            self.pool.hang_up_all()
        self._calls.join(timeout=hang_up_wait_s)
