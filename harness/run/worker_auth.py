"""Workers and master prove each message comes from a holder of the run's shared secret (issue 14, section 3).

Locust's master accepts any client that speaks its protocol: with `--master-host 0.0.0.0`
anyone who can reach the port could connect as a worker and send call records the master
would sign. So every message between master and workers, Locust's own included, travels as

    b"CPH1" | HMAC-SHA256 (32 bytes) | sequence (8) | sent, ms since the epoch (8) | Locust's msgpack

where the HMAC (key: the shared secret) covers the direction, the worker's identity (the
ZeroMQ identity the master sees, which Locust's messages also name), the sequence, the time
and the payload. A receiver refuses a message whose HMAC does not match, whose sequence is not
above the last one it took from that peer (a replay), or that was sent more than
MAX_CLOCK_SKEW_S away from its own clock (a replay from another run), before Locust reads
anything of it. The master counts each refusal in events.jsonl (Refusals); a client that never
authenticates never becomes a worker, so it neither receives users nor counts as one.

The secret comes from CALLPROOF_MASTER_SECRET or from a file (`--master-secret-file`), the
same on the master and every worker: at least MIN_SECRET_CHARS characters, a file readable by
its owner only. It is not encryption: records travel in clear, as before (docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import stat
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from callproof.harness.errors import BadInput

SECRET_ENV = "CALLPROOF_MASTER_SECRET"
MIN_SECRET_CHARS = 32
MAX_SECRET_BYTES = 4096
MAX_CLOCK_SKEW_S = 300.0
MAX_MESSAGE_BYTES = 256 << 20  # ZeroMQ drops a larger frame before anyone reads it (a recording is far smaller)
MAGIC = b"CPH1"
_HEADER = struct.Struct(">4s32sQQ")
TO_MASTER, TO_WORKER = b"W", b"M"
EVENTS_WRITTEN = 20  # refusals written one by one to events.jsonl; the rest are counted


def read_secret(path: Path | None) -> bytes:
    """The shared secret from `path` (a file only its owner can read) or from CALLPROOF_MASTER_SECRET."""
    if path is None:
        value = os.environ.get(SECRET_ENV, "")
        if not value:
            raise BadInput(f"distributed mode needs a shared secret on the master and every worker: set {SECRET_ENV} "
                           f"(at least {MIN_SECRET_CHARS} characters) or give --master-secret-file PATH")
        secret, where = value.encode(), SECRET_ENV
    else:
        secret, where = _read_secret_file(path), str(path)
    if len(secret) < MIN_SECRET_CHARS:
        raise BadInput(f"the shared secret in {where} has {len(secret)} characters; it needs at least "
                       f"{MIN_SECRET_CHARS} (docs/architecture.md, \"The master and its workers\")")
    return secret


def _read_secret_file(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise BadInput(f"cannot read the shared secret file {path} ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as stream:
        facts = os.fstat(stream.fileno())
        if not stat.S_ISREG(facts.st_mode):
            raise BadInput(f"the shared secret file {path} is not a regular file")
        if facts.st_mode & 0o077:
            raise BadInput(f"the shared secret file {path} can be read by others (mode {facts.st_mode & 0o777:o}); "
                           f"chmod 600 {path}")
        data = stream.read(MAX_SECRET_BYTES + 1)
    if len(data) > MAX_SECRET_BYTES:
        raise BadInput(f"the shared secret file {path} is larger than {MAX_SECRET_BYTES:,} bytes")
    return data.strip()


class Refusals:
    """Messages refused from peers: the first EVENTS_WRITTEN into events.jsonl one by one, all of them counted."""

    def __init__(self, events: Any = None) -> None:
        self.events = events
        self.by_reason: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return sum(self.by_reason.values())

    def refuse(self, peer: str, reason: str, kind: str | None = None) -> None:
        with self._lock:
            self.by_reason[reason] = self.by_reason.get(reason, 0) + 1
            write = self.events is not None and self.count <= EVENTS_WRITTEN
        if write:
            self.events.event("worker_message_refused", peer=_shown(peer), message=kind, reason=reason)

    def close(self) -> None:
        """The total into events.jsonl, and one line on the terminal, when anything was refused."""
        if not self.by_reason:
            return
        if self.events is not None:
            self.events.event("worker_messages_refused", count=self.count, by_reason=dict(self.by_reason))
        print(f"callproof: refused {self.count} message(s) from peers that are not this run's workers or sent "
              "what no worker sends (events.jsonl: worker_message_refused)", file=sys.stderr)


def _shown(peer: str) -> str:
    """A peer's name as it goes into events.jsonl: printable, at most 80 characters."""
    clean = "".join(c if c.isprintable() else "?" for c in peer)
    return clean[:80]


