"""The parent's side of SIP engine processes: start them, shard calls by capacity.

Every engine process is started fresh (`python -m callproof.sip.worker`, never a fork of
a process that owns an Endpoint) and reports its real per-process call
capacity when ready; the pool hands each call to the process with the most
free slots. Runs under gevent: greenlets wait, the hub keeps running.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import gevent
import gevent.event
import gevent.lock
import psutil
from gevent import subprocess

from callproof.sip.errors import EngineError, SipConfigError
from callproof.sip.records import CallRecord
from callproof.sip.settings import CallSpec, EngineSettings

# An engine is ready in about a second of CPU. One that has had _READY_CPU_S of CPU and is not
# ready after _READY_TIMEOUT_S is broken; one the machine has starved of CPU (busy programs at a
# higher priority gave a starting engine 10% of a core) is waited for, up to _READY_STARVED_S.
_READY_TIMEOUT_S = 30.0
_READY_CPU_S = 5.0
_READY_STARVED_S = 300.0
# Engine processes starting at once, over every pool of this process: starting is CPU-bound
# (interpreter, pjsua2, libCreate), and the ready timeout is per process. Started all at once,
# 60 wheel engines beside busy programs shared the CPU so thinly that one missed its 30 s.
_STARTING = gevent.lock.Semaphore(2 * (os.cpu_count() or 1))
_STOP_TIMEOUT_S = 15.0


class PendingCall:
    """A call handed to an engine process: its setup and its final record, when they come."""

    def __init__(self, request_id: str, spec: CallSpec, worker: "EngineProcess") -> None:
        self.request_id = request_id
        self.spec = spec
        self.worker = worker
        self.setup = gevent.event.AsyncResult()  # partial CallRecord once the INVITE is decided
        self.done = gevent.event.AsyncResult()  # final CallRecord

    def wait_setup(self, timeout: float | None = None) -> CallRecord:
        return self.setup.get(timeout=timeout)

    def wait_record(self, timeout: float | None = None) -> CallRecord:
        return self.done.get(timeout=timeout)

    def finish(self, record: CallRecord) -> None:
        """The call's final record (and its setup, if that was never reported on its own)."""
        if not self.setup.ready():
            self.setup.set(record)
        self.done.set(record)

    def fail(self, error: Exception) -> None:
        """No record will come (the engine process is gone): whatever is still awaited raises `error`."""
        for result in (self.setup, self.done):
            if not result.ready():
                result.set_exception(error)


