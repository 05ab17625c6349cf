"""A change of the received SSRC mid-call is a new source (RFC 3550 8.2), never lost packets.

A PBX's native bridge switches a caller's incoming stream from its own (prompt, hold music) to
the agent's: another SSRC, another random sequence number and timestamp. Here SIPp's echo
answers with an SDP that names no SSRC (as Asterisk's does), and the relay in the media path
(tests/peers/relay.py) rewrites what the caller receives as another source from a chosen packet
on: sequence numbers shifted by +500 (pjmedia would count 500 lost) or by +20,000 (past its
3,000 dropout limit it restarts and forgets the first source's loss), then 2% seeded loss on both
sides of the switch. On the built engine (its patch 0005) the record reports 1 change and
exactly the loss the relay caused; the PyPI wheel's pjmedia cannot separate them, so its record
says the source changed and that the loss could not be separated, and the figures leave it out.
A capture of the lossy call is split into the two sources by `callproof analyze` as by tshark.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import time

import pytest

from callproof.harness.cli import main as cli_main
from callproof.rtp_analysis import call_figures
from callproof.rtp_analysis.quality import call_quality
from callproof.sip.settings import CallSpec, EngineSettings
from tests.peers import sipp
from tests.peers.relay import LossyRelay, SourceSwitch
from tests.rtp_analysis.test_vs_tshark import assert_matches_tshark
from tests.rtp_analysis.tshark import rtp_streams

pytestmark = [pytest.mark.sip_engine, pytest.mark.peers]

RELAY_IP = "127.0.0.4"
SWITCH_AT = 150  # echoed packets before the switch: 3 s of the call
ECHOED = 330  # then 6.6 s in all reach the caller, so every drop is followed by a packet that arrives
TALK_S = 8.0
NEW_SSRC = 0x5EED5EED


@pytest.fixture(scope="module")
def echo(run_dir):
    peer = sipp.scripted_uas(run_dir, "uas_echo_via_relay", "-rtp_echo", relay_ip=RELAY_IP)
    yield peer
    peer.stop()


def call_through_switch(engines, echo, media_ports, *, seq_offset: int, loss: float = 0.0, capture=None):
    caller_port = media_ports.claim(4).start
    caller = engines.start(EngineSettings(name="caller", codecs=("PCMU",), rtp_port=caller_port, rtp_port_range=2,
                                          rtp_public_address=RELAY_IP))
    switch = SourceSwitch(after=SWITCH_AT, ssrc=NEW_SSRC, seq_offset=seq_offset, ts_offset=0x3A5F0000)
    with LossyRelay(relay_ip=RELAY_IP, ports=(caller_port, echo.media_port), lossy=caller_port, loss=loss,
                    seed=20261207, switch=switch, rtp_limit=ECHOED) as relay:
        dumpcap = capture(caller_port) if capture else None
        try:
            record = caller.place(CallSpec(uri=echo.uri, talk_s=TALK_S)).wait_record(60)
        finally:
            if dumpcap is not None:
                dumpcap.terminate()
                dumpcap.wait(10)
    caller.stop()
    engine = caller.processes[0].engine["engine"]
    assert record.failure is None, record.final_reason
    assert relay.seen == ECHOED and relay.old_ssrc is not None
    return record, relay, engine


def assert_source_change_reported(record, relay, engine) -> None:
    media = record.media
    assert media.rx_ssrc_changes == 1
    if engine == "built":
        # Patch 0005: each source's own expected - received, added up; the jump counts as nothing.
        assert media.rx_loss_separated
        assert media.rx_lost == relay.lost("before") + relay.lost("after")
        assert media.rx_packets == relay.forwarded
        assert call_figures.loss_fraction(record) == media.rx_lost / (media.rx_packets + media.rx_lost)
        # The A.8 jitter estimate starts again with the new source: a loopback's, not the timestamp jump's.
        assert media.rx_jitter_max_ms < 100.0
    else:
        # The wheel counted the change into its loss: the record says so and the figures leave it out.
        assert not media.rx_loss_separated
        assert call_figures.loss_fraction(record) is None and call_figures.jitter_ms(record) is None
        assert call_figures.mos_cqe(record) is None
        rx = call_quality(dataclasses.asdict(media), concealment=True, echo_path=True)["rx"]
        assert rx["mos_cqe"] is None and rx["mos_reason"].startswith("the received SSRC changed")


@pytest.mark.parametrize("seq_offset", [500, 20_000], ids=["offset+500", "offset+20000"])
def test_a_source_change_is_no_loss(engines, echo, media_ports, seq_offset):
    record, relay, engine = call_through_switch(engines, echo, media_ports, seq_offset=seq_offset)
    assert relay.dropped == 0
    assert_source_change_reported(record, relay, engine)
    if engine == "built":
        assert record.media.rx_lost == 0 and call_figures.loss_fraction(record) == 0.0
    print(f"{engine}, offset +{seq_offset}: {record.media}")


def test_loss_on_both_sides_of_a_source_change_is_counted_exactly(engines, echo, media_ports, tmp_path, capsys):
    """2% seeded loss before and after the switch: the built engine counts exactly the packets the relay
    dropped (that a receiver can see: between a source's first and last packet). The capture of the call
    holds two streams towards the caller, one per SSRC, as Wireshark splits them."""
    pcap = tmp_path / "switch.pcap"

    def capture(port: int) -> subprocess.Popen:
        if os.geteuid() != 0 or shutil.which("dumpcap") is None:
            pytest.skip("dumpcap (Debian package wireshark-common) captures on lo as root only (CI runs as root)")
        process = subprocess.Popen(["dumpcap", "-i", "lo", "-f", f"udp port {port}", "-w", str(pcap), "-q"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # dumpcap opens the interface before the call's first packet
        return process

    record, relay, engine = call_through_switch(engines, echo, media_ports, seq_offset=500, loss=0.02,
                                                capture=capture)
    assert relay.lost("before") > 0 and relay.lost("after") > 0
    assert_source_change_reported(record, relay, engine)

    # callproof analyze and tshark agree stream by stream, and split the caller's incoming media in two.
    assert cli_main(["analyze", str(pcap), "--json"]) == 0
    ours = json.loads(capsys.readouterr().out)
    assert_matches_tshark(ours, rtp_streams(str(pcap)))
    incoming = sorted((s for s in ours if s["src"] == RELAY_IP and s["dst_port"] == record.media.local_rtp_port),
                      key=lambda s: s["ssrc"] == NEW_SSRC)
    assert [s["ssrc"] for s in incoming] == [relay.old_ssrc, NEW_SSRC]
    assert [s["lost"] for s in incoming] == [relay.lost("before"), relay.lost("after")]
    assert sum(s["packets"] for s in incoming) == relay.forwarded
