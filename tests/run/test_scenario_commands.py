"""A scenario from the other party on `callproof run` (issue 14, section 1), as the issue tried it: its programs
run only when allowed, are listed before the run starts, never with the per-user key, and a program that
copies the signing key into its log gets nothing signed; their output reaches the bundle capped; a signal
fault reaches a process the run started. Each case: the exit code, the sentence, and nothing changed
outside the test's folder."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from callproof.reports import keys
from tests.cli import ROOT, callproof

pytestmark = pytest.mark.e2e  # `callproof run` (tests/markers.py)


def scenario(folder: Path, *, processes=(), faults=(), duration_s: float = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "name": "hostile", "description": "A scenario from someone else.", "seed": 1,
        "target": {"uri": "embedded"},
        "load": {"mode": "concurrency", "peak_concurrent": 1, "duration_s": duration_s, "max_cps": 5,
                 "max_concurrent": 2, "control_fraction": 0},
        "call": {"codecs": ["PCMU"], "ring_timeout_s": 5, "talk_time": {"distribution": "fixed", "value_s": 1}},
        "agents": {"count": 1},
        "probes": {"call_interval_s": None, "options_interval_s": None},
        "processes": list(processes), "faults": list(faults),
        "sla": {"answer_rate_min": None, "isa_max": None, "first_answer_s_max": None, "service_level": None,
                "abandonment_max": None, "setup_delay_p95_ms_max": None, "mos_cqe_p5_min": None,
                "one_way_delay_p95_ms_max": None, "loss_p95_max": None, "availability_min": None,
                "rto_s_max": None},
    }
    path = folder / "hostile.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def listing(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    out = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        facts = os.lstat(path)
        out[str(path.relative_to(root))] = (facts.st_size, facts.st_mtime_ns)
    return out


class Outside:
    """What a run must not change: the checkout, the real per-user key's folder, the test folder's siblings."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.before = self.snapshot()

    def snapshot(self) -> tuple:
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout
        return (status, listing(keys.default_key_path().parent), listing(self.tmp_path.parent, self.tmp_path))

    def unchanged(self) -> None:
        assert self.snapshot() == self.before


@pytest.fixture
def outside(tmp_path):
    return Outside(tmp_path)


@pytest.fixture
def env(tmp_path):
    """The user's config home inside the test's folder: the per-user key the run would make lands there."""
    return {"XDG_CONFIG_HOME": str(tmp_path / "config")}


@pytest.fixture
def run_key(tmp_path) -> Path:
    (tmp_path / "keys").mkdir()
    keys.generate(tmp_path / "keys" / "for-their-scenarios")
    return tmp_path / "keys" / "for-their-scenarios"


def run(tmp_path, *args, env=None, timeout=180) -> subprocess.CompletedProcess:
    return callproof("run", *args, "--quiet", env=env, cwd=tmp_path, timeout=timeout)


def test_a_scenario_that_starts_programs_is_refused_at_once_without_the_flag(tmp_path, outside, env):
    path = scenario(tmp_path / "theirs", processes=[{"name": "thief", "command": "sh -c 'cat ~/.ssh/id_*'"}],
                    faults=[{"at_s": 1, "action": "command", "command": "touch /tmp/owned"}])
    result = run(tmp_path, str(path), "--out", str(tmp_path / "out"), env=env)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (f"callproof: {path} starts programs of its own (processes (1), faults (1)), which would "
                             "run with your rights; read them, and run it with --allow-scenario-commands if you "
                             "trust them\n")
    assert not (tmp_path / "out").exists() and not (tmp_path / "config" / "callproof").exists()
    outside.unchanged()


def test_scenario_commands_are_refused_with_the_per_user_key(tmp_path, outside, env):
    path = scenario(tmp_path / "theirs", processes=[{"name": "backend", "command": "sleep 30"}])
    result = run(tmp_path, str(path), "--allow-scenario-commands", "--out", str(tmp_path / "out"), env=env)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "callproof: --allow-scenario-commands lets the scenario's programs read any file you can, your per-user "
        "signing key included; sign such a run with a key kept for it: --key PATH (callproof keygen --out PATH)\n")
    assert not (tmp_path / "out").exists()
    outside.unchanged()


