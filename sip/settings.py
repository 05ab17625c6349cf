"""Typed, validated settings for one SIP engine process (plain data, no pjsua2).

These cross the process boundary as JSON (`to_dict`/`from_dict`), so a worker
started with `python -m sip.worker` gets exactly what the parent validated.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sip.errors import SipConfigError

SUPPORTED_CODECS = ("PCMU", "PCMA", "G722", "GSM", "iLBC", "speex", "L16")
NARROWBAND_CODECS = ("PCMU", "PCMA", "GSM", "iLBC")
TRANSPORTS = ("udp", "tcp", "tls")
SRTP_MODES = ("off", "optional", "mandatory")


@dataclasses.dataclass(frozen=True, kw_only=True)
class MediaSettings:
    """pjmedia settings chosen for load (measurements: README, "Media settings").

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
