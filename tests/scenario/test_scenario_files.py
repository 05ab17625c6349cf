"""The shipped scenario files, the schema, and the typed model they load into."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from callproof.harness.scenario import plan
from callproof.harness.scenario.loader import bundled_dir, list_bundled, load_scenario, media_settings, scenario_schema
from callproof.harness.scenario.model import (
    EMBEDDED,
    Agents,
    Call,
    Capture,
    Load,
    Probes,
    ProcessSpec,
    Scenario,
    ScenarioOverrides,
    Sla,
    Target,
)
from callproof.harness.scenario.yaml_source import read_yaml
from callproof.sip.settings import SRTP_MODES, SUPPORTED_CODECS, TRANSPORTS
from tests.docs.markdown import doc, fenced_block

REPO_SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
FILES = sorted(REPO_SCENARIOS.glob("*.yaml"))


@pytest.fixture(autouse=True)
def sip_credentials(monkeypatch):
    monkeypatch.setenv("CALLPROOF_SIP_USER", "loadtest")
    monkeypatch.setenv("CALLPROOF_SIP_PASSWORD", "s3cret-from-env")
    monkeypatch.setenv("CALLPROOF_AGENT_PASSWORD", "agent-s3cret-from-env")


def test_the_schema_is_a_valid_2020_12_schema():
    schema = scenario_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_the_package_ships_the_repository_folder():
    assert bundled_dir().resolve() == REPO_SCENARIOS
    assert {p.name for p in FILES} >= {"smoke.yaml", "peak-200.yaml", "soak.yaml", "failover.yaml"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_file_validates_against_the_schema_and_loads(path):
    data = read_yaml(path.read_text(), str(path)).data
    jsonschema.Draft202012Validator(scenario_schema()).validate(data)
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.source_text == path.read_text()
    assert scenario.run_text == scenario.source_text
    assert path.read_text().startswith("# yaml-language-server: $schema=schema.json\n")


def test_bundled_lookup_by_name():
    scenario = load_scenario("smoke")
    assert scenario.path == bundled_dir() / "smoke.yaml"
    assert scenario.base_dir == bundled_dir()
    names = [name for name, _ in list_bundled()]
    assert names == [p.stem for p in FILES]
    assert all(description for _, description in list_bundled())


def test_a_local_file_wins_over_a_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smoke").write_text((REPO_SCENARIOS / "smoke.yaml").read_text().replace("seed: 1", "seed: 99"))
    # A copy: a link to the checkout's prompts would name files outside the scenario's folder (issue 14).
    shutil.copytree(REPO_SCENARIOS / "prompts", tmp_path / "prompts")
    assert load_scenario("smoke").seed == 99


def test_schema_lists_match_the_sip_engine():
    defs = scenario_schema()["$defs"]
    assert tuple(defs["call"]["properties"]["codecs"]["items"]["enum"]) == SUPPORTED_CODECS
    assert tuple(defs["target"]["properties"]["transport"]["enum"]) == TRANSPORTS
    assert tuple(defs["target"]["properties"]["srtp"]["enum"]) == SRTP_MODES


def _fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_schema_sections_and_model_fields_agree():
    defs = scenario_schema()["$defs"]
    resolved = {"username", "password"}  # filled from the environment
    assert set(defs["target"]["properties"]) == _fields(Target)
    assert (
        set(defs["target"]["properties"]["credentials"]["properties"])
        == _fields(type(load_scenario("peak-200").target.credentials)) - resolved
    )
    assert set(defs["load"]["properties"]) == _fields(Load)
    assert set(defs["call"]["properties"]) == _fields(Call)
    assert set(defs["agents"]["properties"]) == _fields(Agents) - {"password"}  # password: from password_env
    assert set(defs["probes"]["properties"]) == _fields(Probes)
    assert set(defs["capture"]["properties"]) == _fields(Capture)
    assert set(defs["process"]["properties"]) == _fields(ProcessSpec)
    assert set(defs["sla"]["properties"]) == _fields(Sla)
    media = set(defs["media"]["properties"]) - {"jitter_buffer"}
    media |= {f"jb_{k}" for k in defs["media"]["properties"]["jitter_buffer"]["properties"]}
    assert media == _fields(type(load_scenario("smoke").media))
    top = set(scenario_schema()["properties"])
    assert top == _fields(Scenario) - {"path", "source_text", "run_text", "overrides", "notes"}


# --- what the shipped scenarios promise ---------------------------------------------


def _expected_calls(scenario: Scenario) -> float:
    """Concurrency mode: call-seconds the plan asks for / seconds each call holds a slot."""
    t = np.arange(0, scenario.load.duration_s, 0.01)
    call_seconds = plan.concurrency_at(scenario.load, t).sum() * 0.01
    hold_s = plan.expected_duration_s(scenario.call.talk_time) + scenario.agents.ring_delay_s
    return call_seconds / hold_s


def test_smoke_is_a_short_embedded_run_with_enough_calls():
    smoke = load_scenario("smoke")
    assert smoke.target.uri == EMBEDDED
    assert smoke.load.duration_s <= 60
    # ISA <= 3% passes only when the 95% Wilson upper bound of 0 failures in n calls,
    # 1.96^2 / (n + 1.96^2), is at most 0.03: n >= 125.
    assert _expected_calls(smoke) >= 125
    assert smoke.agents.count > plan.planned_peak_concurrency(smoke.load)
    assert smoke.call.prompt == bundled_dir() / "prompts" / "hello.wav"
    # Lines a one-minute run cannot decide are off; the rest stay at their defaults.
    assert smoke.sla.availability_min is None and smoke.sla.rto_s_max is None
    assert smoke.sla.one_way_delay_p95_ms_max is None
    assert smoke.sla.answer_rate_min == 0.95 and smoke.sla.isa_max == 0.03


def test_peak_200_runs_twice_a_stated_peak_against_a_uri():
    peak = load_scenario("peak-200")
    assert peak.load.multiplier == 2.0
    assert plan.planned_peak_rate(peak.load) == 2 * peak.load.peak_cps
    assert peak.target.uri == "sip:600@pbx.example.com"
    assert peak.target.credentials.username == "loadtest"
    assert peak.target.credentials.password == "s3cret-from-env"
    assert "s3cret" not in repr(peak)
    assert "s3cret" not in peak.source_text


def test_soak_holds_for_hours():
    soak = load_scenario("soak")
    assert soak.load.shape == "soak"
    assert soak.load.hold_s >= 3 * 3600


def test_asterisk_ci_agents_register_to_the_pbx_with_the_password_from_the_environment():
    ci = load_scenario("asterisk-ci")
    agents = ci.agents
    assert (agents.register_to, agents.password_env, agents.realm) == (
        "sip:asterisk:5060",
        "CALLPROOF_AGENT_PASSWORD",
        "*",
    )
    assert [agents.username(n) for n in range(1, agents.count + 1)] == ["agent1", "agent2", "agent3", "agent4"]
    assert agents.password == "agent-s3cret-from-env"
    assert "agent-s3cret" not in repr(ci)
    assert agents.handle_time is None  # the caller's BYE ends each call
    assert ci.call.agent_marker == "*9"
    assert ci.load.duration_s == 240 and ci.load.hold_s == 230  # enough to decide its lines (test_bundled_decidable)


def test_failover_processes_match_the_proxy_configuration():
    failover = load_scenario("failover")
    by_name = {p.name: p for p in failover.processes}
    # The proxy is docker/kamailio/kamailio.cfg, set up by the -A defines on its command line.
    assert (failover.base_dir / "failover" / "kamailio.cfg").resolve() == (
        failover.base_dir.parent / "docker" / "kamailio" / "kamailio.cfg"
    ).resolve()
    defines = dict(a.split("=", 1) for a in by_name["proxy"].command if "=" in a)
    listen_port = int(defines["LISTEN"].removeprefix("udp:127.0.0.1:"))
    assert defines["DS_LIST"] == '"failover/dispatcher.list"' and defines["DS_PROBING_MODE"] == "0"
    backends = re.findall(
        r"^1 sip:127\.0\.0\.1:(\d+)$", (failover.base_dir / "failover" / "dispatcher.list").read_text(), re.M
    )
    assert by_name["proxy"].ready_port == listen_port
    assert failover.target.uri == f"sip:600@127.0.0.1:{listen_port}"
    assert sorted(int(p) for p in backends) == sorted(
        [by_name["backend-a"].ready_port, by_name["backend-b"].ready_port]
    )
    (fault,) = failover.faults
    assert (fault.action, fault.process, fault.signal.name) == ("stop", "backend-a", "SIGKILL")
    assert 0 < fault.at_s < failover.load.duration_s
    assert failover.probes.call_interval_s == 1


# --- model details ----------------------------------------------------------------------


MINIMAL = """\
name: minimal
description: only the required keys
target:
  uri: sip:600@127.0.0.1:5070   # a comment that must survive
