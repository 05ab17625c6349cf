"""Reading SSRC changes (callproof.sip.ssrc_changes): the built engine's log lines, and which engine logs them."""

from __future__ import annotations

from callproof.sip.ssrc_changes import SourceChanges, SsrcChangeLog, restarts_on_new_source

STREAM = 0x55D3C1A0B1C8
# As pjlib decorates a level-4 line of patch 0005: time, the sender padded to 22 columns,
# "!" when the thread changed since the last line, then the message.
LINE = ("05:41:28.872     strm0x55d3c1a0b1c8 !Changed RTP peer SSRC 1592614637 (previously -1250431830), "
        "statistics restarted for the new source\n")


def test_each_logged_change_of_a_watched_stream_counts_and_is_separated():
    log = SsrcChangeLog()
    log.watch(STREAM)
    log.read(LINE)
    log.read(LINE.replace(" !", "  "))
    assert log.take(STREAM) == SourceChanges(changes=2, restarted=2)
    assert SourceChanges(2, 2).separated and SourceChanges().separated and not SourceChanges(1, 0).separated


def test_lines_of_other_streams_and_of_unwatched_streams_do_not_count():
    log = SsrcChangeLog()
    log.watch(STREAM)
    log.read(LINE.replace("strm0x55d3c1a0b1c8", "strm0x55d3c1a0b1d0"))  # another call's stream
    assert log.take(STREAM) == SourceChanges()
    log.read(LINE)  # the stream has ended: its address may be the next call's
    log.watch(STREAM)
    assert log.take(STREAM) == SourceChanges()


def test_only_a_line_that_says_the_statistics_restarted_counts():
    # pjmedia's own wording (printed, if ever, for a packet with an unexpected payload type) does not
    # say the statistics restarted: an engine that logs it has not separated the loss.
    log = SsrcChangeLog()
    log.watch(STREAM)
    log.read("05:41:28.872     strm0x55d3c1a0b1c8  Changed RTP peer SSRC 1592614637 (previously -1250431830)\n")
    assert log.take(STREAM) == SourceChanges()


def test_the_built_engine_with_patch_0005_logs_the_changes_and_the_wheel_does_not():
    built = {"engine": "built", "build": {"patches": ["CVE-2023-27585_ring.patch (Debian)",
                                                    "0005-new-ssrc-is-a-new-source-2.12.1.patch"]}}
    assert restarts_on_new_source(built)
    assert not restarts_on_new_source({"engine": "wheel", "build": None})
    # An engine built before 0005 existed restarts nothing: its changes are read from its RTP session.
    assert not restarts_on_new_source({"engine": "built", "build": {"patches": ["0003-media-poll-timeout.patch"]}})