class _Sequence:
    """Strictly increasing across this process's sockets (a worker that reconnects keeps counting)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns() // 1000)
            return self._last


class Sealer:
    """Seals and opens frames with the shared secret; remembers each peer's last sequence."""

    def __init__(self, secret: bytes, refusals: Refusals) -> None:
        self._secret = secret
        self.refusals = refusals
        self._sequence = _Sequence()
        self._last_seen: dict[str, int] = {}

    def _mac(self, direction: bytes, peer: str, seq: int, sent_ms: int, payload: bytes) -> bytes:
        peer_bytes = peer.encode("utf-8", "surrogateescape")
        head = MAGIC + direction + struct.pack(">H", len(peer_bytes)) + peer_bytes + struct.pack(">QQ", seq, sent_ms)
        return hmac.new(self._secret, head + payload, hashlib.sha256).digest()

    def seal(self, direction: bytes, peer: str, payload: bytes) -> bytes:
        seq, sent_ms = self._sequence.next(), time.time_ns() // 1_000_000
        return _HEADER.pack(MAGIC, self._mac(direction, peer, seq, sent_ms, payload), seq, sent_ms) + payload

    def open(self, direction: bytes, peer: str, frame: bytes) -> bytes | None:
        """The payload of an authentic, fresh frame from `peer`; None (and the refusal counted) otherwise."""
        if len(frame) < _HEADER.size or frame[:4] != MAGIC:
            self.refusals.refuse(peer, "not authenticated (no callproof seal: not a worker of this run)")
            return None
        _, mac, seq, sent_ms = _HEADER.unpack_from(frame)
        payload = frame[_HEADER.size:]
        if not hmac.compare_digest(mac, self._mac(direction, peer, seq, sent_ms, payload)):
            self.refusals.refuse(peer, "not authenticated (the seal does not match the shared secret)")
            return None
        if abs(time.time() - sent_ms / 1000) > MAX_CLOCK_SKEW_S:
            self.refusals.refuse(peer, f"sent more than {MAX_CLOCK_SKEW_S:g} s from this machine's clock (a replay, "
                                       "or clocks that disagree)")
            return None
        if seq <= self._last_seen.get(peer, 0):
            self.refusals.refuse(peer, "a replay (its sequence number was seen already)")
            return None
        self._last_seen[peer] = seq
        return payload


@contextlib.contextmanager
def authenticated_locust(secret: bytes, refusals: Refusals) -> Iterator[Sealer]:
    """While inside: every Locust master or worker socket this process makes seals what it sends and refuses what
    is not sealed with `secret` (Locust's runners make their sockets through locust.rpc.zmqrpc)."""
    import msgpack.exceptions
    import zmq.green as zmq
    from locust.exception import RPCError, RPCSendError
    from locust.rpc import zmqrpc
    from locust.rpc.protocol import Message
    from locust.util.exception_handler import retry
    from zmq.error import ZMQError

    sealer = Sealer(secret, refusals)
    plain_server, plain_client = zmqrpc.Server, zmqrpc.Client

    def unpack(peer: str, payload: bytes) -> Message | None:
        try:
            return Message.unserialize(payload)
        except (ValueError, TypeError, msgpack.exceptions.UnpackException):
            refusals.refuse(peer, "malformed (not a Locust message)")
            return None

    class Server(zmqrpc.Server):
        def __init__(self, host: str, port: int) -> None:
            super().__init__(host, port)
            self.socket.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)

        @retry()
        def send_to_client(self, msg: Message) -> None:
            try:
                self.socket.send_multipart([msg.node_id.encode(), sealer.seal(TO_WORKER, msg.node_id,
                                                                                msg.serialize())])
            except ZMQError as e:
                raise RPCSendError("ZMQ sent failure") from e

        def recv_from_client(self) -> tuple[str, Message]:
            while True:
                try:
                    frames = self.socket.recv_multipart()
                except ZMQError as e:
                    raise RPCError("ZMQ network broken") from e
                peer = frames[0].decode("utf-8", "surrogateescape") if frames else ""
                if len(frames) != 2:
                    refusals.refuse(peer, "malformed (not one frame)")
                    continue
                payload = sealer.open(TO_MASTER, peer, frames[1])
                msg = unpack(peer, payload) if payload is not None else None
                if msg is None:
                    continue
                if msg.node_id != peer:  # Locust trusts the name inside; we check it is the sealed one
                    refusals.refuse(peer, "names another worker than the one it is", kind=str(msg.type)[:40])
                    continue
                return peer, msg

    class Client(zmqrpc.Client):
        def __init__(self, host: str, port: int, identity: str) -> None:
            super().__init__(host, port, identity)
            self.identity = identity
            self.socket.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)

        @retry()
        def send(self, msg: Message) -> None:
            try:
                self.socket.send(sealer.seal(TO_MASTER, self.identity, msg.serialize()), zmq.NOBLOCK)
            except ZMQError as e:
                raise RPCSendError("ZMQ sent failure") from e

        def recv(self) -> Message:
            while True:
                try:
                    frame = self.socket.recv()
                except ZMQError as e:
                    raise RPCError("ZMQ network broken") from e
                payload = sealer.open(TO_WORKER, self.identity, frame)
                msg = unpack("master", payload) if payload is not None else None
                if msg is not None:
                    return msg

    # The runners make their sockets from these two names: replaced in the module, put back after.
    vars(zmqrpc).update(Server=Server, Client=Client)
    try:
        yield sealer
    finally:
        vars(zmqrpc).update(Server=plain_server, Client=plain_client)
