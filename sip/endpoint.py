"""One pjsua2 Endpoint per process, pumped from a gevent greenlet.

pjsua2 runs with `threadCnt = 0` and `mainThreadOnly = True`: every SIP
callback fires inside `libHandleEvents`, which only the pump greenlet calls,
so callbacks run on the main thread and must never block or switch greenlets
(they record and set events). Media runs on pjmedia's own threads.

Shutdown deletes every pjsua2 object (calls, players, recorders, accounts)
before `libDestroy`, or the process aborts (exit 134).
"""

from __future__ import annotations

import collections
import re
import time

import gevent
import gevent.event
import pjsua2 as pj

from callproof.sip.engine import capacity
from callproof.sip.errors import EngineError, SipConfigError
from callproof.sip.settings import EngineSettings
from callproof.sip.socket_drops import SocketDrops
from callproof.sip.ssrc_changes import MARKER as SSRC_CHANGE_MARKER
from callproof.sip.ssrc_changes import SsrcChangeLog, SsrcPoller, restarts_on_new_source

_TRANSPORT_TYPES = {
    "udp": pj.PJSIP_TRANSPORT_UDP,
    "tcp": pj.PJSIP_TRANSPORT_TCP,
    "tls": pj.PJSIP_TRANSPORT_TLS,
}
_SRTP_USE = {
    "off": pj.PJMEDIA_SRTP_DISABLED,
    "optional": pj.PJMEDIA_SRTP_OPTIONAL,
    "mandatory": pj.PJMEDIA_SRTP_MANDATORY,
}
# pjsua's codec ids for the names a scenario uses; the first match wins.
_CODEC_IDS = {
    "PCMU": "PCMU/8000",
    "PCMA": "PCMA/8000",
    "G722": "G722/16000",
    "opus": "opus/48000",  # RFC 7587: always 48000 in SDP; the built engine links libopus, the wheel has none
    "GSM": "GSM/8000",
    "iLBC": "iLBC/8000",
    "speex": "speex/8000",
    "L16": "L16/8000",
}


