"""A pjsua2 call that timestamps its SIP events, and the outbound call flow.

Callbacks run inside `libHandleEvents` on the pump greenlet (or, for RFC 4733
DTMF, on a pjmedia thread): they only append to lists and set a gevent event.
The flow (`place_call`) runs in its own greenlet and waits on that event.

Every call ends within the bounds its spec sets, whatever the target does:
the ring timeout, each DTMF step's wait and delivery timeout, the patience for
the agent marker, the talk time, the media timeout. Each wait also ends when the
call does, so the engine can stop a call at any time (`TrackedCall.stop`, for
the run's end), and `place_call` returns a record in every case: a target that
answers nothing, an engine shutting down without waiting (GreenletExit), a bug
in this code (Failure.ENGINE_ERROR, the traceback in the engine's log).

DTMF: a step is delivered when pjsua takes its digits for RFC 4733 (the answer
negotiated telephone-event) or when every INFO gets a 2xx within the step's
`timeout_s`. A step that cannot be delivered ends the call: we hang up and record
Failure.DTMF_FAILED with the method tried and why (the steps after it, the queue
and the agent assume the digits arrived, so going on would measure nothing).
"""

from __future__ import annotations

import collections
import ctypes
import dataclasses
import datetime as dt
import sys
import time
import traceback
from typing import Callable, overload

import gevent
import gevent.event
import pjsua2 as pj

from callproof.sip.endpoint import Endpoint, SipMessageTap, pj_error_text
from callproof.sip.engine.capacity import native_library
from callproof.sip.media import CallAudio, StreamSnapshot, merge_snapshots, sdp_uses_srtp, snapshot_stream
from callproof.sip.records import CallRecord, Failure
from callproof.sip.settings import CallSpec, DtmfStep
from callproof.sip.socket_drops import SocketDrops
from callproof.sip.ssrc_changes import SourceChanges, SsrcChangeLog, SsrcPoller

_DTMF_METHODS = {"rfc4733": pj.PJSUA_DTMF_METHOD_RFC2833, "info": pj.PJSUA_DTMF_METHOD_SIP_INFO}
_MEDIA_CHECK_S = 1.0
# RFC 6076 SDD counts a BYE without response as failed after this long (T1 * 64 is 32 s;
# a load tool cannot hold the slot that long).
BYE_RESPONSE_WAIT_S = 4.0
# A target that answers nothing would keep a cancelled INVITE's transaction, and its
# call slot, for Timer B (32 s): end the transaction this long after the ring timeout.
_INVITE_TIMEOUT_MARGIN_S = 2.0
_SLOT_POLL_S = 0.05
# pjmedia's status when the answer negotiated no telephone-event: PJMEDIA_RTP_EREMNORFC2833,
# PJMEDIA_ERRNO_START + 107 (measured with pjproject 2.12.1 and 2.15.1).
_NO_TELEPHONE_EVENT = 220107


def _limit_invite_transaction(tsx: pj.SipTransaction, timeout_s: float) -> None:
    """pjsip_tsx_set_timeout, which pjsua2 does not wrap, on the INVITE transaction."""
    set_timeout = getattr(native_library(), "pjsip_tsx_set_timeout", None)
    if set_timeout is not None:
        set_timeout(ctypes.c_void_p(int(tsx.pjTransaction)), ctypes.c_uint(int(timeout_s * 1000)))


def _caused_by_message(event: pj.SipEvent) -> bool:
    """Whether a state change came from a received message (not a timer or transport error)."""
    return event.type == pj.PJSIP_EVENT_TSX_STATE and event.body.tsxState.type == pj.PJSIP_EVENT_RX_MSG


