"""Typed, validated settings for one SIP engine process (plain data, no pjsua2).

These cross the process boundary as JSON (`to_dict`/`from_dict`), so a worker
started with `python -m callproof.sip.worker` gets exactly what the parent validated.
"""

from __future__ import annotations

import dataclasses
import wave
from pathlib import Path
from typing import Any

from callproof.sip.errors import SipConfigError
from callproof.sip.uri import SipUri

SUPPORTED_CODECS = ("PCMU", "PCMA", "G722", "opus", "GSM", "iLBC", "speex", "L16")  # opus: the built engine only
NARROWBAND_CODECS = ("PCMU", "PCMA", "GSM", "iLBC")
TRANSPORTS = ("udp", "tcp", "tls")
SRTP_MODES = ("off", "optional", "mandatory")


@dataclasses.dataclass(frozen=True, kw_only=True)
class MediaSettings:
    """pjmedia settings chosen for load (why: docs/engine.md; measurements: bench/README.md).

    The conference bridge runs at `clock_rate`; at pjsua's default 16 kHz every
    G.711 call is resampled both ways, which costs most of the CPU. VAD stays off
    so RTP is continuous: measurement needs every packet.
    """

    clock_rate: int = 8000  # conference bridge; 16000 when a wideband codec leads
    snd_clock_rate: int = 8000
    ptime_ms: int = 20
    echo_canceller: bool = False
    vad: bool = False
    jb_init_ms: int = -1  # -1: pjmedia's default (adaptive)
    jb_min_pre_ms: int = -1
    jb_max_pre_ms: int = -1
    jb_max_ms: int = -1
    media_threads: int = 1

    def __post_init__(self) -> None:
        if self.clock_rate not in (8000, 16000, 32000, 48000):
            raise SipConfigError(f"media clock_rate {self.clock_rate} is not 8000, 16000, 32000 or 48000")
        if self.snd_clock_rate not in (8000, 16000, 32000, 48000):
            raise SipConfigError(f"media snd_clock_rate {self.snd_clock_rate} is not 8000, 16000, 32000 or 48000")
        if self.ptime_ms not in (10, 20, 30, 40, 60):
            raise SipConfigError(f"media ptime_ms {self.ptime_ms} is not 10, 20, 30, 40 or 60")

    @classmethod
    def for_codecs(cls, codecs: tuple[str, ...], **overrides: Any) -> "MediaSettings":
        """Defaults for a codec list: 8 kHz bridge unless a wideband codec leads."""
        wideband = bool(codecs) and codecs[0] not in NARROWBAND_CODECS
        rate = 16000 if wideband else 8000
        values: dict[str, Any] = {"clock_rate": rate, "snd_clock_rate": rate}
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MediaSettings":
        return cls(**data)


def check_wav(path: str, what: str = "prompt") -> str:
    """The path if it is a readable 16-bit PCM WAV (what pjmedia's player takes), else SipConfigError."""
    if not Path(path).is_file():
        raise SipConfigError(f"{what} WAV file {path} does not exist")
    try:
        with wave.open(str(path)) as wav:
            if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
                raise SipConfigError(f"{what} WAV file {path} is not 16-bit mono PCM")
    except (wave.Error, EOFError) as exc:
        raise SipConfigError(f"{what} WAV file {path} is not a PCM WAV ({exc})") from None
    return path


DTMF_METHODS = ("rfc4733", "info")
DTMF_DIGITS = set("0123456789*#ABCD")


