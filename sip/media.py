"""A call's audio: what it plays, where received audio goes, and its statistics.

Statistics come from pjsua2's `getStreamStat`, taken when pjsua is about to
destroy the stream (`onStreamDestroyed`) and summed over the stream's
lifetimes (a re-INVITE or UPDATE can recreate it), with the changes of the
received SSRC that pjsip's log reported meanwhile (callproof.sip.ssrc_changes).
"""

from __future__ import annotations

import dataclasses
import re
import time

import gevent
import pjsua2 as pj

from callproof.sip.records import MediaStats
from callproof.sip.ssrc_changes import SourceChanges


@dataclasses.dataclass
class StreamSnapshot:
    """Raw counters of one stream lifetime (pjsua2 `StreamStat` + `StreamInfo`)."""

    codec: str
    clock_rate: int
    rx_packets: int
    rx_lost: int
    rx_dup: int
    rx_discard: int
    rx_jitter_mean_us: float
    rx_jitter_max_us: float
    rx_jitter_n: int
    rx_loss_periods: int
    tx_packets: int
    tx_lost: int
    tx_jitter_mean_us: float
    rr_received: int
    rtt_mean_us: float
    rtt_max_us: float
    rtt_n: int
    jbuf_delay_ms: float
    jbuf_lost: int
    jbuf_discard: int
    jbuf_empty: int
    source_changes: SourceChanges = SourceChanges()


def snapshot_stream(call: pj.Call, index: int, source_changes: SourceChanges) -> StreamSnapshot:
    stat = call.getStreamStat(index)
    info = call.getStreamInfo(index)
    rx, tx, rtt = stat.rtcp.rxStat, stat.rtcp.txStat, stat.rtcp.rttUsec
    return StreamSnapshot(
        codec=f"{info.codecName}/{info.codecClockRate}",
        clock_rate=int(info.codecClockRate),
        rx_packets=rx.pkt,
        rx_lost=rx.loss,
        rx_dup=rx.dup,
        rx_discard=rx.discard,
        # RtcpStreamStat.reorder holds the loss count (pjsua2 fromPj bug): never read it.
        rx_jitter_mean_us=rx.jitterUsec.mean,
        rx_jitter_max_us=rx.jitterUsec.max,
        rx_jitter_n=rx.jitterUsec.n,
        rx_loss_periods=rx.lossPeriodUsec.n,
        tx_packets=tx.pkt,
        tx_lost=tx.loss,
        tx_jitter_mean_us=tx.jitterUsec.mean,
        rr_received=tx.updateCount,
        rtt_mean_us=rtt.mean,
        rtt_max_us=rtt.max,
        rtt_n=rtt.n,
        jbuf_delay_ms=stat.jbuf.avgDelayMsec,
        jbuf_lost=stat.jbuf.lost,
        jbuf_discard=stat.jbuf.discard,
        jbuf_empty=stat.jbuf.empty,
        source_changes=source_changes,
    )


def _weighted_mean(pairs: list[tuple[float, int]]) -> float:
    total = sum(n for _, n in pairs)
    return sum(v * n for v, n in pairs) / total if total else 0.0


