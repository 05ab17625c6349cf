"""A scenario's own programs (issue 14, section 1): their output reaches the bundle capped, with a note of what
was left out; they get the environment without the run's secrets; and the run's checks and listing of them."""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path

import pytest

from callproof.harness.errors import BadInput
from callproof.harness.run import scenario_commands
from callproof.harness.run.processes import MAX_OUTPUT_BYTES, CappedOutput, ScenarioProcesses, scenario_environment
from callproof.harness.scenario.loader import load_scenario
from callproof.harness.scenario.model import Fault, Permits, ProcessSpec
from callproof.reports.keys import default_key_path
from tests.run.helpers import scenario_file
from tests.waiting import wait_until


def test_capped_output_keeps_the_first_and_the_last_half_and_says_what_it_left_out(tmp_path):
    output = CappedOutput(tmp_path / "log", limit=100)
    data = bytes(range(256)) * 4  # 1,024 bytes, in uneven chunks
    for start in range(0, len(data), 37):
        output.write(data[start:start + 37])
    output.close()
    output.write(b"after the end")  # a grandchild still writing: dropped, the log does not change
    assert (tmp_path / "log").read_bytes() == (
        data[:50] + b"\n[callproof: 924 bytes of output left out here; a log keeps the first 50 and the last 50]\n"
        + data[-50:])


def test_capped_output_under_its_limit_is_the_output(tmp_path):
    output = CappedOutput(tmp_path / "log", limit=100)
    output.write(b"a" * 60)
    output.write(b"b" * 40)
    output.close()
    assert (tmp_path / "log").read_bytes() == b"a" * 60 + b"b" * 40


def process(name: str, command: str) -> ProcessSpec:
    return ProcessSpec(name=name, command=("sh", "-c", command), ready_port=None, ready_protocol="udp",
                       ready_timeout_s=5)