def utc_now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class TrackedCall(pj.Call):
    """Records when each SIP event of the call happened (monotonic seconds)."""

    def __init__(self, account: pj.Account, call_id: int = pj.PJSUA_INVALID_ID, *, audio: CallAudio,
                 ptime_ms: int, media_events: collections.deque, invite_timeout_s: float | None = None,
                 socket_drops: SocketDrops | None = None,
                 ssrc_changes: SsrcChangeLog | SsrcPoller | None = None) -> None:
        super().__init__(account, call_id)
        self.audio = audio
        self.invite_timeout_s = invite_timeout_s
        self._media_events = media_events
        self.ptime_ms = ptime_ms
        self.changed = gevent.event.Event()
        self.provisional: list[tuple[int, float]] = []
        self.final: tuple[int, str, float, bool] | None = None  # code, reason, at, from the network
        self.confirmed_at: float | None = None
        self.disconnected_at: float | None = None
        self.bye_received_at: float | None = None
        self.bye_response_at: float | None = None
        self.dtmf: list[tuple[float, str]] = []  # appended from pjmedia threads too
        self.snapshots: list[StreamSnapshot] = []
        self.srtp = False
        self._socket_drops = socket_drops
        self.media_ports: tuple[int, ...] = ()  # our RTP and RTCP ports
        self.drops_by_port: dict[int, int] = {}  # kernel drops on them, read as each stream ended
        self._ssrc_changes = ssrc_changes
        self._streams: dict[int, int] = {}  # media index -> the live pjmedia_stream's address
        self._source_changes: dict[int, SourceChanges] = {}  # media index -> changes taken before the stream ended
        self.last_code = 0
        self.last_reason = ""
        self.sip_call_id = ""
        self.stopped_at: float | None = None  # the engine hung the call up for the run's end
        self.info_finals: list[tuple[int, str]] = []  # final outcomes of our INFO requests, in order

    # -- callbacks: record, set, never block --------------------------------

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        now = time.monotonic()
        info = self.getInfo()
        self.sip_call_id = self.sip_call_id or info.callIdString
        self.last_code, self.last_reason = info.lastStatusCode, info.lastReason
        state = info.state
        if state == pj.PJSIP_INV_STATE_CONNECTING and self.final is None and info.role == pj.PJSIP_ROLE_UAC:
            self.final = (info.lastStatusCode, info.lastReason, now, True)
        elif state == pj.PJSIP_INV_STATE_CONFIRMED and self.confirmed_at is None:
            self.confirmed_at = now
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected_at = now
            self._stop_watching_streams()
            if self.final is None and info.role == pj.PJSIP_ROLE_UAC and info.lastStatusCode >= 300:
                # pjsua ends the call before the INVITE transaction's callback would tell us.
                self.final = (info.lastStatusCode, info.lastReason, now, _caused_by_message(prm.e))
        self.changed.set()

    def onCallTsxState(self, prm: pj.OnCallTsxStateParam) -> None:
        now = time.monotonic()
        event = prm.e.body.tsxState
        tsx = event.tsx
        if (self.invite_timeout_s and tsx.role == pj.PJSIP_ROLE_UAC and tsx.method == "INVITE"
                and tsx.state == pj.PJSIP_TSX_STATE_CALLING):
            _limit_invite_transaction(tsx, self.invite_timeout_s)
        if tsx.role == pj.PJSIP_ROLE_UAC and tsx.method == "INFO" and (
                tsx.state == pj.PJSIP_TSX_STATE_COMPLETED
                or (tsx.state == pj.PJSIP_TSX_STATE_TERMINATED and event.prevState != pj.PJSIP_TSX_STATE_COMPLETED)):
            # One INFO's final outcome: its response, or pjsip's own (408 on Timer F, 503).
            self.info_finals.append((tsx.statusCode, tsx.statusText))
        if event.type == pj.PJSIP_EVENT_RX_MSG:
            if tsx.role == pj.PJSIP_ROLE_UAC and tsx.method == "INVITE":
                self._on_invite_response(tsx.statusCode, tsx.statusText, now, event.src.rdata.wholeMsg)
            elif tsx.role == pj.PJSIP_ROLE_UAS and tsx.method == "BYE" and self.bye_received_at is None:
                self.bye_received_at = now
        self.changed.set()

    def _on_invite_response(self, code: int, reason: str, now: float, message: str) -> None:
        if code < 200:
            self.provisional.append((code, now))
            return
        if self.final is None:
            self.final = (code, reason, now, True)
        if code < 300:
            self.srtp = sdp_uses_srtp(message)

    def onCallSdpCreated(self, prm: pj.OnCallSdpCreatedParam) -> None:
        # Answerer side: the remote offer decides whether SRTP is in use.
        if prm.remSdp.wholeSdp:
            self.srtp = sdp_uses_srtp(prm.remSdp.wholeSdp) and sdp_uses_srtp(prm.sdp.wholeSdp)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        self.audio.attach(self)
        self.media_ports = media_ports(self) or self.media_ports
        self.changed.set()

    def onStreamCreated(self, prm: pj.OnStreamCreatedParam) -> None:
        if self._ssrc_changes is not None:
            self._streams[prm.streamIdx] = int(prm.stream)
            self._ssrc_changes.watch(int(prm.stream))

    def _stop_watching_streams(self) -> None:
        """No stream of an ended call is read again: pjsua may free it without telling a deleted Call."""
        for index in list(self._streams):
            self._take_source_changes(index)

    def _take_source_changes(self, index: int) -> None:
        stream = self._streams.pop(index, None)
        if stream is not None and self._ssrc_changes is not None:
            self._source_changes[index] = self._ssrc_changes.take(stream)

    def onStreamDestroyed(self, prm: pj.OnStreamDestroyedParam) -> None:
        self._take_source_changes(prm.streamIdx)
        changes = self._source_changes.pop(prm.streamIdx, SourceChanges())
        self.snapshots.append(snapshot_stream(self, prm.streamIdx, changes))
        # pjsua closes the stream's sockets right after this callback: their last count.
        if self._socket_drops is not None:
            for port in self.media_ports:
                drops = self._socket_drops.final(port)
                if drops is not None:
                    self.drops_by_port[port] = max(drops, self.drops_by_port.get(port, 0))

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        # RFC 4733 digits arrive on a pjmedia thread, where gevent must not be touched:
        # append only (atomic under the GIL); the pump wakes the flow.
        self.dtmf.append((time.monotonic(), prm.digit))
        self._media_events.append(self)

    # -- helpers for flows ---------------------------------------------------

    @property
    def ended(self) -> bool:
        return self.disconnected_at is not None

    def wait_until(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        """Wait (cooperatively) until `condition()` holds; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.changed.clear()
            self.changed.wait(remaining)
        return True

    def dtmf_text(self) -> str:
        return "".join(d for _, d in list(self.dtmf))

    def rx_packets_now(self) -> int:
        """Packets received so far on the live audio stream (0 when there is none)."""
        try:
            return self.getStreamStat(0).rtcp.rxStat.pkt + sum(s.rx_packets for s in self.snapshots)
        except pj.Error:
            return sum(s.rx_packets for s in self.snapshots)

    def await_bye_response(self, tap: SipMessageTap, timeout_s: float = BYE_RESPONSE_WAIT_S) -> None:
        """Wait for the response to our BYE (RFC 6076 SDD); pjsua's callbacks never see it."""
        try:
            _, self.bye_response_at = tap.bye_response(self.sip_call_id).get(timeout=timeout_s)
        except gevent.Timeout:
            pass  # no response: SDD stays unmeasured
        finally:
            tap.forget(self.sip_call_id)

    def send_dtmf(self, digits: str, method: str) -> str | None:
        """Hand `digits` to pjsua (RFC 4733, or one INFO per digit); None, or why it refused them."""
        param = pj.CallSendDtmfParam()
        param.digits = digits
        param.method = _DTMF_METHODS[method]
        try:
            self.sendDtmf(param)
        except pj.Error as exc:
            if getattr(exc, "status", None) == _NO_TELEPHONE_EVENT:
                return "the target's answer offered no telephone-event (RFC 4733), so no DTMF can go in RTP"
            return f"pjsua refused to send it ({pj_error_text(exc)})"
        return None

    def stop(self) -> None:
        """Hang up for the run's end (BYE, or CANCEL while ringing); the flow records Failure.STOPPED."""
        if self.stopped_at is None and not self.ended:
            self.stopped_at = time.monotonic()
            self.hang_up()
            self.changed.set()

    def hang_up(self, code: int = 0) -> None:
        if self.ended:
            return
        param = pj.CallOpParam()
        param.statusCode = code
        try:
            self.hangup(param)
        except pj.Error:
            pass  # already terminating

    def media_stats(self):
        drops = sum(self.drops_by_port.values()) if self.drops_by_port else None
        return merge_snapshots(self.snapshots, ptime_ms=self.ptime_ms, srtp=self.srtp,
                               local_rtp_port=self.media_ports[0] if self.media_ports else None,
                               socket_drops=drops)


def media_ports(call: pj.Call) -> tuple[int, ...]:
    """Our RTP and RTCP ports for the call's active audio (pjsua2's media transport info)."""
    info = call.getInfo()
    for index, media in enumerate(info.media):
        if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
            try:
                transport = call.getMedTransportInfo(index)
            except pj.Error:
                return ()
            return tuple(int(name.rsplit(":", 1)[1]) for name in (transport.localRtpName, transport.localRtcpName)
                         if name)
    return ()


@dataclasses.dataclass
class _Marks:
    """The flow's own instants (monotonic), beside those the callbacks record."""

    invite: float
    dtmf_sent: str = ""
    dtmf_steps: list[float] = dataclasses.field(default_factory=list)  # when each delivered step was handed over
    dtmf_failure: tuple[str, str] | None = None  # (method, why) of the step that could not be delivered
    cancel: float | None = None
    bye: float | None = None
    agent: float | None = None
    hangup_by: str | None = None
    failure: Failure | None = None
    reason: str = ""  # overrides the SIP reason when the call failed on our side
    decided: bool = False  # the flow played its plan out; what follows is waiting for the network
    released: float | None = None  # pjsua let the call go: its slot is free


@overload
def _ms(at: float, origin: float) -> float: ...
@overload
def _ms(at: float | None, origin: float) -> float | None: ...
def _ms(at: float | None, origin: float) -> float | None:
    return None if at is None else round((at - origin) * 1000.0, 3)


def place_call(endpoint: Endpoint, account: pj.Account, spec: CallSpec,
               on_setup: Callable[[CallRecord], None] | None = None) -> CallRecord:
    """Place one call and play it out; returns its record when the call has ended.

    `on_setup` gets a partial record as soon as the INVITE transaction is decided
    (answered, rejected or given up), so a load tool can report setup delay
    without waiting for the talk time. A record comes back in every case (see the
    module docstring), also when the greenlet is killed.
    """
    audio = CallAudio(endpoint.ep, prompt=spec.prompt, record_to=spec.record_to, echo=False)
    call = TrackedCall(account, audio=audio, ptime_ms=endpoint.settings.media.ptime_ms,
                       media_events=endpoint.media_events,
                       invite_timeout_s=spec.ring_timeout_s + _INVITE_TIMEOUT_MARGIN_S,
                       socket_drops=endpoint.socket_drops, ssrc_changes=endpoint.ssrc_changes)
    endpoint.track(call)
    param = pj.CallOpParam(True)
    param.opt.audioCount = 1
    param.opt.videoCount = 0
    invite_utc = utc_now_iso()
    marks = _Marks(invite=time.monotonic())
    try:
        call.makeCall(spec.uri, param)
    except pj.Error as exc:
        marks.failure = Failure.TRANSPORT_ERROR
        record = _record(call, spec, marks, invite_utc, reason=pj_error_text(exc))
        audio.release()
        endpoint.bury(call)
        return record
    call.sip_call_id = call.getInfo().callIdString
    try:
        _play(endpoint, call, spec, marks, on_setup, invite_utc)
        marks.released = time.monotonic()
    except gevent.GreenletExit:
        # The engine shuts down and did not wait for this flow: what happened so far is the record.
        _stopped_mid_flow(call, marks)
    except Exception as exc:  # noqa: BLE001 - a bug must not take the call's record with it
        print(f"callproof: call {call.sip_call_id} failed inside the engine:", file=sys.stderr)
        traceback.print_exc()
        marks.failure = Failure.ENGINE_ERROR
        marks.reason = f"callproof's SIP engine failed during the call ({type(exc).__name__}: {exc})"
        marks.hangup_by = marks.hangup_by or ("caller" if call.final and call.final[0] < 300 else None)
        call.hang_up()
    record = _record(call, spec, marks, invite_utc, reason=marks.reason)
    try:
        audio.release()
    except gevent.GreenletExit:
        pass  # killed while a recording's WAV was being finished: the record still goes out
    endpoint.bury(call)
    return record


def _play(endpoint: Endpoint, call: TrackedCall, spec: CallSpec, marks: _Marks,
          on_setup: Callable[[CallRecord], None] | None, invite_utc: str) -> None:
    """Ring, then talk or give up; then wait (bounded) for the network to finish the call."""
    answered = call.wait_until(lambda: call.final is not None or call.ended or call.stopped_at is not None,
                               spec.ring_timeout_s)
    if call.stopped_at is not None and (call.final is None or call.final[0] >= 300):
        marks.failure = Failure.STOPPED  # stopped while it rang: its answer is undecided
        marks.cancel = call.stopped_at
    elif not answered:
        marks.cancel = time.monotonic()
        rang = any(code > 100 for code, _ in call.provisional)
        marks.failure = Failure.NO_ANSWER if rang else Failure.TIMEOUT
        call.hang_up()
    elif call.final is not None and call.final[0] < 300:
        _talk(call, spec, marks, on_setup, invite_utc)
    else:
        marks.failure = _failure_of_final(call.final)
    marks.decided = True
    if on_setup is not None and (call.final is None or call.final[0] >= 300):
        on_setup(_record(call, spec, marks, invite_utc))  # setup decided: not answered
    # pjsua ends a call as soon as its BYE or CANCEL is sent; the BYE's response comes later.
    # A stopped call does not wait for a CANCEL nobody answers: the run is ending.
    call.wait_until(lambda: call.ended, BYE_RESPONSE_WAIT_S if call.stopped_at is not None else 40.0)
    if marks.bye is not None:
        assert endpoint.tap is not None, "the tap lives until Endpoint.destroy"
        call.await_bye_response(endpoint.tap)
    if call.stopped_at is not None:
        return
    # The record frees this call's slot in the parent's count: hand it over only once
    # pjsua has freed it too (a CANCEL nobody answered holds it a while longer).
    deadline = time.monotonic() + spec.ring_timeout_s + _INVITE_TIMEOUT_MARGIN_S + 1.0
    while call.sip_call_id and endpoint.holds_slot(call, call.sip_call_id) and time.monotonic() < deadline:
        gevent.sleep(_SLOT_POLL_S)


def _stopped_mid_flow(call: TrackedCall, marks: _Marks) -> None:
    """The flow was killed: stop the call and record it as stopped unless its plan was played out."""
    call.stop()
    if marks.decided:
        return
    marks.failure = marks.failure or Failure.STOPPED
    now = call.stopped_at or time.monotonic()
    if call.final is not None and call.final[0] < 300:
        marks.hangup_by = marks.hangup_by or "caller"
        marks.bye = marks.bye or now
    else:
        marks.cancel = marks.cancel or now


def _failure_of_final(final: tuple[int, str, float, bool] | None) -> Failure:
    if final is None:
        return Failure.TIMEOUT
    code, _, _, from_network = final
    if from_network:
        return Failure.REJECTED
    return Failure.TIMEOUT if code == 408 else Failure.TRANSPORT_ERROR


def _talk(call: TrackedCall, spec: CallSpec, marks: _Marks,
          on_setup: Callable[[CallRecord], None] | None, invite_utc: str) -> None:
    """After the 200 OK: IVR digits, wait for the agent, talk, watch the media, hang up."""
    if on_setup is not None:
        on_setup(_record(call, spec, marks, invite_utc))
    for step in spec.dtmf:
        if call.wait_until(lambda: call.ended, step.wait_s):
            break
        sent_at = time.monotonic()
        problem = _deliver_dtmf(call, step)
        if call.ended:
            break
        if problem is not None:
            marks.failure = Failure.DTMF_FAILED
            marks.dtmf_failure = (step.method, problem)
            break
        marks.dtmf_sent += step.digits
        marks.dtmf_steps.append(sent_at)
    marker = spec.agent_marker
    if marker and marks.failure is None and not call.ended:
        patience = spec.patience_s if spec.patience_s is not None else spec.ring_timeout_s
        if call.wait_until(lambda: call.ended or marker in call.dtmf_text(), patience):
            marks.agent = _marker_time(call, marker)
        else:
            marks.failure = Failure.ABANDONED
    if marks.failure is None and not call.ended:
        _hold_with_media_watch(call, spec, marks)
    if call.ended and call.stopped_at is not None and call.bye_received_at is None:
        marks.failure = marks.failure or Failure.STOPPED  # the run's end cut the plan short
        marks.hangup_by = "caller"
        marks.bye = call.stopped_at
    elif call.ended:
        # Ended without our flow's BYE: by the peer's BYE, or by our engine shutting down.
        marks.hangup_by = "callee" if call.bye_received_at is not None else "caller"
        if marks.hangup_by == "caller":
            marks.bye = call.disconnected_at
    else:
        marks.hangup_by = "caller"
        marks.bye = time.monotonic()
        call.hang_up()


def _deliver_dtmf(call: TrackedCall, step: DtmfStep) -> str | None:
    """Send one step's digits; None when delivered (or the call ended meanwhile), else why not.

    RFC 4733 is delivered once pjsua takes the digits (the peer does not acknowledge
    them); INFO (one request per digit) once every INFO has a 2xx, within `timeout_s`.
    """
    before = len(call.info_finals)
    problem = call.send_dtmf(step.digits, step.method)
    if problem is not None or step.method != "info":
        return problem
    wanted = before + len(step.digits)
    if not call.wait_until(lambda: call.ended or len(call.info_finals) >= wanted, step.timeout_s):
        answered = len(call.info_finals) - before
        return (f"{len(step.digits) - answered} of {len(step.digits)} INFO requests got no final response "
                f"within {step.timeout_s:g} s")
    refused = [(code, reason) for code, reason in call.info_finals[before:wanted] if not 200 <= code < 300]
    if refused:
        code, reason = refused[0]
        return f"INFO was answered {code} {reason}".rstrip()
    return None


def _hold_with_media_watch(call: TrackedCall, spec: CallSpec, marks: _Marks) -> None:
    """Hold the call for its talk time; end it early when no RTP arrives for media_timeout_s."""
    start = time.monotonic()
    end = start + spec.talk_s
    last_count, last_progress = call.rx_packets_now(), start
    while not call.ended:
        now = time.monotonic()
        if now >= end:
            return
        call.wait_until(lambda: call.ended, min(_MEDIA_CHECK_S, end - now))
        count, now = call.rx_packets_now(), time.monotonic()
        if count > last_count:
            last_count, last_progress = count, now
        elif now - last_progress >= spec.media_timeout_s:
            marks.failure = Failure.MEDIA_TIMEOUT
            return


def _marker_time(call: TrackedCall, marker: str) -> float | None:
    """When the last digit of the first complete marker arrived."""
    text = ""
    for at, digit in list(call.dtmf):
        text += digit
        if text.endswith(marker):
            return at
    return None


def _record(call: TrackedCall, spec: CallSpec, marks: _Marks, invite_utc: str, *, reason: str = "") -> CallRecord:
    origin = marks.invite
    final = call.final
    received = final if final is not None and final[3] else None
    answer_at = final[2] if final is not None and final[0] < 300 else None
    end_candidates = [t for t in (call.disconnected_at, marks.bye, marks.cancel, final and final[2],
                                  call.bye_response_at) if t]
    bye = marks.bye if marks.hangup_by == "caller" else call.bye_received_at
    lateness = None if spec.scheduled_mono is None else round((origin - spec.scheduled_mono) * 1000.0, 3)
    return CallRecord(
        call_id=call.sip_call_id,
        target=spec.uri,
        invite_utc=invite_utc,
        provisional_ms=tuple((code, _ms(at, origin)) for code, at in call.provisional),
        final_ms=_ms(received[2], origin) if received else None,
        ack_ms=_ms(call.confirmed_at, origin),
        answer_ms=_ms(answer_at, origin),
        agent_ms=_ms(marks.agent, origin),
        cancel_ms=_ms(marks.cancel, origin),
        bye_ms=_ms(bye, origin),
        bye_response_ms=_ms(call.bye_response_at, origin),
        end_ms=_ms(max(end_candidates), origin) if end_candidates else 0.0,
        # Only a status that arrived counts; pjsua's local ones (408, 487, 503) show in the
        # reason and the failure.
        final_code=received[0] if received else None,
        final_reason=reason or (final[1] if final else call.last_reason),
        failure=marks.failure,
        hangup_by=marks.hangup_by,
        dtmf_sent=marks.dtmf_sent,
        dtmf_received=call.dtmf_text(),
        dtmf_failure_method=marks.dtmf_failure[0] if marks.dtmf_failure else None,
        dtmf_failure_reason=marks.dtmf_failure[1] if marks.dtmf_failure else None,
        released_ms=_ms(marks.released, origin),
        media=call.media_stats(),
        recording=spec.record_to,
        recording_start_ms=_ms(call.audio.recording_started_at, origin) if spec.record_to else None,
        dtmf_steps_ms=tuple(_ms(at, origin) for at in marks.dtmf_steps),
        lateness_ms=lateness,
    )