def merge_snapshots(snaps: list[StreamSnapshot], *, ptime_ms: int, srtp: bool, local_rtp_port: int | None = None,
                    socket_drops: int | None = None) -> MediaStats | None:
    """One MediaStats for the call: counters summed, means weighted by sample counts."""
    if not snaps:
        return None
    last = snaps[-1]
    rtt_n = sum(s.rtt_n for s in snaps)
    rr = sum(s.rr_received for s in snaps)
    return MediaStats(
        codec=last.codec,
        clock_rate=last.clock_rate,
        ptime_ms=ptime_ms,
        rx_packets=sum(s.rx_packets for s in snaps),
        rx_lost=sum(s.rx_lost for s in snaps),
        rx_dup=sum(s.rx_dup for s in snaps),
        rx_discard=sum(s.rx_discard for s in snaps),
        rx_jitter_mean_ms=_weighted_mean([(s.rx_jitter_mean_us, s.rx_jitter_n) for s in snaps]) / 1000.0,
        rx_jitter_max_ms=max(s.rx_jitter_max_us for s in snaps) / 1000.0,
        rx_loss_bursts=sum(s.rx_loss_periods for s in snaps),
        tx_packets=sum(s.tx_packets for s in snaps),
        tx_lost=sum(s.tx_lost for s in snaps),
        tx_jitter_mean_ms=(
            _weighted_mean([(s.tx_jitter_mean_us, s.rr_received) for s in snaps]) / 1000.0 if rr else None
        ),
        rtcp_rr_received=rr,
        rtt_ms=_weighted_mean([(s.rtt_mean_us, s.rtt_n) for s in snaps]) / 1000.0 if rtt_n else None,
        rtt_max_ms=max(s.rtt_max_us for s in snaps if s.rtt_n) / 1000.0 if rtt_n else None,
        jbuf_delay_ms=_weighted_mean([(s.jbuf_delay_ms, max(s.rx_packets, 1)) for s in snaps]),
        jbuf_lost=sum(s.jbuf_lost for s in snaps),
        jbuf_discard=sum(s.jbuf_discard for s in snaps),
        jbuf_empty=sum(s.jbuf_empty for s in snaps),
        srtp=srtp,
        local_rtp_port=local_rtp_port,
        socket_drops=socket_drops,
        rx_ssrc_changes=sum(s.source_changes.changes for s in snaps),
        rx_loss_separated=all(s.source_changes.separated for s in snaps),
    )


_SAVP = re.compile(rb"^m=audio \d+ RTP/SAVP", re.MULTILINE)


def sdp_uses_srtp(message: bytes | str) -> bool:
    """True when an SDP (or a SIP message carrying one) offers/answers audio over SRTP."""
    data = message.encode("latin-1", "replace") if isinstance(message, str) else message
    return bool(_SAVP.search(data)) and b"a=crypto:" in data


class CallAudio:
    """Players and recorders of one call, connected each time its media becomes active.

    Every call's received audio goes to a sink (the null device's playback port, or a
    recorder): otherwise nothing drains the jitter buffer and discards pile up.
    """

    def __init__(self, endpoint: pj.Endpoint, *, prompt: str | None, record_to: str | None, echo: bool) -> None:
        self._ep = endpoint
        self._prompt_path = prompt
        self._record_path = record_to
        self._echo = echo
        self.player: pj.AudioMediaPlayer | None = None
        self.recorder: pj.AudioMediaRecorder | None = None
        # When the recorder joined the bridge (monotonic): the recording's first sample is
        # the bridge's next tick after it (docs/hearing.md, "When a recording starts").
        self.recording_started_at: float | None = None

    def attach(self, call: pj.Call) -> None:
        """Connect the call's audio; safe to repeat (pjsua may fire media state twice)."""
        info = call.getInfo()
        for index, media in enumerate(info.media):
            if media.type != pj.PJMEDIA_TYPE_AUDIO or media.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            audio = call.getAudioMedia(index)
            if self._echo:
                audio.startTransmit(audio)
            if self._prompt_path:
                if self.player is None:
                    self.player = pj.AudioMediaPlayer()
                    self.player.createPlayer(self._prompt_path, 0)  # 0: loop
                self.player.startTransmit(audio)
            if self._record_path:
                if self.recorder is None:
                    self.recorder = pj.AudioMediaRecorder()
                    self.recorder.createRecorder(self._record_path)
                    self.recording_started_at = time.monotonic()
                audio.startTransmit(self.recorder)
            audio.startTransmit(self._ep.audDevManager().getPlaybackDevMedia())

    def release(self) -> None:
        """Destroy players/recorders, and wait until the recording's WAV is complete.

        pjmedia removes conference ports asynchronously (on the next clock tick), and a
        recorder writes its WAV header only when its port is destroyed.
        """
        had_recorder = self.recorder is not None
        self.player = None
        self.recorder = None
        if had_recorder and self._record_path:
            deadline = time.monotonic() + _WAV_FINALISE_S
            while not _wav_header_written(self._record_path) and time.monotonic() < deadline:
                gevent.sleep(0.01)


_WAV_FINALISE_S = 2.0


def _wav_header_written(path: str) -> bool:
    """True once the RIFF chunk size (bytes 4-8) is set: pjmedia writes it on close."""
    try:
        with open(path, "rb") as wav:
            header = wav.read(8)
    except OSError:
        return False
    return len(header) == 8 and header[4:8] != b"\0\0\0\0"