def test_a_process_that_writes_megabytes_leaves_a_log_of_one_mebibyte(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = ScenarioProcesses(tmp_path, logs)
    # 6,888,896 bytes, then it says so in a file and stays up
    processes.start(process("chatty", "seq 1 1000000; touch written; exec sleep 60"))
    try:
        wait_until(lambda: (tmp_path / "written").exists(), 30, what="the end of seq's output")
        assert processes.running["chatty"].poll() is None
    finally:
        processes.stop_all()
    log = (logs / "process-chatty.log").read_bytes()
    total = sum(len(f"{n}\n") for n in range(1, 1_000_001))
    head, note, tail = log.partition(b"\n[callproof: ")
    assert len(head) == len(tail.split(b"]\n", 1)[1]) == MAX_OUTPUT_BYTES // 2
    assert head.startswith(b"1\n2\n3\n") and log.endswith(b"\n999999\n1000000\n")
    assert note and tail.startswith(f"{total - MAX_OUTPUT_BYTES:,} bytes of output left out here".encode())
    assert processes.running["chatty"].returncode == -signal.SIGTERM


def test_the_scenarios_programs_get_no_secret_of_the_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("CALLPROOF_NUMBERS_USER", "alice-user")
    monkeypatch.setenv("CALLPROOF_NUMBERS_PASSWORD", "s3cret-digest-password")
    monkeypatch.setenv("CALLPROOF_MASTER_SECRET", "0123456789abcdef0123456789abcdef")
    monkeypatch.setenv("CALLPROOF_HARMLESS", "kept")
    scenario = load_scenario(scenario_file(
        tmp_path / "s.yaml", "sip:600@127.0.0.1:5999",
        target={"uri": "sip:600@127.0.0.1:5999", "credentials": {"username_env": "CALLPROOF_NUMBERS_USER",
                                "password_env": "CALLPROOF_NUMBERS_PASSWORD"}}))
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = ScenarioProcesses(tmp_path, logs, env=scenario_environment(scenario))
    processes.start(process("nosy", "env"))
    processes.running["nosy"].wait(timeout=10)
    processes.stop_all()
    seen = (logs / "process-nosy.log").read_text()
    assert "CALLPROOF_HARMLESS=kept" in seen
    for secret in ("alice-user", "s3cret-digest-password", "0123456789abcdef0123456789abcdef"):
        assert secret not in seen


# -- the opt-in and the listing ----------------------------------------------------------------------------------

def failover_like(tmp_path: Path, *, faults=(), processes=True):
    scenario = load_scenario(scenario_file(tmp_path / "s.yaml", "sip:600@127.0.0.1:5999", load={"duration_s": 60}))
    specs = (process("backend", "sipp -sn uas -p 5999"),) if processes else ()
    return dataclasses.replace(scenario, processes=specs, faults=tuple(faults))


def test_a_scenario_that_starts_programs_is_refused_unless_allowed(tmp_path):
    scenario = failover_like(tmp_path)
    with pytest.raises(BadInput) as refused:
        scenario_commands.check_allowed(scenario, Permits(), key_path=tmp_path / "key")
    assert str(refused.value) == (f"{tmp_path / 's.yaml'} starts programs of its own (processes (1)), which would "
                                  "run with your rights; read them, and run it with --allow-scenario-commands if "
                                  "you trust them")
    scenario_commands.check_allowed(scenario, Permits(commands=True), key_path=tmp_path / "key")
    plain = failover_like(tmp_path, processes=False)
    scenario_commands.check_allowed(plain, Permits(), key_path=None)  # nothing to allow


@pytest.mark.parametrize("key", [None, "default"])
def test_scenario_commands_are_never_signed_with_the_per_user_key(tmp_path, key):
    scenario = failover_like(tmp_path)
    with pytest.raises(BadInput) as refused:
        scenario_commands.check_allowed(scenario, Permits(commands=True),
                                        key_path=None if key is None else default_key_path())
    assert str(refused.value) == (
        "--allow-scenario-commands lets the scenario's programs read any file you can, your per-user signing key "
        "included; sign such a run with a key kept for it: --key PATH (callproof keygen --out PATH)")


def test_a_signal_fault_without_processes_needs_its_pid_file_named(tmp_path):
    pid_file = (tmp_path / "pbx.pid").resolve()
    fault = Fault(at_s=5, action="signal", command=None, pid_file=pid_file, signal=signal.SIGTERM, process=None)
    scenario = failover_like(tmp_path, faults=[fault], processes=False)
    with pytest.raises(BadInput) as refused:
        scenario_commands.check_allowed(scenario, Permits(commands=True), key_path=tmp_path / "key")
    assert str(refused.value) == (f"faults[0] signals the PID in {pid_file}, and a signal goes only to a process "
                                  f"this run starts (processes) or to the PID in a file you name with "
                                  f"--allow-pid-file {pid_file}")
    scenario_commands.check_allowed(scenario, Permits(commands=True, pid_files=frozenset({pid_file})),
                                    key_path=tmp_path / "key")


def test_the_listing_shows_each_program_as_it_runs_with_control_characters_escaped(tmp_path):
    faults = [
        Fault(at_s=30, action="stop", command=None, pid_file=None, signal=signal.SIGKILL, process="backend"),
        Fault(at_s=10, action="command", command=("docker", "stop", "pbx a\x1b[2K"), pid_file=None,
              signal=signal.SIGTERM, process=None),
        Fault(at_s=20, action="signal", command=None, pid_file=tmp_path / "pbx.pid", signal=signal.SIGHUP,
              process=None),
    ]
    assert scenario_commands.listing(failover_like(tmp_path, faults=faults)) == [
        "process backend: sh -c 'sipp -sn uas -p 5999'",
        "fault at 10 s: docker stop 'pbx a\\x1b[2K'",
        f"fault at 20 s: SIGHUP to the PID in {tmp_path / 'pbx.pid'}",
        "fault at 30 s: SIGKILL to process backend",
    ]