_BYE_RESPONSE = re.compile(r"RX \d+ bytes Response msg (\d{3})/BYE/")
_CALL_ID = re.compile(r"^(?:Call-ID|i)[ \t]*:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


class SipMessageTap(pj.LogWriter):
    """Reads pjsip's level-4 log for what pjsua2 hides: the response to our BYE, SSRC changes.

    pjsua reports a call DISCONNECTED as soon as its BYE is sent, so the BYE's
    response (RFC 6076 SDD) never reaches the call's callbacks. pjsip logs every
    message at level 4 on the thread that handles it (here, the main thread).
    The built engine logs a change of a stream's received SSRC on a pjmedia thread: those
    lines go to `ssrc_changes`, which touches no gevent object.
    """

    def __init__(self, ssrc_changes: SsrcChangeLog | SsrcPoller) -> None:
        super().__init__()
        self._responses: dict[str, gevent.event.AsyncResult] = {}
        self.ssrc_changes = ssrc_changes

    def bye_response(self, call_id: str) -> gevent.event.AsyncResult:
        """Resolves to (status code, monotonic time) when the response to this call's BYE is read."""
        return self._responses.setdefault(call_id, gevent.event.AsyncResult())

    def forget(self, call_id: str) -> None:
        self._responses.pop(call_id, None)

    def write(self, entry: pj.LogEntry) -> None:
        message = entry.msg
        if "Response msg" not in message:  # most log lines: cheap way out
            if SSRC_CHANGE_MARKER in message:
                self.ssrc_changes.read(message)
            return
        match = _BYE_RESPONSE.search(message)
        if match:
            call_id = _CALL_ID.search(message)
            if call_id:
                # Set, never switch: this runs inside libHandleEvents.
                self.bye_response(call_id.group(1)).set((int(match.group(1)), time.monotonic()))


_LOOP_TURN_S = 0.001


def pj_error_text(exc: Exception) -> str:
    """One line from a pjsua2 `Error` (its info() is multi-line)."""
    reason = getattr(exc, "reason", None)
    return str(reason or exc).strip().splitlines()[0]


class Endpoint:
    """The process's pjsua2 Endpoint, its transports, codecs and event pump."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.ep: pj.Endpoint | None = None
        self.transport_ids: dict[str, int] = {}
        self.sip_ports: dict[str, int] = {}
        self.capacity = 0
        self.version = ""
        self.pump_lag_ms_max = 0.0  # worst gap between two polls: the timing resolution
        self._pump: gevent.Greenlet | None = None
        # Calls append themselves here from pjmedia threads (deque.append is thread-safe);
        # the pump wakes their flows.
        self.media_events: collections.deque = collections.deque()
        self._graveyard: list[pj.Call] = []
        # Changes of each stream's received SSRC: logged by an engine that restarts its statistics
        # for the new source (patch 0005), else read after every poll (callproof.sip.ssrc_changes).
        from callproof.sip.engine.info import loaded_engine

        self.ssrc_changes: SsrcChangeLog | SsrcPoller = (
            SsrcChangeLog() if restarts_on_new_source(loaded_engine()) else SsrcPoller(capacity.native_library()))
        self.tap: SipMessageTap | None = SipMessageTap(self.ssrc_changes)  # None after destroy
        self._live: set = set()  # TrackedCalls whose flow is running (placed or taken), for stop_calls
        self.socket_drops = SocketDrops()  # the kernel's drops on our own sockets (callproof.sip.socket_drops)

    @property
    def _lib(self) -> pj.Endpoint:
        assert self.ep is not None, "pjsua2 is used between start() and destroy()"
        return self.ep

    # -- start -------------------------------------------------------------

    def start(self) -> None:
        s = self.settings
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        self.version = self.ep.libVersion().full
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = s.max_calls
        cfg.uaConfig.userAgent = "callproof"
        # Level 4 carries pjsip's message log, which the tap needs.
        cfg.logConfig.writer = self.tap
        cfg.logConfig.consoleLevel = 4
        cfg.logConfig.level = max(4, s.log_level)
        cfg.logConfig.msgLogging = True
        if s.log_path:
            cfg.logConfig.filename = s.log_path
        m = s.media
        cfg.medConfig.clockRate = m.clock_rate
        cfg.medConfig.sndClockRate = m.snd_clock_rate
        cfg.medConfig.audioFramePtime = m.ptime_ms
        cfg.medConfig.ptime = m.ptime_ms
        cfg.medConfig.noVad = not m.vad
        cfg.medConfig.ecTailLen = 200 if m.echo_canceller else 0
        cfg.medConfig.jbInit = m.jb_init_ms
        cfg.medConfig.jbMinPre = m.jb_min_pre_ms
        cfg.medConfig.jbMaxPre = m.jb_max_pre_ms
        cfg.medConfig.jbMax = m.jb_max_ms
        cfg.medConfig.threadCnt = m.media_threads
        # The null device's clock drives the bridge; never let it stop when idle,
        # or later calls send no RTP and no DTMF (field notes).
        cfg.medConfig.sndAutoCloseTime = -1
        try:
            self.ep.libInit(cfg)
        except pj.Error as exc:
            raise EngineError(f"pjsua2 would not initialise: {pj_error_text(exc)}") from None
        self.ep.audDevManager().setNullDev()
        self.capacity = capacity.max_calls_in_this_process()
        for transport in s.transports:
            self._create_transport(transport)
        self._set_codecs()
        self.ep.libStart()
        self.socket_drops.sip_ports = set(self.sip_ports.values())

    def _create_transport(self, transport: str) -> None:
        s = self.settings
        tcfg = pj.TransportConfig()
        tcfg.boundAddress = s.bind_ip
        tcfg.port = s.sip_port
        if transport == "tls":
            # TLS listens on the next port when a fixed SIP port is asked for.
            tcfg.port = s.sip_port + 1 if s.sip_port else 0
            tcfg.tlsConfig.certFile = s.tls_cert or ""
            tcfg.tlsConfig.privKeyFile = s.tls_key or ""
            tcfg.tlsConfig.CaListFile = s.tls_ca or ""
            tcfg.tlsConfig.verifyServer = s.tls_verify_server
            tcfg.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
        try:
            tid = self._lib.transportCreate(_TRANSPORT_TYPES[transport], tcfg)
        except pj.Error as exc:
            port = tcfg.port or "any port"
            raise EngineError(
                f"cannot open the SIP {transport.upper()} transport on {s.bind_ip}:{port}: {pj_error_text(exc)}"
            ) from None
        self.transport_ids[transport] = tid
        self.sip_ports[transport] = int(self._lib.transportGetInfo(tid).localName.rsplit(":", 1)[1])

    def _set_codecs(self) -> None:
        available = {info.codecId: info for info in self._lib.codecEnum2()}
        wanted = []
        for name in self.settings.codecs:
            codec_id = next((cid for cid in available if cid.startswith(_CODEC_IDS[name])), None)
            if codec_id is None:
                raise SipConfigError(f"codec {name} is not available in this pjsua2 build")
            wanted.append(codec_id)
        for codec_id in available:
            self._lib.codecSetPriority(codec_id, 0)
        # pjsua offers codecs in descending priority; 0 disables.
        for rank, codec_id in enumerate(wanted):
            self._lib.codecSetPriority(codec_id, 254 - rank)

    # -- accounts ---------------------------------------------------------------

    def account_config(self, uri_user: str) -> pj.AccountConfig:
        """A config for an account on our transports, with our SRTP policy.

        The account is not pinned to one transport: pjsua takes the one a target
        URI asks for (";transport=tcp", "sips:"), as a user of the tool expects.
        """
        s = self.settings
        tls_only = s.transports == ("tls",)
        cfg = pj.AccountConfig()
        scheme = "sips" if tls_only else "sip"
        cfg.idUri = f"{scheme}:{uri_user}@{s.bind_ip}:{self.sip_ports[s.transports[0]]}"
        cfg.mediaConfig.transportConfig.boundAddress = s.bind_ip
        cfg.mediaConfig.transportConfig.port = s.rtp_port
        cfg.mediaConfig.transportConfig.portRange = s.rtp_port_range
        if s.rtp_public_address:
            cfg.mediaConfig.transportConfig.publicAddress = s.rtp_public_address
        cfg.mediaConfig.srtpUse = _SRTP_USE[s.srtp]
        # SDES keys travel in the SDP: insist on TLS for them when TLS is all we speak.
        cfg.mediaConfig.srtpSecureSignaling = 1 if tls_only and s.srtp != "off" else 0
        cfg.callConfig.timerUse = pj.PJSUA_SIP_TIMER_INACTIVE
        return cfg

    # -- pump --------------------------------------------------------------------

    def start_pump(self) -> None:
        self._pump = gevent.spawn(self._pump_loop)

    def _pump_loop(self) -> None:
        """Poll pjsua, then give gevent's loop a real turn (timers, I/O, ready greenlets).

        `libHandleEvents` blocks in select/epoll for up to `poll_timeout_ms` and returns
        as soon as a SIP message arrives, so an idle engine sleeps instead of spinning,
        and every SIP event is timestamped by its callback the moment it is read. The
        turn must be a real sleep: after `sleep(0)` alone gevent's timers fire up to
        0.5 s late when the loop's own thread blocks in C. While other greenlets run,
        SIP messages wait; so they do when a poll returns later than its timeout (the
        machine did not run us, or callbacks took that long): the longest of either is
        `pump_lag_ms_max`, the resolution of our timestamps.
        """
        timeout_ms = int(self.settings.poll_timeout_ms)
        left = time.monotonic()
        while True:
            entered = time.monotonic()
            self._lib.libHandleEvents(timeout_ms)
            left_before, left = left, time.monotonic()
            # Late to look at the sockets: away from the poll, or held inside it past its timeout
            # (a process the machine did not run, or stopped, sits in the poll the whole time).
            late_ms = max(entered - left_before, left - entered - timeout_ms / 1000.0) * 1000.0
            if late_ms > self.pump_lag_ms_max:
                self.pump_lag_ms_max = late_ms
            self._after_poll()
            gevent.sleep(_LOOP_TURN_S)

    def _after_poll(self) -> None:
        self.ssrc_changes.poll()
        while self.media_events:  # calls that heard DTMF on a pjmedia thread
            self.media_events.popleft().changed.set()
        if self._graveyard:
            self.sweep()

    def handle_events_for(self, seconds: float) -> None:
        """Poll without the pump (used during shutdown, after the pump stopped)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._lib.libHandleEvents(10)
            self._after_poll()

    # -- calls ------------------------------------------------------------------------

    def track(self, call) -> None:
        """A call whose flow runs now; `bury` forgets it."""
        self._live.add(call)

    def stop_calls(self) -> int:
        """Hang up every tracked call for the run's end (TrackedCall.stop); how many were up."""
        calls = [call for call in self._live if not call.ended]
        for call in calls:
            call.stop()
        return len(calls)

    def bury(self, call: pj.Call) -> None:
        """Hold a finished call until its pjsua slot is free, then let Python delete it.

        pjsua2's `~Call` clears the user data of, and hangs up, whatever call occupies
        its slot *now*: deleting a finished Call after pjsua gave its slot to a new call
        kills the new call. The caller must hold no other reference to `call`.
        """
        self._live.discard(call)
        self._graveyard.append(call)

    def sweep(self) -> None:
        """Delete buried calls whose slot holds no active call (between polls: no race)."""
        self._graveyard = [call for call in self._graveyard if self.slot_busy(call)]

    @staticmethod
    def holds_slot(call: pj.Call, sip_call_id: str) -> bool:
        """Whether pjsua's call slot still belongs to this call (Call-ID `sip_call_id`).

        It may after pjsua reported the call DISCONNECTED: a CANCEL that nothing answered
        keeps its INVITE session, and the slot, until the transaction times out. A freed
        slot has no info, a reused one another Call-ID.
        """
        if call.getId() < 0:
            return False
        try:
            return call.getInfo().callIdString == sip_call_id
        except pj.Error:
            return False

    def slot_busy(self, call: pj.Call) -> bool:
        """Whether any live call occupies `call`'s slot (deleting `call` would hang it up)."""
        call_id = call.getId()
        return call_id >= 0 and bool(capacity.native_library().pjsua_call_is_active(call_id))

    @property
    def buried(self) -> int:
        return len(self._graveyard)

    # -- shutdown ----------------------------------------------------------------

    def stop_pump(self) -> None:
        if self._pump is not None:
            self._pump.kill()
            self._pump = None

    def destroy(self) -> None:
        """`libDestroy`; the caller has deleted every call, player, recorder and account."""
        self.stop_pump()
        if self.ep is not None:
            # pjsua_destroy2 then sleeps up to a second for responses still to come. Skipping that
            # (PJSUA_DESTROY_NO_RX_MSG) saved 3 s per run, but with it tests that start engines one
            # after another on the same ports failed: a clean Opus call's PESQ-WB 3.7-4.0 (4.2
            # without), one of 800 calls losing a packet. Why is not known; kept as it was.
            self.ep.libDestroy()
            self.ep = None
            self.tap = None