class EngineProcess:
    """One `callproof.sip.worker` child process and its JSON-lines pipe."""

    def __init__(self, settings: EngineSettings, *, log_path: Path | None = None,
                 on_inbound: Callable[[CallRecord], None] | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self.log_path = log_path
        self.on_inbound = on_inbound
        self.capacity = 0
        self.sip_ports: dict[str, int] = {}
        self.version = ""
        self.engine: dict[str, Any] = {}
        self.registration: tuple[int, str, int] | None = None
        self.in_flight = 0
        self.pump_lag_ms_max = 0.0
        self.cpu_wait_pct_max = 0.0  # the most any of its threads waited for a CPU, since last read
        # Cumulative drops on the process's own UDP sockets, as it last reported them.
        self.socket_drops: dict[str, int] = {"sip": 0, "media": 0}
        self.inbound: list[CallRecord] = []
        self.registrations: list[tuple[int, str, int]] = []
        self.on_slot_free: Callable[[], None] = lambda: None
        self._pending: dict[str, PendingCall] = {}
        self._ready = gevent.event.AsyncResult()
        self._registration = gevent.event.Event()
        self._proc: subprocess.Popen | None = None
        self._reader: gevent.Greenlet | None = None
        self._ids = itertools.count(1)
        self._write_lock = gevent.lock.RLock()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Start the process and wait until its Endpoint is ready; EngineError/SipConfigError otherwise."""
        with _STARTING:
            self._start()

    def _start(self) -> None:
        stderr = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "callproof.sip.worker"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, close_fds=True,
            )
        except OSError as exc:
            raise EngineError(f"cannot start a SIP engine process: {exc}") from None
        finally:
            if self.log_path:
                stderr.close()
        self._reader = gevent.spawn(self._read_events)
        self._send({"op": "start", "settings": self.settings.to_dict()})
        try:
            ready = self._wait_ready()
        except (EngineError, SipConfigError):
            self.stop()
            raise
        self.capacity = ready["capacity"]
        self.sip_ports = ready["sip_ports"]
        self.version = ready["version"]
        self.engine = ready["engine"]  # which pjsua2 it loaded, its I/O queue (callproof.sip.engine.info)
        self.registration = tuple(ready["registration"]) if ready.get("registration") else None

    def stop(self, timeout_s: float = _STOP_TIMEOUT_S) -> None:
        """Ask for an orderly shutdown; terminate, then kill, if it does not come."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                self._send({"op": "stop"})
                proc.stdin.close()
            except (OSError, ValueError, EngineError):
                pass  # already told (a second stop), or already gone
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=2)

    def _wait_ready(self) -> dict[str, Any]:
        started = time.monotonic()
        while True:
            try:
                return self._ready.get(timeout=1.0)
            except gevent.Timeout:
                waited, cpu = time.monotonic() - started, self._cpu_s()
                if waited >= _READY_STARVED_S or (waited >= _READY_TIMEOUT_S and cpu >= _READY_CPU_S):
                    raise EngineError(f"SIP engine process {self.name} did not start within {waited:.0f} s "
                                      f"({cpu:.1f} s of CPU)") from None

    def _cpu_s(self) -> float:
        """CPU time the process has had (user and system); 0 once it is gone."""
        if self._proc is None:
            return 0.0
        try:
            times = psutil.Process(self._proc.pid).cpu_times()
        except psutil.Error:
            return 0.0
        return times.user + times.system

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    # -- calls --------------------------------------------------------------------

    def place(self, spec: CallSpec) -> PendingCall:
        request_id = f"{self.name}-{next(self._ids)}"
        pending = PendingCall(request_id, spec, self)
        self._pending[request_id] = pending
        self.in_flight += 1
        self._send({"op": "call", "id": request_id, "spec": spec.to_dict()})
        return pending

    def hang_up_all(self) -> None:
        """Stop every call of this process now (the run ends); their records still come."""
        if self.alive:
            try:
                self._send({"op": "hangup"})
            except EngineError:
                pass  # exited meanwhile: its calls are settled by _read_events

    def register(self, on: bool = True, timeout_s: float = 15.0) -> tuple[int, str, int]:
        """(Re-)REGISTER or unregister; the registrar's answer."""
        before = len(self.registrations)
        self._registration.clear()
        self._send({"op": "register" if on else "unregister"})
        deadline = time.monotonic() + timeout_s
        while len(self.registrations) <= before:
            if not self._registration.wait(max(0.0, deadline - time.monotonic())):
                raise EngineError(f"SIP engine process {self.name} reported no registration outcome")
            self._registration.clear()
        return self.registrations[before]

    # -- pipe -----------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        if self._proc is None or self._proc.stdin is None or self._proc.stdin.closed:
            raise EngineError(f"SIP engine process {self.name} is not running")
        with self._write_lock:
            try:
                self._proc.stdin.write(json.dumps(message).encode() + b"\n")
                self._proc.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                raise EngineError(f"SIP engine process {self.name} is gone: {exc}") from None

    def _read_events(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None, "start() spawns the reader on its Popen"
        for line in proc.stdout:
            event = json.loads(line)
            kind = event.pop("ev")
            if kind in ("setup", "record"):
                record = CallRecord.from_dict(event["record"])
                pending = self._pending.get(event["id"])
                if pending is None:
                    continue
                if kind == "setup":
                    pending.setup.set(record)
                else:
                    del self._pending[event["id"]]
                    pending.finish(record)
                    self.in_flight -= 1
                    self.on_slot_free()
            elif kind == "inbound":
                record = CallRecord.from_dict(event["record"])
                self.inbound.append(record)
                if self.on_inbound is not None:
                    self.on_inbound(record)
            elif kind == "health":
                self.pump_lag_ms_max = max(self.pump_lag_ms_max, event["pump_lag_ms_max"])
                self.socket_drops = event.get("socket_drops") or self.socket_drops
                self.cpu_wait_pct_max = max(self.cpu_wait_pct_max, event.get("cpu_wait_pct_max") or 0.0)
            elif kind == "registration":
                self.registrations.append((event["code"], event["reason"], event["expires"]))
                self._registration.set()
            elif kind == "ready":
                self._ready.set(event)
            elif kind == "error":
                error = SipConfigError if event.get("kind") == "SipConfigError" else EngineError
                self._ready.set_exception(error(event["message"]))
        # The pipe closed: the process is gone. Whatever it still owed is lost.
        code = proc.wait()
        if not self._ready.ready():
            self._ready.set_exception(EngineError(f"SIP engine process {self.name} exited with code {code}"))
        lost = EngineError(f"SIP engine process {self.name} exited (code {code}) during a call")
        for pending in self._pending.values():
            pending.fail(lost)
        self._pending.clear()
        self.in_flight = 0
        self.on_slot_free()


class EnginePool:
    """Engine processes with per-process capacity; calls go where a slot is free."""

    def __init__(self, processes: list[EngineProcess]) -> None:
        self.processes = processes
        self._slot_free = gevent.event.Event()
        self.closed = False  # hang_up_all: the run has ended
        self.waited_for_slot = 0  # calls that found every slot busy (generator starvation)
        for process in processes:
            process.on_slot_free = self._slot_free.set

    @classmethod
    def of(cls, settings: list[EngineSettings], *, log_dir: Path | None = None,
           on_inbound: Callable[[CallRecord], None] | None = None) -> "EnginePool":
        return cls([
            EngineProcess(s, log_path=(log_dir / f"{s.name}.log") if log_dir else None, on_inbound=on_inbound)
            for s in settings
        ])

    def start(self) -> None:
        """Start every process in parallel; if one fails, stop all and raise its error."""
        def start(process: EngineProcess) -> Exception | None:
            try:
                process.start()
            except (EngineError, SipConfigError) as exc:  # returned, not raised: gevent would print it
                return exc
            return None

        jobs = [gevent.spawn(start, p) for p in self.processes]
        gevent.joinall(jobs)
        failed = [job.exception or job.value for job in jobs if job.exception or job.value]
        if failed:
            self.stop()
            raise failed[0]

    @property
    def capacity(self) -> int:
        return sum(p.capacity for p in self.processes if p.alive)

    @property
    def in_flight(self) -> int:
        return sum(p.in_flight for p in self.processes)

    def socket_drops(self) -> dict[str, int]:
        """Drops on the own sockets of every process of the pool, cumulative (SIP and media apart)."""
        return {kind: sum(p.socket_drops[kind] for p in self.processes) for kind in ("sip", "media")}

    def place(self, spec: CallSpec, timeout_s: float | None = None) -> PendingCall:
        """Hand the call to the process with the most free slots, waiting for one if all are busy."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        waited = False
        while True:
            if self.closed:
                raise EngineError("the run has ended: the SIP engines take no new call")
            free = [(p.capacity - p.in_flight, i) for i, p in enumerate(self.processes) if p.alive]
            best = max(free, default=(0, -1))
            if best[0] > 0:
                return self.processes[best[1]].place(spec)
            if not free:
                raise EngineError("every SIP engine process has exited")
            if not waited:
                waited = True
                self.waited_for_slot += 1
            self._slot_free.clear()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise EngineError("no SIP engine slot became free in time")
            self._slot_free.wait(remaining)

    def hang_up_all(self) -> None:
        """Stop every call in progress in every process; the records follow (PendingCall.done).

        The pool takes no call after this: a caller still waiting for a slot gets EngineError.
        """
        self.closed = True
        self._slot_free.set()
        for process in self.processes:
            process.hang_up_all()

    def stop(self) -> None:
        stop_pools([self])


def stop_pools(pools: Iterable[EnginePool]) -> None:
    """Stop every process of `pools` at once: each orderly stop takes about a second (pjsua_destroy
    waits that long for answers still due), so pools stopped one after another add one each."""
    gevent.joinall([gevent.spawn(p.stop) for pool in pools for p in pool.processes])
