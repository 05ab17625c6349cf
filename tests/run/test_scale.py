"""200 concurrent two-way G.711 calls held for 30 s against SIPp's echo, no loss on our side."""

from __future__ import annotations

import json

import pytest

from tests.cli import callproof
from tests.peers import sipp
from tests.run.helpers import read_calls, scenario_file

pytestmark = [pytest.mark.peers, pytest.mark.e2e]  # SIPp and `callproof run` (tests/markers.py)


@pytest.fixture(scope="module")
def echo(run_dir):
    peer = sipp.echo_uas(run_dir)  # one echo holds 200 calls (field notes: up to ~400)
    yield peer
    peer.stop()


def test_200_concurrent_calls_for_30_s_lose_nothing_on_our_side(tmp_path, echo):
    out = tmp_path / "out"
    path = scenario_file(tmp_path / "scale.yaml", echo.uri,
                         load={"peak_concurrent": 200, "duration_s": 31, "max_cps": 100, "max_concurrent": 200},
                         call={"ring_timeout_s": 10, "talk_time": {"distribution": "fixed", "value_s": 30}},
                         sla={"answer_rate_min": 0.95, "loss_p95_max": 0.01})
    result = callproof("run", str(path), "--out", str(out), "--quiet", timeout=300)
    assert result.returncode == 0, result.stderr
    calls = read_calls(out)
    held = [c for c in calls if c["answer_ms"] is not None and c["bye_ms"] - c["answer_ms"] >= 29_900]
    assert len(held) >= 200
    engine = json.loads((out / "engine.json").read_text())
    assert engine["provisioned_calls"] == 200
    summary = json.loads((out / "summary.json").read_text())
    assert summary["generator"]["valid"] is True and summary["verdict"] == "PASS"
    for call in held:
        media = call["media"]
        assert media["rx_lost"] == 0 and media["rx_discard"] == 0 and media["jbuf_discard"] == 0
        assert 1490 <= media["rx_packets"] <= 1510  # 30 s of 20 ms packets
        assert 1490 <= media["tx_packets"] <= 1510
