"""A SIP engine process: `python -m callproof.sip.worker`, started fresh by `callproof.sip.pool`.

It owns the process's only pjsua2 Endpoint. The parent talks to it in JSON
lines: commands on stdin, events on the process's original stdout (pjlib
prints to stdout, so fd 1 is pointed at stderr and the protocol keeps a
private duplicate).

    parent -> worker                      worker -> parent
    {"op": "start", "settings": {...}}    {"ev": "ready", "capacity", "sip_ports", "version",
                                           "registration": [code, reason, expires] | null}
    {"op": "call", "id", "spec": {...}}   {"ev": "setup", "id", "record"}   (INVITE decided)
                                          {"ev": "record", "id", "record"}  (call ended)
    {"op": "hangup"}  (the run ends: stop every call; each flow still sends its record)
    {"op": "register"} / {"op": "unregister"}
                                          {"ev": "registration", "code", "reason", "expires"}
                                          {"ev": "inbound", "record"}       (a call our agent took)
                                          {"ev": "health", "pump_lag_ms_max", "active_calls",
                                           "socket_drops": {"sip", "media"}, "udp_sockets",
                                           "cpu_wait_pct_max"}
                                          (every second, and once more at shutdown, after the
                                           last call's sockets closed: socket_drops are cumulative)
    {"op": "stop"}  (or stdin EOF, SIGTERM, parent death)
                                          {"ev": "error", "message"}        (then exits 3 or 2)

The process dies with its parent (PR_SET_PDEATHSIG) and always shuts pjsua2
down in order: hang up, delete every call/player/recorder/account, libDestroy.
Every call it was given gets its "record" before the process exits: shutdown
stops the calls, waits up to SHUTDOWN_FLOWS_S for their flows, and a flow killed
after that still sends what it recorded (callproof.sip.call.place_call). SIGINT
is ignored: Ctrl-C in a terminal reaches the whole process group, and the parent
decides how its calls end (stop_calls, then stop).
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import resource
import signal
import sys
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event
import gevent.lock
import gevent.os
import gevent.pool

from callproof.sip.errors import SipConfigError, SipError
from callproof.sip.run_queue import RunQueueWait
from callproof.sip.settings import CallSpec, EngineSettings

if TYPE_CHECKING:  # loaded in Worker.start, after the protocol is known to work (pjsua2 is slow to load)
    from callproof.sip.account import SipAccount
    from callproof.sip.agent import Agent
    from callproof.sip.endpoint import Endpoint

_PR_SET_PDEATHSIG = 1
_HEALTH_INTERVAL_S = 1.0
# How long shutdown lets stopped calls finish (a BYE's response is awaited 4 s at most).
SHUTDOWN_FLOWS_S = 6.0


class Protocol:
    """Writes events as JSON lines to the private copy of stdout."""

    def __init__(self) -> None:
        self._fd = os.dup(1)
        os.dup2(2, 1)
        self.parent_gone = gevent.event.Event()
        self._lock = gevent.lock.Semaphore()

    def send(self, event: str, **fields: Any) -> None:
        """Write one whole line: never interleaved with another greenlet's, never cut by a kill."""
        if self.parent_gone.is_set():
            return
        data = (json.dumps({"ev": event, **fields}, separators=(",", ":")) + "\n").encode()
        exit_after: BaseException | None = None
        with self._lock:
            while data:
                try:
                    written = gevent.os.nb_write(self._fd, data)
                except gevent.GreenletExit as exc:  # killed while the pipe was full: finish the line first
                    exit_after = exc
                    continue
                except BrokenPipeError:
                    self.parent_gone.set()  # nobody left to tell: the worker shuts down
                    break
                data = data[written:]
        if exit_after is not None:
            raise exit_after


