"""A scenario's `capture` section: the run's media in captures/media.pcap, signed with the rest."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from callproof.harness.errors import ExitCode
from callproof.reports.keys import default_key_path, public_path
from tests.cli import callproof
from tests.run.helpers import read_calls, scenario_file


def _capturing_scenario(tmp_path, seconds=None, **sections):
    return scenario_file(tmp_path / "capture.yaml", "embedded", sla={},
                         load={"peak_concurrent": 3, "duration_s": 6},
                         agents={"count": 4, "ring_delay_s": 0.1, "mode": "echo"},
                         capture={"enabled": True, "seconds": seconds}, **sections)


@pytest.mark.peers  # the run starts dumpcap
@pytest.mark.e2e
def test_the_runs_media_is_captured_and_analyzed_like_any_capture(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("dumpcap may capture as root only here (CI runs as root)")
    out = tmp_path / "run"
    result = callproof("run", str(_capturing_scenario(tmp_path)), "--out", str(out), "--quiet", timeout=180)
    assert result.returncode in (0, 4), result.stderr
    pcap = out / "captures" / "media.pcap"
    answered = [c for c in read_calls(out) if c["answer_ms"] is not None]
    assert len(answered) >= 6
    control = [json.loads(line) for line in (out / "control.jsonl").read_text().splitlines()]
    answered += [c for c in control if c["answer_ms"] is not None]  # the control leg's calls are ours too

    analyzed = callproof("analyze", str(pcap), "--json")
    assert analyzed.returncode == 0, analyzed.stderr
    # The filter takes our engines' port ranges; another program's packets to a port of them (a stream
    # another run left behind) may pass it: the run's streams are the ones with both ends ours.
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    ranges = next(e["ranges"] for e in events if e["kind"] == "media_ports").values()

    def ours(port: int) -> bool:
        return any(first <= port <= last for first, last in ranges)

    streams = [s for s in json.loads(analyzed.stdout) if ours(s["src_port"]) and ours(s["dst_port"])]
    assert len(streams) == 2 * len(answered)  # each call: caller -> agent and the agent's echo back
    assert all(s["lost"] == 0 and s["packets"] > 20 for s in streams)

    # Wireshark, independently, sees the same streams with the same packet counts.
    tshark = subprocess.run(["tshark", "-q", "-o", "rtp.heuristic_rtp:TRUE", "-z", "rtp,streams", "-r", str(pcap)],
                            capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in tshark.splitlines() if "0x" in line]
    ssrcs = {s["ssrc"] for s in streams}
    assert sorted((int(r[6], 16), int(r[8])) for r in rows if int(r[6], 16) in ssrcs) == sorted(
        (s["ssrc"], s["packets"]) for s in streams)

    assert b"SIP/2.0" not in pcap.read_bytes()  # media only: SIP carries digest responses
    verified = callproof("verify", str(out), "--pubkey", str(public_path(default_key_path())))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "captures/media.pcap" in (out / "SHA256SUMS").read_text()


@pytest.mark.e2e
def test_without_dumpcap_the_run_stops_before_any_call_or_probe(tmp_path):
    path = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)
                           if not (shutil.which("dumpcap", path=d)))
    out = tmp_path / "run"
    scenario = _capturing_scenario(tmp_path, seconds=5, probes={"call_interval_s": 1, "options_interval_s": 1})
    result = callproof("run", str(scenario), "--out", str(out), "--quiet", env={"PATH": path})
    assert result.returncode == ExitCode.HARNESS_ERROR, result.stderr
    assert result.stderr.strip().splitlines() == [
        "callproof: capture.enabled needs dumpcap, which is not installed "
        "(Debian package wireshark-common, which tshark brings)"
    ]
    assert read_calls(out) == []
    assert (out / "probes.jsonl").read_text() == ""
