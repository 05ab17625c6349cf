"""An auto-answering agent: rings, answers, echoes or plays a prompt, hangs up.

Each incoming call gets its own greenlet. The agent records every call it
handled (direction "inbound"), including the DTMF digits it received, so a
test or a call-center scenario can check what the caller sent.
"""

from __future__ import annotations

import itertools
import time
from typing import Callable

import pjsua2 as pj

from callproof.sip.call import TrackedCall, _ms, utc_now_iso
from callproof.sip.endpoint import Endpoint, pj_error_text
from callproof.sip.identity import caller_identity
from callproof.sip.media import CallAudio
from callproof.sip.records import CallRecord, Failure
from callproof.sip.settings import AgentSpec

# A caller that never hangs up must not hold an agent slot forever.
_LONGEST_CALL_S = 3600.0


class Agent:
    def __init__(self, endpoint: Endpoint, spec: AgentSpec, on_record: Callable[[CallRecord], None],
                 spawn: Callable[..., object]) -> None:
        self.endpoint = endpoint
        self.spec = spec
        self._on_record = on_record
        self._spawn = spawn
        self._handle_times = itertools.cycle(spec.handle_s) if spec.handle_s else None
        self._queue_waits = itertools.cycle(spec.queue_wait_s) if spec.queue_wait_s else None
        self.calls: set[TrackedCall] = set()

    def on_incoming(self, account: pj.Account, call_id: int, invite: str = "") -> None:
        """pjsua2's onIncomingCall: the Call object must be made here, then answered later.
        `invite`: the INVITE as received, for the caller's identity (`caller_identity`)."""
        received = time.monotonic()
        audio = CallAudio(self.endpoint.ep, prompt=self.spec.prompt if self.spec.mode == "prompt" else None,
                          record_to=None, echo=self.spec.mode == "echo")
        call = TrackedCall(account, call_id, audio=audio, ptime_ms=self.endpoint.settings.media.ptime_ms,
                           media_events=self.endpoint.media_events, socket_drops=self.endpoint.socket_drops,
                           ssrc_changes=self.endpoint.ssrc_changes)
        info = call.getInfo()
        call.sip_call_id = info.callIdString
        self.calls.add(call)
        self.endpoint.track(call)
        self._answer(call, 180)
        self._spawn(self._handle, call, received, utc_now_iso(), info.remoteUri, caller_identity(invite))

    def _answer(self, call: TrackedCall, code: int) -> bool:
        param = pj.CallOpParam()
        param.statusCode = code
        try:
            call.answer(param)
            return True
        except pj.Error as exc:  # the caller gave up meanwhile, or SDP could not be answered
            call.last_reason = f"answering {code} failed: {pj_error_text(exc)}"
            return False

    def _handle(self, call: TrackedCall, received: float, invite_utc: str, caller: str,
                identity: dict[str, str | None]) -> None:
        record = self._take(call, received, invite_utc, caller, identity)
        self.endpoint.bury(call)
        del call  # the graveyard must hold the last reference before anything can yield
        self._on_record(record)

    def _take(self, call: TrackedCall, received: float, invite_utc: str, caller: str,
              identity: dict[str, str | None]) -> CallRecord:
        """Answer the call, play it out and hang up as the agent would; its record."""
        spec = self.spec
        answered_at = bye_at = marker_at = None
        hangup_by = None
        failure = None
        marker_problem = None
        if call.wait_until(lambda: call.ended, spec.ring_delay_s) or not self._answer(call, 200):
            failure = Failure.ABANDONED  # the caller cancelled while we rang
        else:
            answered_at = time.monotonic()
            call.wait_until(lambda: call.ended or call.confirmed_at is not None, 32.0)
            if self._queue_waits is not None and not call.ended:
                # A queue in front of the agent: the caller waits, answered, for the marker.
                if call.wait_until(lambda: call.ended, next(self._queue_waits)) and call.bye_received_at is not None:
                    failure = Failure.ABANDONED  # the caller hung up while queued
            if spec.pickup_marker and not call.ended:
                # Sent after the ACK: the caller's stream exists by then. Undelivered, it is
                # recorded, and the agent stays on the call as a person would.
                marker_at = time.monotonic()
                marker_problem = call.send_dtmf(spec.pickup_marker, "rfc4733")
            handle_s = next(self._handle_times) if self._handle_times else _LONGEST_CALL_S
            if call.wait_until(lambda: call.ended, handle_s):
                hangup_by = "caller" if call.bye_received_at is not None else "callee"
            else:
                hangup_by = "callee"
                bye_at = time.monotonic()
                call.hang_up()
                assert self.endpoint.tap is not None, "the tap lives until Endpoint.destroy"
                call.await_bye_response(self.endpoint.tap)
            if call.stopped_at is not None and call.bye_received_at is None:
                failure, hangup_by, bye_at = Failure.STOPPED, "callee", call.stopped_at
        call.wait_until(lambda: call.ended, 32.0)
        if hangup_by == "caller":
            bye_at = call.bye_received_at
        call.audio.release()
        self.calls.discard(call)
        end = call.disconnected_at or time.monotonic()
        return CallRecord(
            call_id=call.sip_call_id,
            target=caller,
            invite_utc=invite_utc,
            provisional_ms=(),
            final_ms=_ms(answered_at, received),
            ack_ms=_ms(call.confirmed_at, received),
            answer_ms=_ms(answered_at, received),
            agent_ms=_ms(marker_at, received),  # when this agent sent its pickup marker
            cancel_ms=None,
            bye_ms=_ms(bye_at, received),
            bye_response_ms=_ms(call.bye_response_at, received),
            end_ms=_ms(end, received),
            final_code=200 if answered_at is not None else call.last_code or None,
            final_reason=call.last_reason,
            failure=failure,
            hangup_by=hangup_by,
            direction="inbound",
            dtmf_sent=(spec.pickup_marker or "") if marker_at is not None and marker_problem is None else "",
            dtmf_received=call.dtmf_text(),
            dtmf_failure_method="rfc4733" if marker_problem else None,
            dtmf_failure_reason=marker_problem,
            media=call.media_stats(),
            extra=identity,  # who called, as the agent saw it (caller_identity)
        )