class LineReader:
    """Cooperative reader of JSON lines from a file descriptor (stdin)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""
        gevent.os.make_nonblocking(fd)

    def read(self) -> dict[str, Any] | None:
        """The next command, or None at end of input."""
        while b"\n" not in self._buffer:
            chunk = gevent.os.nb_read(self._fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line) if line.strip() else self.read()


class Worker:
    def __init__(self, settings: EngineSettings, protocol: Protocol, commands: LineReader) -> None:
        self.settings = settings
        self.protocol = protocol
        self.commands = commands
        self.calls = gevent.pool.Group()
        self.stopping = gevent.event.Event()
        self.ready_sent = False
        self.run_queue = RunQueueWait()  # how long our threads waited for a CPU (callproof.sip.run_queue)
        self.endpoint: Endpoint | None = None
        self.account: SipAccount | None = None
        self.agent: Agent | None = None

    def start(self) -> None:
        # Imported here so that a protocol error does not pay for loading pjsua2.
        from callproof.sip.account import SipAccount
        from callproof.sip.agent import Agent
        from callproof.sip.endpoint import Endpoint

        settings, protocol = self.settings, self.protocol
        self.endpoint = endpoint = Endpoint(settings)
        endpoint.start()
        if settings.agent is not None:
            self.agent = Agent(endpoint, settings.agent,
                               on_record=lambda r: protocol.send("inbound", record=r.to_dict()),
                               spawn=self.calls.spawn)
        self.account = account = SipAccount(endpoint, settings.account,
                                            on_incoming=self.agent.on_incoming if self.agent else None,
                                            on_registration=self._registration_changed)
        endpoint.start_pump()
        account.start()

    def _started(self) -> tuple[Endpoint, SipAccount]:
        assert self.endpoint is not None and self.account is not None, "start() runs before anything else"
        return self.endpoint, self.account

    def run(self) -> None:
        endpoint, account = self._started()
        registration = None
        if self.settings.account.registrar:
            registration = account.wait_registration(10.0)
        from callproof.sip.engine.info import loaded_engine

        self.protocol.send("ready", capacity=endpoint.capacity, sip_ports=endpoint.sip_ports,
                           version=endpoint.version, registration=registration, engine=loaded_engine())
        self.ready_sent = True
        reader = gevent.spawn(self._read_commands)
        health = gevent.spawn(self._report_health)
        self.protocol.parent_gone.rawlink(lambda _: self.stopping.set())
        self.stopping.wait()
        reader.kill()
        health.kill()
        self.shutdown()

    # -- commands ----------------------------------------------------------

    def _read_commands(self) -> None:
        while not self.stopping.is_set():
            command = self.commands.read()
            if command is None:
                break  # parent closed the pipe or died
            self._dispatch(command)
        self.stopping.set()

    def _dispatch(self, command: dict[str, Any]) -> None:
        op = command.get("op")
        if op == "call":
            self.calls.spawn(self._place, command["id"], CallSpec.from_dict(command["spec"]))
        elif op == "register":
            self.calls.spawn(self._register, True)
        elif op == "unregister":
            self.calls.spawn(self._register, False)
        elif op == "hangup":
            self._started()[0].stop_calls()
        elif op == "stop":
            self.stopping.set()

    def _place(self, request_id: str, spec: CallSpec) -> None:
        from callproof.sip.call import place_call

        record = place_call(*self._started(), spec,
                            on_setup=lambda r: self.protocol.send("setup", id=request_id, record=r.to_dict()))
        self.protocol.send("record", id=request_id, record=record.to_dict())

    def _register(self, on: bool) -> None:
        """(Un)REGISTER now; the outcome reaches the parent like every other one."""
        account = self._started()[1]
        before = len(account.registrations)
        if on:
            account.setRegistration(True)
        else:
            account.unregister()
        if account.wait_registration(10.0, after=before) is None:
            self.protocol.send("registration", code=408, reason="no response to REGISTER", expires=0)

    def _registration_changed(self, code: int, reason: str, expires: int) -> None:
        """Every registration outcome after start-up (refreshes included) goes to the parent.

        Called inside a pjsua callback: the write happens in its own greenlet.
        """
        if self.ready_sent:
            gevent.spawn(self.protocol.send, "registration", code=code, reason=reason, expires=expires)

    def _report_health(self) -> None:
        while True:
            gevent.sleep(_HEALTH_INTERVAL_S)
            self._send_health()

    def _send_health(self) -> None:
        """The pump's worst lag since the last report, and the drops on our own sockets so far."""
        endpoint = self.endpoint
        assert endpoint is not None, "health is reported after start()"
        drops = endpoint.socket_drops.sample()
        self.protocol.send("health", pump_lag_ms_max=round(endpoint.pump_lag_ms_max, 3),
                           active_calls=len(self.calls), socket_drops=drops,
                           udp_sockets=endpoint.socket_drops.sockets, cpu_wait_pct_max=self.run_queue.sample())
        endpoint.pump_lag_ms_max = 0.0

    # -- shutdown ------------------------------------------------------------

    def shutdown(self) -> None:
        """Hang up, let the flows finish, delete every pjsua2 object, libDestroy.

        Safe after a partial start: each step skips what was never made.
        """
        endpoint = self.endpoint
        if endpoint is None or endpoint.ep is None:
            return
        endpoint.stop_calls()
        endpoint.ep.hangupAllCalls()  # anything no flow tracks
        # Flows see DISCONNECTED, send their records and release their objects; a flow
        # killed after that (a BYE nobody answers) still sends what it recorded.
        self.calls.join(timeout=SHUTDOWN_FLOWS_S)
        self.calls.kill(timeout=SHUTDOWN_FLOWS_S)
        if self.agent is not None:
            self.agent.calls.clear()
        if self.account is not None:
            self.account.unregister()
        endpoint.stop_pump()
        endpoint.handle_events_for(0.3 if self.settings.account.registrar else 0.05)
        endpoint.sweep()
        if self.ready_sent:
            self._send_health()  # every call's sockets have closed: the final counts
        if self.account is not None and self.account.isValid():
            self.account.shutdown()
        self.account = None
        self.agent = None
        gc.collect()  # pjsua2 objects held in reference cycles must go before libDestroy
        endpoint.destroy()


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: stdin EOF still stops the worker


def _raise_open_files_limit() -> None:
    """Each call holds several sockets; Debian's default soft limit (1024) caps a big engine."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides (module docstring)
    _die_with_parent()
    _raise_open_files_limit()
    protocol = Protocol()
    commands = LineReader(sys.stdin.fileno())
    worker = None
    try:
        first = commands.read() or {}
        if first.get("op") != "start":
            raise SipConfigError("the first command to a SIP worker must be start")
        worker = Worker(EngineSettings.from_dict(first["settings"]), protocol, commands)
        gevent.signal_handler(signal.SIGTERM, worker.stopping.set)
        worker.start()
        worker.run()
    except SipError as exc:
        protocol.send("error", message=str(exc), kind=type(exc).__name__)
        if worker is not None:
            worker.shutdown()
        return 2 if isinstance(exc, SipConfigError) else 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
