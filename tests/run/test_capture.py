"""A scenario's `capture` section: the run's media in captures/media.pcap, signed with the rest."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from callproof.harness.errors import ExitCode
from callproof.harness.run.runner import recorded_media_ports
from callproof.reports.keys import default_key_path, public_path
from tests.cli import callproof, start_callproof
from tests.reports.synthetic_run import make_run
from tests.run.helpers import read_calls, scenario_file
from tests.waiting import wait_until

pytestmark = pytest.mark.any_engine  # what a capture holds does not depend on the engine (make test: the built pass)


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
    # The filter takes our engines' port ranges; at the run's end the capture keeps only the ports
    # its records name: every stream in it is one of the run's calls.
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    trimmed = next(e for e in events if e["kind"] == "capture_trimmed")
    recorded = recorded_media_ports(out)
    assert trimmed["ports"] == len(recorded) and trimmed["kept"] > 0
    streams = json.loads(analyzed.stdout)
    assert all(s["src_port"] in recorded or s["dst_port"] in recorded for s in streams)
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


def _descendants(pid: int) -> dict[int, str]:
    """The processes below `pid`, by PID, with their names (from /proc)."""
    children: dict[int, list[int]] = {}
    names = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat", "rb").read()
            except OSError:
                continue
            name, rest = stat[stat.index(b"(") + 1:stat.rindex(b")")], stat[stat.rindex(b")") + 2:].split()
            children.setdefault(int(rest[1]), []).append(int(entry))
            names[int(entry)] = name.decode(errors="replace")
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found[child] = names[child]
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return b") Z" not in open(f"/proc/{pid}/stat", "rb").read()
    except OSError:
        return False


@pytest.mark.peers  # the run starts dumpcap
@pytest.mark.e2e
def test_dumpcap_dies_with_a_killed_run_and_report_signs_what_was_complete(tmp_path):
    """Issue 14, section 4: after SIGKILL of `callproof run`, dumpcap kept running and writing the capture, and a
    bundle signed then no longer verified."""
    if os.geteuid() != 0:
        pytest.skip("dumpcap may capture as root only here (CI runs as root)")
    out = tmp_path / "run"
    run = start_callproof("run", str(_capturing_scenario(tmp_path)), "--out", str(out), "--quiet")
    try:
        wait_until(lambda: (out / "events.jsonl").exists() and '"kind":"capture"' in
                   (out / "events.jsonl").read_text(), 90, what="the capture's start")
        dumpcaps = [pid for pid, name in _descendants(run.pid).items() if name == "dumpcap"]
        assert len(dumpcaps) == 1
        time.sleep(1.0)  # calls in progress, packets flowing
        run.kill()
        run.wait(timeout=10)
        wait_until(lambda: not _alive(dumpcaps[0]), 10, what="dumpcap's end")
    finally:
        if run.poll() is None:
            run.kill()
    pcap = out / "captures" / "media.pcap"
    size = pcap.stat().st_size
    time.sleep(1.0)
    assert pcap.stat().st_size == size  # nothing writes it any more
    reported = callproof("report", str(out))
    assert reported.returncode == 0, reported.stderr
    verified = callproof("verify", str(out), "--pubkey", str(public_path(default_key_path())))
    assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.e2e
def test_report_signs_nothing_while_a_program_still_writes_a_file_of_the_bundle(tmp_path):
    """The capture a stray dumpcap still grows: `report` names the file and the process, signs nothing; once that
    process has ended, it signs."""
    out = tmp_path / "run"
    make_run(out, calls=20)
    (out / "captures").mkdir(exist_ok=True)
    pcap = out / "captures" / "media.pcap"
    pcap.write_bytes(b"")
    writer = subprocess.Popen(["sh", "-c", f"exec 3>>'{pcap}'; while :; do printf x >&3; sleep 0.1; done"])
    try:
        wait_until(lambda: pcap.stat().st_size > 0, 10, what="the writer")
        refused = callproof("report", str(out))
        assert (refused.returncode, refused.stdout) == (2, "")
        assert refused.stderr == (f"callproof: {pcap} is still being written by process {writer.pid}, so callproof "
                                  "signs nothing yet: stop that process (a capture left running by an interrupted "
                                  "run), then run `callproof report` again\n")
        assert not (out / "SHA256SUMS.sig").exists()
    finally:
        writer.kill()
        writer.wait(timeout=10)
    reported = callproof("report", str(out))
    assert reported.returncode == 0, reported.stderr
    assert "captures/media.pcap" in (out / "SHA256SUMS").read_text()