def _check_digits(digits: str, what: str) -> None:
    bad = sorted(set(digits.upper()) - DTMF_DIGITS)
    if not digits or bad:
        raise SipConfigError(f"{what} {digits!r} is not a DTMF string (0-9 * # A-D)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DtmfStep:
    """Wait `wait_s` after the previous step (or the answer), then send `digits`.

    `timeout_s` bounds the delivery: an INFO that gets no final response within it
    (a 2xx delivers the digit) fails the step (callproof.sip.call, "DTMF").
    """

    wait_s: float
    digits: str
    method: str = "rfc4733"
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.wait_s < 0:
            raise SipConfigError(f"DTMF wait_s must not be negative (got {self.wait_s})")
        if not self.timeout_s > 0:
            raise SipConfigError(f"DTMF timeout_s must be greater than 0 (got {self.timeout_s})")
        if self.method not in DTMF_METHODS:
            raise SipConfigError(f"DTMF method {self.method!r} is not one of {', '.join(DTMF_METHODS)}")
        _check_digits(self.digits, "DTMF digits")


@dataclasses.dataclass(frozen=True, kw_only=True)
class CallSpec:
    """What one outbound call does, decided by the caller before it starts."""

    uri: str
    ring_timeout_s: float = 30.0
    talk_s: float = 3.0  # after the answer (or after the agent marker, when expected)
    prompt: str | None = None  # WAV played (looped) into the call
    record_to: str | None = None  # WAV of the received audio
    dtmf: tuple[DtmfStep, ...] = ()
    agent_marker: str | None = None  # DTMF token our agent sends on pickup
    patience_s: float | None = None  # max wait for the agent marker after answer
    media_timeout_s: float = 5.0
    scheduled_mono: float | None = None  # open-loop arrivals: when the call was due

    def __post_init__(self) -> None:
        SipUri.parse(self.uri, "target URI")
        if self.prompt is not None:
            check_wav(self.prompt)
        if self.ring_timeout_s <= 0:
            raise SipConfigError(f"ring_timeout_s must be greater than 0 (got {self.ring_timeout_s})")
        if self.talk_s < 0:
            raise SipConfigError(f"talk_s must not be negative (got {self.talk_s})")
        if self.agent_marker is not None:
            _check_digits(self.agent_marker, "agent_marker")
        object.__setattr__(self, "dtmf", tuple(self.dtmf))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CallSpec":
        values = dict(data)
        values["dtmf"] = tuple(DtmfStep(**step) for step in data.get("dtmf", ()))
        return cls(**values)


@dataclasses.dataclass(frozen=True, kw_only=True)
class AgentSpec:
    """How an auto-answering agent handles each incoming call."""

    ring_delay_s: float = 0.0  # 180 Ringing for this long, then 200 OK
    handle_s: tuple[float, ...] = ()  # hang up after these times, in turn; empty: wait for BYE
    mode: str = "echo"  # echo | prompt
    prompt: str | None = None
    pickup_marker: str | None = None  # DTMF token sent right after answering (after queue_wait_s)
    # A queue in front of the agent: answer at once, send the marker after these waits, in turn.
    queue_wait_s: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in ("echo", "prompt"):
            raise SipConfigError(f"agent mode {self.mode!r} is not echo or prompt")
        if self.mode == "prompt" and not self.prompt:
            raise SipConfigError("agent mode prompt needs a prompt WAV")
        if self.prompt is not None:
            check_wav(self.prompt, "agent prompt")
        object.__setattr__(self, "handle_s", tuple(float(h) for h in self.handle_s))
        if any(h < 0 for h in self.handle_s):
            raise SipConfigError("agent handle times must not be negative")
        object.__setattr__(self, "queue_wait_s", tuple(float(w) for w in self.queue_wait_s))
        if any(w < 0 for w in self.queue_wait_s):
            raise SipConfigError("agent queue waits must not be negative")
        if self.ring_delay_s < 0:
            raise SipConfigError(f"agent ring_delay_s must not be negative (got {self.ring_delay_s})")
        if self.pickup_marker is not None:
            _check_digits(self.pickup_marker, "pickup_marker")


@dataclasses.dataclass(frozen=True, kw_only=True)
class AccountSpec:
    """A SIP identity; with a registrar it REGISTERs (digest auth) and refreshes."""

    user: str = "callproof"
    domain: str | None = None  # defaults to the bound address
    registrar: str | None = None  # e.g. sip:127.0.0.1:5060; None: no registration
    username: str | None = None  # digest user; defaults to `user`
    password: str | None = None
    realm: str = "*"
    expires_s: int = 300
    proxy: str | None = None  # outbound proxy URI

    def __post_init__(self) -> None:
        if self.registrar is not None:
            SipUri.parse(self.registrar, "registrar URI")
        if self.proxy is not None:
            SipUri.parse(self.proxy, "outbound proxy URI")

    def __repr__(self) -> str:  # never print a password
        return f"AccountSpec(user={self.user!r}, registrar={self.registrar!r})"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, kw_only=True)
class EngineSettings:
    """Everything one SIP engine process (one pjsua2 Endpoint) is started with."""

    name: str = "sip"
    bind_ip: str = "127.0.0.1"
    sip_port: int = 0  # 0: any free port (reported back when ready)
    transports: tuple[str, ...] = ("udp",)
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    tls_verify_server: bool = False
    rtp_port: int = 20000  # first RTP port; each process gets its own range
    rtp_port_range: int = 400
    rtp_public_address: str | None = None  # address our SDP announces, when not bind_ip (NAT, relays)
    codecs: tuple[str, ...] = ("PCMU", "PCMA")
    srtp: str = "off"
    media: MediaSettings = dataclasses.field(default_factory=MediaSettings)
    max_calls: int = 1024  # asked for; the engine's compiled cap may be lower
    account: AccountSpec = dataclasses.field(default_factory=AccountSpec)
    agent: AgentSpec | None = None  # set: answer incoming calls as an agent
    poll_timeout_ms: float = 20.0  # longest a flow's own timer (talk time, DTMF waits) may wait behind a poll
    log_path: str | None = None
    log_level: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "transports", tuple(self.transports))
        object.__setattr__(self, "codecs", tuple(self.codecs))
        for transport in self.transports:
            if transport not in TRANSPORTS:
                raise SipConfigError(f"transport {transport!r} is not one of {', '.join(TRANSPORTS)}")
        if not self.transports:
            raise SipConfigError("at least one transport is needed")
        if "tls" in self.transports and not (self.tls_cert and self.tls_key):
            raise SipConfigError("the tls transport needs tls_cert and tls_key")
        if not self.codecs:
            raise SipConfigError("at least one codec is needed")
        for codec in self.codecs:
            if codec not in SUPPORTED_CODECS:
                raise SipConfigError(
                    f"codec {codec!r} is not supported (choose from {', '.join(SUPPORTED_CODECS)})"
                )
        if self.srtp not in SRTP_MODES:
            raise SipConfigError(f"srtp {self.srtp!r} is not one of {', '.join(SRTP_MODES)}")
        if self.max_calls < 1:
            raise SipConfigError(f"max_calls must be at least 1 (got {self.max_calls})")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EngineSettings":
        values = dict(data)
        values["media"] = MediaSettings.from_dict(data.get("media") or {})
        values["account"] = AccountSpec(**(data.get("account") or {}))
        values["agent"] = AgentSpec(**data["agent"]) if data.get("agent") else None
        return cls(**values)
