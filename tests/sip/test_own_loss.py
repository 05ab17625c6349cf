"""Loss on our own side, measured: an engine process that stops reading its sockets loses what
arrives meanwhile, the kernel counts it on our RTP sockets, and each call's record says so."""

from __future__ import annotations

import os
import signal
import time

import gevent
import pytest

from callproof.sip.settings import AgentSpec, CallSpec, EngineSettings

pytestmark = [pytest.mark.sip_engine, pytest.mark.heavy]

CALLS, TALK_S, STOPPED_S = 4, 14.0, 6.0


def test_a_stalled_engine_loses_packets_on_its_own_sockets_and_says_how_many(engines, tone_wav):
    # The far side plays a prompt without pause, whatever it hears (an echo would go quiet with us).
    agent = engines.start(EngineSettings(name="agent", codecs=("PCMU",),
                                         agent=AgentSpec(mode="prompt", prompt=str(tone_wav))))
    caller = engines.start(EngineSettings(name="caller", codecs=("PCMU",)))
    uri = f"sip:agent@127.0.0.1:{agent.processes[0].sip_ports['udp']}"
    process = caller.processes[0]
    pending = [caller.place(CallSpec(uri=uri, talk_s=TALK_S)) for _ in range(CALLS)]
    for call in pending:
        call.wait_setup(timeout=30)
    gevent.sleep(3.0)
    # The whole caller process stops: nothing reads its sockets, the agent keeps sending.
    os.kill(process.pid, signal.SIGSTOP)
    try:
        time.sleep(STOPPED_S)  # a real sleep: the stopped process's pipe must not be read meanwhile
    finally:
        os.kill(process.pid, signal.SIGCONT)
    records = [call.wait_record(timeout=TALK_S + 60) for call in pending]
    caller.stop()  # the process's last health report carries its final counts
    agent.stop()
    assert agent.processes[0].socket_drops == {"sip": 0, "media": 0}  # the far side lost nothing
    for record in records:
        media = record.media
        assert record.failure is None and media.local_rtp_port is not None
        # A receive buffer holds a few hundred datagrams; 6 s of 50 packets/s overflow it.
        assert media.socket_drops > 0
        # pjsua's count of lost packets (RFC 3550 sequence gaps) is exactly the kernel's drops on
        # the call's own RTP socket: the agent sent every packet, only our socket dropped some.
        assert media.rx_lost == media.socket_drops
    assert process.socket_drops["media"] == sum(r.media.socket_drops for r in records)
    assert process.socket_drops["sip"] == 0
