"""Synthetic call records with exactly the fields a test sets (callproof.sip.records.CallRecord)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from callproof.sip.records import CallRecord, Failure, MediaStats

T0 = dt.datetime(2026, 11, 26, 12, 0, 0, tzinfo=dt.timezone.utc)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def utc(seconds: float) -> str:
    """T0 + seconds as the records write it (ISO 8601, microseconds, Z)."""
    return at(seconds).isoformat(timespec="microseconds").replace("+00:00", "Z")


def media(*, tx_packets: int = 150, rx_packets: int = 150, rx_lost: int = 0, tx_lost: int = 0, rr: int = 0,
          rtt_ms: float | None = None, socket_drops: int | None = 0) -> MediaStats:
    return MediaStats(codec="PCMU/8000", clock_rate=8000, ptime_ms=20, rx_packets=rx_packets, rx_lost=rx_lost,
                      rx_dup=0, rx_discard=0, rx_jitter_mean_ms=0.5, rx_jitter_max_ms=1.0, rx_loss_bursts=0,
                      tx_packets=tx_packets, tx_lost=tx_lost, tx_jitter_mean_ms=None, rtcp_rr_received=rr,
                      rtt_ms=rtt_ms, rtt_max_ms=rtt_ms, jbuf_delay_ms=20.0, jbuf_lost=0, jbuf_discard=0,
                      jbuf_empty=0, srtp=False, socket_drops=socket_drops)


def answered(at_s: float = 0.0, *, answer_ms: float = 200.0, talk_ms: float = 3000.0, ringing_ms: float = 50.0,
             agent_ms: float | None = None, failure: Failure | None = None, hangup_by: str = "caller",
             bye_response: bool = True, quality: dict[str, Any] | None = None, **media_kw: Any) -> CallRecord:
    """A call answered with 200 after a 180, talking talk_ms, then hung up (by us unless hangup_by)."""
    bye = answer_ms + talk_ms
    if "tx_packets" not in media_kw:
        media_kw["tx_packets"] = int(talk_ms / 20)
    return CallRecord(
        call_id=f"call-{at_s}-{answer_ms}", target="sip:t@127.0.0.1", invite_utc=utc(at_s),
        provisional_ms=((100, 1.0), (180, ringing_ms)), final_ms=answer_ms, ack_ms=answer_ms + 1,
        answer_ms=answer_ms, agent_ms=agent_ms, cancel_ms=None, bye_ms=bye,
        bye_response_ms=bye + 2.0 if bye_response and hangup_by == "caller" else None, end_ms=bye + 2.0,
        final_code=200, final_reason="OK", failure=failure, hangup_by=hangup_by, media=media(**media_kw),
        quality=quality,
    )


def rejected(code: int, at_s: float = 0.0, *, final_ms: float = 80.0, reason: str = "") -> CallRecord:
    """A call the target rejected with `code` (no ringing)."""
    return CallRecord(
        call_id=f"rej-{code}-{at_s}", target="sip:t@127.0.0.1", invite_utc=utc(at_s), provisional_ms=((100, 1.0),),
        final_ms=final_ms, ack_ms=None, answer_ms=None, agent_ms=None, cancel_ms=None, bye_ms=None,
        bye_response_ms=None, end_ms=final_ms, final_code=code, final_reason=reason, failure=Failure.REJECTED,
        hangup_by=None,
    )


def timed_out(at_s: float = 0.0, *, cancel_ms: float = 10_000.0, answered_487: bool = False,
              released_ms: float | None = None) -> CallRecord:
    """No status-indicative response before the ring timeout: we cancelled (a 487 may follow)."""
    return CallRecord(
        call_id=f"timeout-{at_s}", target="sip:t@127.0.0.1", invite_utc=utc(at_s),
        provisional_ms=((100, 1.0),) if answered_487 else (), final_ms=cancel_ms + 5 if answered_487 else None,
        ack_ms=None, answer_ms=None, agent_ms=None, cancel_ms=cancel_ms, bye_ms=None, bye_response_ms=None,
        end_ms=cancel_ms + 5, final_code=487 if answered_487 else None,
        final_reason="Request Terminated" if answered_487 else "Request Timeout", failure=Failure.TIMEOUT,
        hangup_by=None, released_ms=released_ms,
    )


def not_answered(at_s: float = 0.0, *, ringing_ms: float = 60.0, cancel_ms: float = 10_000.0) -> CallRecord:
    """Rang (180) until we cancelled at the ring timeout; the target's 487 answers our CANCEL."""
    return CallRecord(
        call_id=f"noanswer-{at_s}", target="sip:t@127.0.0.1", invite_utc=utc(at_s),
        provisional_ms=((100, 1.0), (180, ringing_ms)), final_ms=cancel_ms + 3, ack_ms=None, answer_ms=None,
        agent_ms=None, cancel_ms=cancel_ms, bye_ms=None, bye_response_ms=None, end_ms=cancel_ms + 3,
        final_code=487, final_reason="Request Terminated", failure=Failure.NO_ANSWER, hangup_by=None,
    )


def transport_error(at_s: float = 0.0, *, end_ms: float = 3.0,
                    reason: str = "Connection refused (PJ_STATUS_FROM_OS(ECONNREFUSED))") -> CallRecord:
    """The INVITE could not be delivered; end_ms 0 is a call the SIP stack refused before sending it."""
    return CallRecord(
        call_id=f"transport-{at_s}", target="sip:t@127.0.0.1", invite_utc=utc(at_s), provisional_ms=(),
        final_ms=None, ack_ms=None, answer_ms=None, agent_ms=None, cancel_ms=None, bye_ms=None,
        bye_response_ms=None, end_ms=end_ms, final_code=None, final_reason=reason,
        failure=Failure.TRANSPORT_ERROR, hangup_by=None,
    )


def refused(at_s: float = 0.0) -> CallRecord:
    """pjsua's makeCall failed at once: no INVITE left (as seen in a run whose engine ran out of slots)."""
    return transport_error(at_s, end_ms=0.0, reason="Too many objects of the specified type (PJ_ETOOMANY)")


def abandoned(at_s: float = 0.0, *, answer_ms: float = 300.0, patience_ms: float = 60_000.0) -> CallRecord:
    """Answered by the queue (200 OK); the agent marker never came; the caller hung up."""
    bye = answer_ms + patience_ms
    return CallRecord(
        call_id=f"abandoned-{at_s}", target="sip:t@127.0.0.1", invite_utc=utc(at_s),
        provisional_ms=((100, 1.0),), final_ms=answer_ms, ack_ms=answer_ms + 1, answer_ms=answer_ms,
        agent_ms=None, cancel_ms=None, bye_ms=bye, bye_response_ms=bye + 2, end_ms=bye + 2, final_code=200,
        final_reason="OK", failure=Failure.ABANDONED, hangup_by="caller", media=media(tx_packets=int(patience_ms / 20)),
    )


def quality(mos_rx: float | None, mos_tx: float | None = None, *, rtt_ms: float | None = None,
            delay_rx_ms: float = 40.0, delay_tx_ms: float | None = None) -> dict[str, Any]:
    """The `quality` field as callproof.rtp_analysis.quality.call_quality writes it (the keys the verifier reads)."""
    return {
        "rx": {"mos_cqe": mos_rx, "rtt_ms": rtt_ms, "one_way_delay_ms": delay_rx_ms, "loss_fraction": 0.0},
        "tx": {"mos_cqe": mos_tx, "rtt_ms": rtt_ms, "one_way_delay_ms": delay_tx_ms, "loss_fraction": 0.0},
    }