load:
  peak_concurrent: 2
  duration_s: 30
  max_cps: 5
  max_concurrent: 4
call:
  talk_time: {distribution: fixed, value_s: 1}
"""


def test_defaults_come_from_the_schema(tmp_path):
    (tmp_path / "m.yaml").write_text(MINIMAL)
    s = load_scenario(tmp_path / "m.yaml")
    assert s.seed == 0
    assert (s.target.transport, s.target.srtp, s.target.tls_verify_server, s.target.register) == (
        "udp",
        "off",
        True,
        False,
    )
    assert (s.load.mode, s.load.multiplier, s.load.shape, s.load.ramp_up_s, s.load.processes) == (
        "concurrency",
        1.0,
        "steady",
        0.0,
        None,
    )
    assert s.call.codecs == ("PCMU", "PCMA")
    assert (s.call.ring_timeout_s, s.call.patience_s, s.call.record_fraction, s.call.prompt) == (30.0, 60.0, 0.0, None)
    assert s.load.breaker.min_answer_rate == 0.5
    assert s.sla.service_level.within_s == 20.0 and s.sla.rto_s_max == 600.0
    assert s.faults == () and s.processes == ()
    assert (s.capture.enabled, s.capture.seconds, s.capture.max_mb) == (False, 60.0, 200.0)
    assert media_settings(s).clock_rate == 8000


def test_whole_numbers_in_float_fields_become_floats(tmp_path):
    (tmp_path / "m.yaml").write_text(MINIMAL)
    s = load_scenario(tmp_path / "m.yaml")
    assert type(s.load.duration_s) is float and type(s.load.max_cps) is float
    assert type(s.load.peak_concurrent) is int and type(s.load.max_concurrent) is int
    assert type(s.call.talk_time.value_s) is float


def test_yaml_1_2_booleans_and_exponents(tmp_path):
    text = MINIMAL.replace("  uri: sip:600@127.0.0.1:5070", "  uri: sip:600@127.0.0.1:5070\n  srtp: off")
    text = text.replace("max_cps: 5", "max_cps: 5e1")
    (tmp_path / "m.yaml").write_text(text)
    s = load_scenario(tmp_path / "m.yaml")
    assert s.target.srtp == "off"
    assert s.load.max_cps == 50.0


def test_media_overrides_reach_the_media_settings(tmp_path):
    text = MINIMAL + "  codecs: [G722, PCMU]\nmedia:\n  ptime_ms: 30\n  jitter_buffer: {init_ms: 60, max_ms: 400}\n"
    (tmp_path / "m.yaml").write_text(text)
    settings = media_settings(load_scenario(tmp_path / "m.yaml"))
    assert (settings.clock_rate, settings.ptime_ms, settings.jb_init_ms, settings.jb_max_ms) == (16000, 30, 60, 400)
    assert settings.jb_min_pre_ms == -1


def test_overrides_are_applied_and_written_into_the_run_text(tmp_path):
    (tmp_path / "m.yaml").write_text(MINIMAL)
    overrides = ScenarioOverrides(target_uri="sip:700@10.0.0.5", duration_s=12.5)
    s = load_scenario(tmp_path / "m.yaml", overrides=overrides)
    assert (s.target.uri, s.load.duration_s, s.overrides) == ("sip:700@10.0.0.5", 12.5, overrides)
    assert s.source_text == MINIMAL
    assert s.run_text.splitlines()[0] == '# as run with: --target "sip:700@10.0.0.5" --duration 12.5'
    assert '  uri: "sip:700@10.0.0.5"   # a comment that must survive' in s.run_text
    assert "  duration_s: 12.5\n" in s.run_text
    # The run folder's scenario.yaml reloads to the same run.
    (tmp_path / "as-run.yaml").write_text(s.run_text)
    again = load_scenario(tmp_path / "as-run.yaml")
    assert (again.target, again.load, again.call) == (s.target, s.load, s.call)


def test_relative_paths_and_commands(tmp_path):
    text = MINIMAL + (
        "processes:\n  - name: pbx\n    command: sipp -sn uas -p 5071 -key x 'two words'\n    ready_port: 5071\n"
        "faults:\n  - {at_s: 5, action: signal, pid_file: run/pbx.pid, signal: SIGSTOP}\n"
        "  - {at_s: 9, action: command, command: docker stop pbx1}\n"
    )
    (tmp_path / "m.yaml").write_text(text)
    s = load_scenario(tmp_path / "m.yaml")
    assert s.processes[0].command == ("sipp", "-sn", "uas", "-p", "5071", "-key", "x", "two words")
    assert s.faults[0].pid_file == tmp_path / "run" / "pbx.pid"
    assert s.faults[0].signal.name == "SIGSTOP"
    assert s.faults[1].command == ("docker", "stop", "pbx1")


def test_the_documented_example_loads(tmp_path):
    example = fenced_block(doc("scenarios.md").read_text(), "An annotated example", "yaml")
    # A copy: a link to the checkout's prompts would name files outside the scenario's folder (issue 14).
    shutil.copytree(REPO_SCENARIOS / "prompts", tmp_path / "prompts")
    (tmp_path / "ivr-peak.yaml").write_text(example)
    s = load_scenario(tmp_path / "ivr-peak.yaml")
    assert (s.load.mode, s.load.shape, s.load.steps, s.target.srtp) == ("arrivals", "step", 3, "mandatory")
    assert plan.planned_peak_rate(s.load) == 3.0


def test_the_documented_registered_agents_example_loads(tmp_path):
    example = fenced_block(doc("scenarios.md").read_text(), "Agents that register to the PBX", "yaml")
    (tmp_path / "registered.yaml").write_text(MINIMAL + example)
    agents = load_scenario(tmp_path / "registered.yaml").agents
    assert (agents.register_to, agents.username(4), agents.password, agents.realm) == (
        "sip:pbx.example.com:5060",
        "agent4",
        "agent-s3cret-from-env",
        "*",
    )
    # The keys the comments call defaults are the schema's defaults.
    defaults = scenario_schema()["$defs"]["agents"]["properties"]
    assert (defaults["register_to"]["default"], defaults["username_pattern"]["default"]) == (None, "agent{n}")
    assert defaults["realm"]["default"] == "*"


def test_target_override_drops_the_embedded_agents_and_says_so(tmp_path):
    """`callproof run smoke --target URI` (issue 13): the verifier reads the run's file back, offline."""
    s = load_scenario("smoke", overrides=ScenarioOverrides(target_uri="sip:600@10.0.0.5:5070"))
    assert s.target.uri == "sip:600@10.0.0.5:5070" and not s.target.embedded
    assert s.agents == load_scenario(_written(tmp_path, MINIMAL)).agents  # the defaults, as if never written
    assert s.notes == ("--target sip:600@10.0.0.5:5070: the scenario's agents section was dropped; its agents "
                       "answer only target.uri embedded, and the calls now go to sip:600@10.0.0.5:5070",)
    lines = s.run_text.splitlines()
    header = lines.index("# agents: dropped by --target (it applies only to target.uri embedded)")
    assert lines[header + 1] == "# agents:" and lines[header + 2].startswith("#   count: 16")
    assert lines[header + 5] == "#   mode: echo" and lines[header + 6] == "" and lines[header + 7] == "probes:"
    again = load_scenario(_written(tmp_path, s.run_text), offline=True)  # as summarize() reads it
    assert again.target.uri == s.target.uri and again.sla == s.sla and again.agents == s.agents
    # The embedded target keeps its agents, and nothing else is noted.
    kept = load_scenario("smoke", overrides=ScenarioOverrides(duration_s=20))
    assert kept.agents.count == 16 and kept.notes == () and "# agents" not in kept.run_text


def _written(folder: Path, text: str) -> Path:
    path = folder / f"s{len(list(folder.glob('s*.yaml')))}.yaml"
    path.write_text(text)
    return path
