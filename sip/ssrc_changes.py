"""Changes of the SSRC a call receives: what pjsua2's statistics do not say.

RFC 3550 8.2: a new SSRC is a new source, with its own random sequence numbers and
timestamps. A PBX's native bridge switches a caller's incoming stream that way, from its
own prompt or hold music to the agent's stream. pjmedia does not restart its receive
statistics for the new source: the jump between the two sequence spaces counts as lost
packets (under 3,000; past that the old source's loss is forgotten) and the jump between
the timestamps as jitter. Its own "Changed RTP peer SSRC" log line never shows for an
ordinary packet (a flag is overwritten on the way), so the change is seen two ways:

- the built engine's patch 0005 (callproof.sip.engine.patches) restarts the statistics at
  the change and logs it at level 4, on the pjmedia thread that received the packet, with
  the stream's port name as the sender: `SsrcChangeLog` reads those lines, and the call's
  loss is separated from the change;

      strm0x55d3c1a0b1c8 Changed RTP peer SSRC 305419896 (previously -1250431830), statistics
      restarted for the new source          (one line)

- any other engine (the PyPI wheel, which cannot be patched): `SsrcPoller` reads the SSRC
  the stream's RTP session follows (pjmedia_stream_get_rtp_session_info) after every poll
  of the event pump, so a change is counted within one pump turn (about one packet); the
  call's loss and jitter then hold the change, and the record says so.

Either way a change is seen only when the SDP named no SSRC (no a=ssrc, as Asterisk's):
with one, pjmedia keeps following the SSRC it announced.

Streams are known by the address of their pjmedia_stream (OnStreamCreatedParam.stream,
the "strm0x..." of the log). A call watches its stream from its creation and takes the
counts as it ends; streams nobody watches are ignored (a destroyed stream's address may be
the next call's).
"""

from __future__ import annotations

import ctypes
import dataclasses
import re
import threading
from typing import Any, Mapping

MARKER = "Changed RTP peer SSRC"
RESTARTED = ", statistics restarted for the new source"
PATCH_PREFIX = "0005-new-ssrc-is-a-new-source"  # the built engine's patch, in each shape (engine.json "patches")
_LINE = re.compile(r"strm0x(?P<stream>[0-9a-fA-F]+)[\s!.]*" + MARKER + r" -?\d+ \(previously -?\d+\)"
                   + re.escape(RESTARTED))


@dataclasses.dataclass(frozen=True)
class SourceChanges:
    """The SSRC changes one stream received."""

    changes: int = 0
    restarted: int = 0  # of them, those the engine restarted its receive statistics for (patch 0005)

    @property
    def separated(self) -> bool:
        """Whether the stream's loss and jitter leave every change out (true when nothing changed)."""
        return self.restarted == self.changes


def restarts_on_new_source(engine: Mapping[str, Any]) -> bool:
    """Whether this engine (callproof.sip.engine.info.loaded_engine's facts) carries patch 0005."""
    build = engine.get("build") or {}
    return any(str(name).startswith(PATCH_PREFIX) for name in build.get("patches") or ())


class SsrcChangeLog:
    """Counts the changes patch 0005 logs, per watched stream; thread-safe (lines come from pjmedia threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[int, int] = {}  # stream address -> changes

    def watch(self, stream: int) -> None:
        with self._lock:
            self._counts.setdefault(stream, 0)

    def take(self, stream: int) -> SourceChanges:
        """The stream's counts, and stop watching it (its stream is ending)."""
        with self._lock:
            changes = self._counts.pop(stream, 0)
        return SourceChanges(changes, changes)

    def read(self, line: str) -> None:
        """One log line that holds MARKER (the log tap's cheap test)."""
        match = _LINE.search(line)
        if match is None:
            return
        stream = int(match["stream"], 16)
        with self._lock:
            if stream in self._counts:
                self._counts[stream] += 1

    def poll(self) -> None:
        """Nothing to poll: the engine logs every change."""


class _RtpSeqSession(ctypes.Structure):  # pjmedia/rtp.h, the same in 2.12.1 to 2.17
    _fields_ = [("max_seq", ctypes.c_uint16), ("cycles", ctypes.c_uint32), ("base_seq", ctypes.c_uint32),
                ("bad_seq", ctypes.c_uint32), ("probation", ctypes.c_uint32)]


class _RtpSession(ctypes.Structure):  # struct pjmedia_rtp_session
    _fields_ = [("out_hdr", ctypes.c_uint8 * 12), ("seq_ctrl", _RtpSeqSession), ("out_pt", ctypes.c_uint16),
                ("out_extseq", ctypes.c_uint32), ("has_peer_ssrc", ctypes.c_int), ("peer_ssrc", ctypes.c_uint32),
                ("received", ctypes.c_uint32)]


class _RtpSessionInfo(ctypes.Structure):  # pjmedia_stream_rtp_sess_info (stream_common.h)
    _fields_ = [("rx_rtp", ctypes.c_void_p), ("tx_rtp", ctypes.c_void_p), ("rtcp", ctypes.c_void_p)]


class SsrcPoller:
    """Counts changes of the SSRC each watched stream's RTP session follows, read between polls of the
    event pump (main thread, where streams are also created and destroyed: never a freed stream)."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self._session_info = library.pjmedia_stream_get_rtp_session_info
        self._session_info.argtypes = (ctypes.c_void_p, ctypes.POINTER(_RtpSessionInfo))
        self._session_info.restype = ctypes.c_int
        self._streams: dict[int, list[int]] = {}  # stream address -> [SSRC last read (0: none yet), changes]

    def watch(self, stream: int) -> None:
        self._streams.setdefault(stream, [0, 0])

    def take(self, stream: int) -> SourceChanges:
        counts = self._streams.pop(stream, None)
        if counts is None:
            return SourceChanges()
        self._update(stream, counts)
        return SourceChanges(counts[1], 0)

    def read(self, line: str) -> None:
        """This engine logs no change it restarted for."""

    def poll(self) -> None:
        for stream, counts in self._streams.items():
            self._update(stream, counts)

    def _update(self, stream: int, counts: list[int]) -> None:
        ssrc = self._rx_ssrc(stream)
        if ssrc:
            if counts[0] and ssrc != counts[0]:
                counts[1] += 1
            counts[0] = ssrc

    def _rx_ssrc(self, stream: int) -> int:
        """The SSRC the stream's receiving RTP session follows; 0 before its first packet."""
        info = _RtpSessionInfo()
        if self._session_info(stream, ctypes.byref(info)) != 0 or not info.rx_rtp:
            return 0
        session = _RtpSession.from_address(info.rx_rtp)
        return int(session.peer_ssrc) if session.received else 0
