"""One process of ours holds 800 concurrent two-way G.711 calls for 30 s (the built engine)."""

from __future__ import annotations

import gevent
import pytest

from callproof.harness.run.ports import pjsua_range
from callproof.sip.settings import CallSpec, EngineSettings
from tests.peers import sipp

pytestmark = [pytest.mark.sip_engine, pytest.mark.peers, pytest.mark.heavy]  # against SIPp echoes

CALLS, PER_ECHO, HOLD_S = 800, 200, 30.0
RAMP_INTERVAL_S = 0.01


def test_one_process_holds_800_calls_with_no_loss(engines, run_dir, media_ports):
    ports = media_ports.claim(2 * CALLS + 8)
    pool = engines.start(EngineSettings(name="caller", codecs=("PCMU",), max_calls=1024, rtp_port=ports.start,
                                        rtp_port_range=pjsua_range(len(ports))))
    if pool.capacity < CALLS:
        pytest.skip(f"this pjsua2 holds {pool.capacity} calls per process; `make test` runs this on the built engine")
    echoes = [sipp.echo_uas(run_dir) for _ in range(CALLS // PER_ECHO)]  # one echo socket drops above ~400
    try:
        pending = []
        for i in range(CALLS):  # 100 calls/s, each talking until the last has held HOLD_S: 800 up together
            talk_s = HOLD_S + (CALLS - i) * RAMP_INTERVAL_S
            pending.append(pool.place(CallSpec(uri=echoes[i % len(echoes)].uri, talk_s=talk_s, ring_timeout_s=30)))
            gevent.sleep(RAMP_INTERVAL_S)
        records = [p.wait_record(timeout=HOLD_S + 120) for p in pending]
    finally:
        for echo in echoes:
            echo.stop()
    assert len(pool.processes) == 1
    assert all(r.failure is None for r in records)
    held = [r for r in records if r.bye_ms - r.answer_ms >= HOLD_S * 1000 - 100]  # overlapping for HOLD_S
    assert len(held) == CALLS
    for record in held:
        media = record.media
        assert media.rx_lost == 0 and media.rx_discard == 0 and media.jbuf_discard == 0
        # Every packet the echo sent back while the call was up, less a few at each end (the echo's
        # first answer and our BYE race the stream; 1,489 of 1,500 seen on a busy machine, none lost).
        assert media.rx_packets >= HOLD_S * 50 - 25
