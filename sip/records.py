"""What one finished call leaves behind: a frozen `CallRecord`.

Records cross process boundaries as JSON (one line per call in calls.jsonl),
so every field is a plain value; `to_dict`/`from_dict` are exact inverses.

Times: `invite_utc` is the wall clock (UTC, ISO 8601) when the INVITE was
sent; every other instant is milliseconds after the INVITE, measured with the
monotonic clock of the process that runs the SIP stack.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
from typing import Any


class Failure(str, enum.Enum):
    """Why a call did not complete as planned: a closed list (SIPp's stat.cpp style).

    `target_failure` tells the target's outcomes from the caller's patience and from
    our own side: an abandoned call is the queue's figure, a stopped one was cut by
    the run's end, an engine error is callproof's bug.
    """

    NO_ANSWER = "no_answer"  # we cancelled after the ring timeout
    ABANDONED = "abandoned"  # the caller's patience ran out while queued
    REJECTED = "rejected"  # the target sent a final 3xx-6xx (see `final_code`)
    TIMEOUT = "timeout"  # no response at all before the ring timeout / Timer B
    TRANSPORT_ERROR = "transport_error"  # the request could not be sent or delivered
    MEDIA_TIMEOUT = "media_timeout"  # answered, but no RTP arrived
    # Answered, but a DTMF step could not be delivered (`dtmf_failure_method`,
    # `dtmf_failure_reason`): the rest of the flow assumes the digits arrived, so we hung up.
    DTMF_FAILED = "dtmf_failed"
    # The run ended (its duration, the circuit breaker or a signal) while the call was up,
    # and callproof hung it up: what it still waited for (answer, agent, talk time) is undecided.
    STOPPED = "stopped"
    ENGINE_ERROR = "engine_error"  # callproof's own SIP engine failed during the call (its log says why)

    @property
    def target_failure(self) -> bool:
        """Whether this outcome counts as a failed call of the target."""
        return self not in (Failure.ABANDONED, Failure.STOPPED, Failure.ENGINE_ERROR)


@dataclasses.dataclass(frozen=True)
class MediaStats:
    """pjsua2 `getStreamStat` of the call's audio stream, summed over the stream's lifetimes.

    rx_* is what we received (RFC 3550 receiver side, our own count); tx_* is what the
    peer reported about our stream in its RTCP receiver reports. `rtt_ms` is None when
    the peer sent no RTCP RR (SIPp's echo sends none).

    A change of the received SSRC is a new source (RFC 3550 8.2), as when a PBX's native
    bridge switches us from its own stream to an agent's: `rx_ssrc_changes` counts them
    (pjsip's log, callproof.sip.ssrc_changes). The built engine restarts its receive
    statistics at each change (its patch 0005): rx_lost is the sum of each source's own
    expected - received, the jump between the two sources' sequence numbers counts as
    nothing, and the A.8 jitter estimate starts again with the new source (rx_jitter_* are
    over the samples of all sources). The PyPI wheel cannot: it counts that jump as lost
    packets (or, past 3,000, forgets the old source's loss) and the timestamp jump as
    jitter, so `rx_loss_separated` is False after a change, and the verdict leaves the
    call's loss, jitter and MOS out rather than count a wrong number
    (callproof.rtp_analysis.call_figures).
    """

    codec: str  # e.g. "PCMU/8000"
    clock_rate: int
    ptime_ms: int
    rx_packets: int
    rx_lost: int
    rx_dup: int
    rx_discard: int  # late/early, discarded by the RTP session
    rx_jitter_mean_ms: float
    rx_jitter_max_ms: float
    rx_loss_bursts: int  # runs of consecutive lost packets (pjmedia loss_period.n)
    tx_packets: int
    tx_lost: int  # as reported by the peer's RR; 0 when it sent none
    tx_jitter_mean_ms: float | None
    rtcp_rr_received: int
    rtt_ms: float | None  # mean RTT from RR LSR/DLSR (RFC 3550 6.4.1)
    rtt_max_ms: float | None
    jbuf_delay_ms: float  # jitter-buffer average delay
    jbuf_lost: int
    jbuf_discard: int
    jbuf_empty: int
    srtp: bool
    local_rtp_port: int | None = None  # our RTP socket (RTCP is the next port); None: no stream
    # Datagrams the kernel dropped on our RTP and RTCP sockets, their receive buffers full
    # (callproof.sip.socket_drops): loss on our side, read when the stream ended. None: not read.
    socket_drops: int | None = None
    rx_ssrc_changes: int = 0  # times the received SSRC changed (a new source each time)
    # False: the SSRC changed and this engine counted the change into rx_lost and rx_jitter_* (the wheel).
    rx_loss_separated: bool = True


@dataclasses.dataclass(frozen=True)
class CallRecord:
    call_id: str  # SIP Call-ID
    target: str
    invite_utc: str  # ISO 8601, UTC, microseconds
    # Milliseconds after the INVITE, monotonic. None when the event did not happen.
    provisional_ms: tuple[tuple[int, float], ...]  # (status code, ms) for each 1xx received
    final_ms: float | None  # first final response received (any code)
    ack_ms: float | None
    answer_ms: float | None  # 200 OK to the INVITE
    agent_ms: float | None  # the agent's in-band pickup marker arrived (queues, IVRs); inbound: our agent sent it
    cancel_ms: float | None
    bye_ms: float | None  # BYE sent by us or received from the peer
    bye_response_ms: float | None  # response to our BYE
    end_ms: float  # the call's last event
    final_code: int | None  # final SIP status of the INVITE; None when none arrived
    final_reason: str
    failure: Failure | None  # None: the call completed as planned
    # "caller" | "callee" | None (never answered). On an agent's record (inbound), as the agent saw
    # it: "caller" when the BYE came from the far end (the caller, or the PBX on its behalf),
    # "callee" when the agent sent it (its handle time, or the run's end).
    hangup_by: str | None
    direction: str = "outbound"  # "inbound": a call our agent answered (times from its INVITE)
    dtmf_sent: str = ""  # digits delivered (RFC 4733: handed to the stream; INFO: answered 2xx)
    dtmf_received: str = ""
    # The DTMF step that could not be delivered (failure DTMF_FAILED; on an agent's
    # record, its pickup marker): the method tried ("rfc4733" | "info") and why, in
    # one sentence. None when every step was delivered or none was tried.
    dtmf_failure_method: str | None = None
    dtmf_failure_reason: str | None = None
    # When the engine let the call go and freed its slot (ms from the INVITE): later than
    # end_ms when pjsua held the call for a CANCEL nobody answered. None on partial records.
    released_ms: float | None = None
    media: MediaStats | None = None
    recording: str | None = None  # path of the recorded WAV, relative to the run folder
    # When the recorder joined the call's audio (ms after the INVITE): the recording's first sample
    # is the media bridge's next tick after it (docs/hearing.md). None: not recorded.
    recording_start_ms: float | None = None
    # When each delivered DTMF step's digits were handed to pjsua (ms after the INVITE), in call.dtmf's order.
    dtmf_steps_ms: tuple[float, ...] = ()
    # Set by the load engine, not by the SIP stack:
    worker: str = ""
    scheduled_utc: str | None = None  # open-loop arrivals: when the call was due
    lateness_ms: float | None = None  # actual INVITE minus scheduled time
    quality: dict[str, Any] | None = None  # rtp_analysis StreamQuality per direction
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def answered(self) -> bool:
        return self.answer_ms is not None

    @property
    def failed(self) -> bool:
        """A failed call of the target (not abandoned, not stopped by the run, not our engine's error)."""
        return self.failure is not None and self.failure.target_failure

    @property
    def setup_ms(self) -> float | None:
        """RFC 6076 4.3 SRD: INVITE to the first non-100 provisional, else to the final response.

        The one definition the verifier's summary and SLA line and the report's plot use. A final
        response to our own CANCEL (the 487 after the ring timeout) times our patience, not the
        target: such a call has no SRD.
        """
        for code, at in self.provisional_ms:
            if code > 100:
                return at
        return self.final_ms if self.cancel_ms is None else None

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["failure"] = self.failure.value if self.failure else None
        out["provisional_ms"] = [list(p) for p in self.provisional_ms]
        out["dtmf_steps_ms"] = list(self.dtmf_steps_ms)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CallRecord":
        """The record `to_dict` wrote; ValueError naming the first field of another type.

        Records are input from the other party when a bundle is rebuilt or checked, so
        every field is checked against its annotation (numbers finite), not trusted.
        """
        if not isinstance(data, dict):
            raise ValueError("a call record is a JSON object")
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        _check_types(cls, values)
        failure = data.get("failure")
        if failure not in (None, "") and (not isinstance(failure, str) or failure not in {f.value for f in Failure}):
            raise ValueError(f"failure {str(failure)[:40]!r} is not one of {', '.join(f.value for f in Failure)}")
        values["failure"] = Failure(failure) if failure else None
        provisional = data.get("provisional_ms", ())
        pairs = isinstance(provisional, list | tuple) and all(
            isinstance(p, list | tuple) and len(p) == 2 and _is_int(p[0]) and _is_number(p[1]) for p in provisional)
        if not pairs:
            raise ValueError("provisional_ms must be a list of [status code, ms] pairs")
        if not all(100 <= c <= 199 for c, _ in provisional):
            raise ValueError("provisional_ms holds a code outside 100-199")
        if values.get("final_code") is not None and not 100 <= values["final_code"] <= 699:
            raise ValueError(f"final_code {values['final_code']} is not a SIP status code (100-699)")
        values["provisional_ms"] = tuple((int(c), float(t)) for c, t in provisional)
        steps = data.get("dtmf_steps_ms", ())
        if not (isinstance(steps, list | tuple) and all(_is_number(t) for t in steps)):
            raise ValueError("dtmf_steps_ms must be a list of ms")
        values["dtmf_steps_ms"] = tuple(float(t) for t in steps)
        if data.get("media") is not None:
            media = data["media"]
            if not isinstance(media, dict):
                raise ValueError("media must be an object")
            missing = sorted({f.name for f in dataclasses.fields(MediaStats)} - set(media))
            if missing or set(media) - {f.name for f in dataclasses.fields(MediaStats)}:
                raise ValueError(f"media must hold exactly MediaStats' fields (missing {', '.join(missing) or 'none'})")
            _check_types(MediaStats, media)
            values["media"] = MediaStats(**media)
        return cls(**values)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


# Annotation (as written in this module) -> the JSON values it accepts.
_ACCEPTS = {
    "str": lambda v: isinstance(v, str),
    "int": _is_int,
    "float": _is_number,
    "bool": lambda v: isinstance(v, bool),
    "dict[str, Any]": lambda v: isinstance(v, dict),
}


def _check_types(cls: type, values: dict[str, Any]) -> None:
    for name, kinds, nullable, accepts in _field_checks(cls):
        if name not in values:
            continue
        value = values[name]
        if value is None and nullable:
            continue
        if not any(accept(value) for accept in accepts):
            shown = "null" if value is None else type(value).__name__
            raise ValueError(f"{name} must be {' or '.join(kinds)}, not {shown}")


@functools.cache
def _field_checks(cls: type) -> tuple[tuple[str, tuple[str, ...], bool, tuple[Any, ...]], ...]:
    """(name, annotation parts, None allowed, checks) of each plain field: computed once per class."""
    out = []
    for field in dataclasses.fields(cls):
        if field.name in ("failure", "provisional_ms", "media", "dtmf_steps_ms"):  # checked by from_dict itself
            continue
        kinds = tuple(k.strip() for k in str(field.type).split("|"))
        out.append((field.name, kinds, "None" in kinds, tuple(_ACCEPTS[k] for k in kinds if k in _ACCEPTS)))
    return tuple(out)