def test_a_program_that_copies_the_signing_key_into_its_log_gets_nothing_signed(tmp_path, outside, env, run_key):
    """The issue's attack: `cat` of the key into logs/process-*.log, which the run then signed."""
    path = scenario(tmp_path / "theirs", processes=[{"name": "thief", "command": f"cat {run_key}"}])
    out = tmp_path / "out"
    result = run(tmp_path, str(path), "--allow-scenario-commands", "--key", str(run_key), "--out", str(out), env=env)
    # The end of a run that placed calls: summary.json is kept, the step that failed is named, exit 3.
    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines() == [
        f"callproof: this run starts 1 program of the scenario's, with your rights, in {path.parent}:",
        f"  process thief: cat {run_key}",
        f"callproof: writing the reports and signing the bundle failed: {out / 'logs' / 'process-thief.log'} holds "
        f"the private signing key {run_key}, so callproof signs nothing with it: that key is no longer secret; make "
        "a new one (callproof keygen) and tell whoever trusts the old one to stop; summary.json holds the measured "
        f"figures, the traceback is in {out / 'logs' / 'harness.log'}; `callproof report {out}` rebuilds the "
        "summary, the reports and the signature",
    ]
    assert (out / "logs" / "process-thief.log").read_bytes() == run_key.read_bytes()  # the copy, as the issue saw it
    assert not (out / "SHA256SUMS.sig").exists() and not (out / "SHA256SUMS").exists()
    assert not (tmp_path / "config" / "callproof").exists()  # the per-user key was never made, nor read
    outside.unchanged()


def test_allowed_programs_run_listed_their_output_capped_and_a_fault_signals_the_runs_own(tmp_path, outside, env,
                                                                                          run_key):
    theirs = tmp_path / "theirs"
    path = scenario(theirs, duration_s=5, processes=[
        # 6.9 MB of output, then a child whose PID it writes down, as a daemon writes its worker's.
        {"name": "chatty", "command": "sh -c 'seq 1 1000000; sleep 60 & echo $! > chatty.pid; exec sleep 61'"},
    ], faults=[
        {"at_s": 2, "action": "signal", "pid_file": "chatty.pid", "signal": "SIGKILL"},
        {"at_s": 3, "action": "command", "command": "sh -c 'echo fault output; ls /proc/self/fd; exit 3'"},
    ])
    out = tmp_path / "out"
    result = run(tmp_path, str(path), "--allow-scenario-commands", "--key", str(run_key), "--out", str(out), env=env)
    assert result.returncode in (4, 5), result.stderr  # INCONCLUSIVE: no SLA line decides; INVALID on a busy machine
    assert result.stderr.splitlines()[:4] == [
        f"callproof: this run starts 3 programs of the scenario's, with your rights, in {theirs}:",
        "  process chatty: sh -c 'seq 1 1000000; sleep 60 & echo $! > chatty.pid; exec sleep 61'",
        f"  fault at 2 s: SIGKILL to the PID in {theirs / 'chatty.pid'}",
        "  fault at 3 s: sh -c 'echo fault output; ls /proc/self/fd; exit 3'",
    ]
    log = (out / "logs" / "process-chatty.log").read_bytes()
    assert len(log) < (1 << 20) + 200 and log.startswith(b"1\n2\n") and log.endswith(b"\n1000000\n")
    assert b"bytes of output left out here" in log
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    signalled, command = [e for e in events if e["kind"] == "fault"]
    child = int((theirs / "chatty.pid").read_text())
    assert (signalled["ok"], signalled["detail"]) == (True, f"SIGKILL to PID {child} from chatty.pid")
    assert (command["ok"], command["error"]) == (False, "exit code 3 (logs/fault-1.log)")
    fault_log = (out / "logs" / "fault-1.log").read_text().split()
    assert fault_log[:2] == ["fault", "output"] and fault_log[2:] == ["0", "1", "2", "3"]  # no fd of the key's
    checked = callproof("verify", str(out), "--pubkey", str(keys.public_path(run_key)))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not (tmp_path / "config" / "callproof").exists()
    outside.unchanged()
