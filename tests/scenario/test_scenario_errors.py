"""Bad scenario files: each gives exactly one sentence naming the file, the line and the key."""

from __future__ import annotations

import pytest

from callproof.harness.errors import BadInput, ExitCode
from callproof.harness.scenario.loader import list_bundled, load_scenario
from callproof.harness.scenario.model import ScenarioOverrides

# Line numbers below are counted in this text.
BASE = """\
name: t
description: test
target:
  uri: embedded
load:
  peak_concurrent: 4
  duration_s: 30
  max_cps: 10
  max_concurrent: 10
call:
  talk_time: {distribution: fixed, value_s: 2}
"""


def edit(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new, 1)


def add(lines: str) -> str:
    """Append after line 11 (inside `call:` when indented by two spaces)."""
    return BASE + lines


CREDENTIALS = "  uri: sip:600@pbx.example.com\n  credentials:\n    username_env: {user}\n    password_env: {password}"

CASES = [
    # Unknown keys (a misspelt key is reported before the required key it hides)
    (
        "unknown key",
        edit("  duration_s: 30", "  duraton_s: 30"),
        "line 7: load.duraton_s is not a known key (did you mean duration_s?)",
    ),
    (
        "unknown key, no guess",
        add("  colour: blue\n"),
        "line 12: call.colour is not a known key (known keys: codecs, ring_timeout_s, patience_s, talk_time, "
        "prompt, dtmf, expect, agent_marker, record_fraction, media_timeout_s)",
    ),
    (
        "unknown section key",
        add("sla:\n  answer_rate: 0.9\n"),
        "line 13: sla.answer_rate is not a known key (did you mean answer_rate_min?)",
    ),
    (
        "password in the file",
        edit("  uri: embedded", CREDENTIALS.format(user="U", password="P") + "\n    password: hunter2"),
        "line 8: target.credentials.password would put a secret in the file; set an environment variable "
        "and name it in target.credentials.password_env",
    ),
    (
        "missing section",
        BASE.replace("call:\n  talk_time: {distribution: fixed, value_s: 2}\n", ""),
        "line 1: the scenario needs the key call",
    ),
    ("missing key", edit("  max_cps: 10\n", ""), "line 5: load needs the key max_cps"),
    (
        "password where a variable name belongs",
        edit("  uri: embedded", CREDENTIALS.format(user="U", password="'pa$$word!'")),
        "line 7: target.credentials.password_env must be the name of an environment variable "
        "(letters, digits and underscores)",
    ),
    # Wrong types (YAML 1.2: only true/false are booleans)
    (
        "text for a number",
        edit("peak_concurrent: 4", "peak_concurrent: four"),
        'line 6: load.peak_concurrent must be a whole number or null (got "four")',
    ),
    (
        "yes is not a boolean",
        edit("  uri: embedded", "  uri: embedded\n  register: yes"),
        'line 5: target.register must be true or false (got "yes")',
    ),
    (
        "a list for a mapping",
        edit("  talk_time: {distribution: fixed, value_s: 2}", "  talk_time: [2, 4]"),
        "line 11: call.talk_time must be a mapping of keys (got a list)",
    ),
    # Impossible values
    (
        "multiplier",
        edit("  duration_s: 30", "  multiplier: -1\n  duration_s: 30"),
        "line 7: load.multiplier must be greater than 0 (got -1)",
    ),
    ("ring timeout 0", add("  ring_timeout_s: 0\n"), "line 12: call.ring_timeout_s must be greater than 0 (got 0)"),
    (
        "negative ramp",
        edit("  duration_s: 30", "  ramp_up_s: -5\n  duration_s: 30"),
        "line 7: load.ramp_up_s must be at least 0 (got -5)",
    ),
    ("negative or null", add("  patience_s: -1\n"), "line 12: call.patience_s must be greater than 0 (got -1)"),
    (
        "fraction above 1",
        add("sla:\n  answer_rate_min: 1.5\n"),
        "line 13: sla.answer_rate_min must be at most 1 (got 1.5)",
    ),
    (
        "MOS above the scale",
        add("sla:\n  mos_cqe_p5_min: 4.8\n"),
        "line 13: sla.mos_cqe_p5_min must be at most 4.5 (got 4.8)",
    ),
    (
        "ramps longer than the run",
        edit("  duration_s: 30", "  ramp_up_s: 20\n  duration_s: 30\n  ramp_down_s: 20"),
        "line 8: load.duration_s (30 s) is shorter than load.ramp_up_s + load.ramp_down_s (40 s)",
    ),
    (
        "max_concurrent below the peak",
        edit("max_concurrent: 10", "max_concurrent: 3"),
        "line 9: load.max_concurrent (3) is below the plan's peak of 4 calls in progress "
        "(peak_concurrent 4 x multiplier 1)",
    ),
    (
        "max_cps below the peak",
        edit("  peak_concurrent: 4", "  mode: arrivals\n  peak_cps: 20"),
        "line 9: load.max_cps (10) is below the plan's peak of 20 calls/s (peak_cps 20 x multiplier 1)",
    ),
    (
        "max_concurrent below Little's law",
        edit("  peak_concurrent: 4", "  mode: arrivals\n  peak_cps: 8"),
        "line 10: load.max_concurrent (10) is below the 16 calls in progress that 8 calls/s with a mean "
        "talk time of 2 s keep up (Little's law)",
    ),
    (
        "multiplier leaves nothing",
        edit("  duration_s: 30", "  multiplier: 0.1\n  duration_s: 30"),
        "line 7: load.multiplier 0.1 leaves no call in progress at the peak (peak_concurrent 4 x multiplier 0.1)",
    ),
    (
        "uniform min above max",
        edit("{distribution: fixed, value_s: 2}", "{distribution: uniform, min_s: 5, max_s: 3}"),
        "line 11: call.talk_time.max_s (3) is below min_s (5)",
    ),
    (
        "unknown distribution",
        edit("{distribution: fixed, value_s: 2}", "{distribution: normal, mean_s: 3}"),
        'line 11: call.talk_time.distribution must be one of fixed, uniform, exponential, lognormal (got "normal")',
    ),
    (
        "unsupported codec",
        add("  codecs: [PCMU, AMR-WB]\n"),
        'line 12: call.codecs[1] must be one of PCMU, PCMA, G722, opus, GSM, iLBC, speex, L16 (got "AMR-WB")',
    ),
    ("codec twice", add("  codecs: [PCMU, PCMU]\n"), "line 12: call.codecs lists PCMU twice"),
    (
        "DTMF digits",
        add("  dtmf:\n    - {wait_s: 1, digits: '1x'}\n"),
        'line 13: call.dtmf[0].digits must be DTMF digits (0-9, *, #, A-D) (got "1x")',
    ),
    (
        "jitter buffer order",
        add("media:\n  jitter_buffer: {min_pre_ms: 80, max_pre_ms: 40}\n"),
        "line 13: media.jitter_buffer.max_pre_ms (40) is below media.jitter_buffer.min_pre_ms (80)",
    ),
    # Keys that depend on another key
    (
        "peak_cps in concurrency mode",
        edit("  duration_s: 30", "  peak_cps: 5\n  duration_s: 30"),
        "line 7: load.peak_cps does not apply when load.mode is concurrency (remove it)",
    ),
    (
        "arrivals without a rate",
        edit("  peak_concurrent: 4", "  mode: arrivals"),
        "line 5: load needs the key peak_cps when load.mode is arrivals",
    ),
    (
        "spike without its section",
        edit("  duration_s: 30", "  shape: spike\n  duration_s: 30"),
        "line 5: load needs the key spike when load.shape is spike",
    ),
    (
        "spike in a steady shape",
        edit("  duration_s: 30", "  spike: {at_s: 1, length_s: 2, factor: 2}\n  duration_s: 30"),
        "line 7: load.spike does not apply when load.shape is steady (remove it)",
    ),
    (
        "spike after the end",
        edit("  duration_s: 30", "  shape: spike\n  spike: {at_s: 25, length_s: 10, factor: 2}\n  duration_s: 30"),
        "line 8: load.spike ends 35 s into the run, after its end at 30 s (load.duration_s)",
    ),
    (
        "key of another distribution",
        edit("{distribution: fixed, value_s: 2}", "{distribution: uniform, value_s: 2, min_s: 1, max_s: 3}"),
        "line 11: call.talk_time.value_s does not apply when call.talk_time.distribution is uniform (remove it)",
    ),
    (
        "agents without a prompt",
        add("agents:\n  mode: prompt\n"),
        "line 12: agents needs the key prompt when agents.mode is prompt",
    ),
    (
        "agents for a SIP target",
        edit("uri: embedded", "uri: sip:600@pbx.example.com") + "agents:\n  count: 3\n",
        "line 12: agents applies only when target.uri is embedded or agents.register_to names the PBX's registrar "
        "(target.uri is sip:600@pbx.example.com); set agents.register_to or remove agents",
    ),
    (
        "registered agents with the embedded target",
        add("agents:\n  count: 3\n  register_to: sip:pbx.example.com\n"),
        "line 14: agents.register_to does not apply when target.uri is embedded (remove it)",
    ),
    (
        "registrar URI with a password",
        edit("uri: embedded", "uri: sip:600@pbx.example.com") + "agents:\n  register_to: sip:a:pw@pbx.example.com\n",
        "line 13: agents.register_to must not carry a password (user:password@, RFC 3261 19.1.1); "
        "use agents.password_env",
    ),
    (
        "agent password in the file",
        edit("uri: embedded", "uri: sip:600@pbx.example.com")
        + "agents:\n  register_to: sip:pbx.example.com\n  password: hunter2\n",
        "line 14: agents.password would put a secret in the file; set an environment variable "
        "and name it in agents.password_env",
    ),
    (
        "agent password where a variable name belongs",
        edit("uri: embedded", "uri: sip:600@pbx.example.com")
        + "agents:\n  register_to: sip:pbx.example.com\n  password_env: 'pa$$word!'\n",
        "line 14: agents.password_env must be the name of an environment variable (letters, digits and "
        "underscores), or null",
    ),
    (
        "agent credentials without a registrar",
        add("agents:\n  count: 3\n  password_env: P\n"),
        "line 14: agents.password_env does not apply when agents.register_to is null (remove it)",
    ),
    (
        "user pattern without {n}",
        edit("uri: embedded", "uri: sip:600@pbx.example.com")
        + "agents:\n  register_to: sip:pbx.example.com\n  username_pattern: agent\n",
        'line 14: agents.username_pattern must be a SIP user name with {n} in it, such as agent{n} (got "agent")',
    ),
    # SIP URIs
    (
        "not a SIP URI",
        edit("uri: embedded", "uri: pbx.example.com"),
        'line 4: target.uri must be embedded, or a SIP URI such as sip:600@pbx.example.com (got "pbx.example.com")',
    ),
    (
        "port out of range",
        edit("uri: embedded", "uri: sip:600@pbx.example.com:70000"),
        "line 4: target.uri has port 70000, outside 1-65535",
    ),
    (
        "password in the URI",
        edit("uri: embedded", "uri: sip:600:secret@pbx.example.com"),
        "line 4: target.uri must not carry a password (user:password@, RFC 3261 19.1.1); use target.credentials",
    ),
    (
        "malformed IPv6 address",
        edit("uri: embedded", "uri: 'sip:600@[1::2::3]:5060'"),
        "line 4: target.uri has a malformed IPv6 address [1::2::3]",
    ),
    (
        "headers in the URI",  # callproof.sip.uri: a request URI has none
        edit("uri: embedded", "uri: sip:600@pbx.example.com?subject=x"),
        'line 4: target.uri must be embedded, or a SIP URI such as sip:600@pbx.example.com '
        '(got "sip:600@pbx.example.com?subject=x")',
    ),
    (
        "a malformed URI never shows its password",
        edit("uri: embedded", "uri: sip:600:secret@bad host"),
        'line 4: target.uri must be embedded, or a SIP URI such as sip:600@pbx.example.com (got "sip:600@bad host")',
    ),
    (
        "sips over udp",
        edit("uri: embedded", "uri: sips:600@pbx.example.com"),
        "line 3: target.uri is a sips: URI, which needs target.transport tls (got udp)",
    ),
    (
        "bad proxy URI",
        edit("  uri: embedded", "  uri: embedded\n  outbound_proxy: proxy.example.com"),
        "line 5: target.outbound_proxy must be a SIP URI such as sip:proxy.example.com:5060, or null "
        '(got "proxy.example.com")',
    ),
    # Faults and processes
    (
        "fault after the end",
        add("faults:\n  - {at_s: 40, action: command, command: 'true'}\n"),
        "line 13: faults[0].at_s (40) is not before the run ends at 30 s (load.duration_s)",
    ),
    (
        "fault on an unknown process",
        add("faults:\n  - {at_s: 4, action: stop, process: pbx}\n"),
        "line 13: faults[0].process names pbx, which is not in processes (known: none)",
    ),
    (
        "fault key of another action",
        add("faults:\n  - {at_s: 4, action: command, command: 'true', process: pbx}\n"),
        "line 13: faults[0].process does not apply when faults[0].action is command (remove it)",
    ),
    (
        "unbalanced quote",
        add("faults:\n  - {at_s: 4, action: command, command: 'echo \"x'}\n"),
        "line 13: faults[0].command cannot be split into words (No closing quotation)",
    ),
    (
        "process name twice",
        add("processes:\n  - {name: a, command: x}\n  - {name: a, command: y}\n"),
        "line 14: processes[1].name a is already the name of processes[0]",
    ),
    # The file itself
    (
        "not YAML",
        add("call: [\n"),
        "line 13: the file is not valid YAML (expected the node content, but found '<stream end>')",
    ),
    ("key twice", add("name: again\n"), "line 12: name is written twice (first on line 1)"),
    (
        "a list, not a mapping",
        "- a\n- b\n",
        "line 1: a scenario must be a mapping of keys (name, description, target, load, call, ...)",
    ),
    ("empty", "", "line 1: the file is empty"),
    (
        "capture size",
        add("capture:\n  enabled: true\n  max_mb: 0\n"),
        "line 14: capture.max_mb must be greater than 0 (got 0)",
    ),
    (
        "name pattern",
        edit("name: t", "name: My Test"),
        'line 1: name must be lowercase letters, digits and dashes (got "My Test")',
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_file_gives_one_located_sentence(text, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("U", "alice")
    monkeypatch.setenv("P", "pw")
    (tmp_path / "x.yaml").write_text(text)
    with pytest.raises(BadInput) as caught:
        load_scenario("x.yaml")
    assert str(caught.value) == f"x.yaml, {expected}"
    assert caught.value.exit_code == ExitCode.BAD_INPUT


def test_missing_environment_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CALLPROOF_TEST_USER", "alice")
    monkeypatch.delenv("CALLPROOF_TEST_PASSWORD", raising=False)
    (tmp_path / "x.yaml").write_text(
        edit("  uri: embedded", CREDENTIALS.format(user="CALLPROOF_TEST_USER", password="CALLPROOF_TEST_PASSWORD"))
    )
    with pytest.raises(BadInput) as caught:
        load_scenario("x.yaml")
    assert str(caught.value) == (
        "x.yaml, line 7: target.credentials.password_env names the environment variable CALLPROOF_TEST_PASSWORD, "
        "which is not set"
    )
    monkeypatch.setenv("CALLPROOF_TEST_PASSWORD", "")
    with pytest.raises(BadInput, match="CALLPROOF_TEST_PASSWORD, which is empty$"):
        load_scenario("x.yaml")


def test_missing_agent_password_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CALLPROOF_TEST_AGENT_PASSWORD", raising=False)
    text = edit("uri: embedded", "uri: sip:600@pbx.example.com") + (
        "agents:\n  register_to: sip:pbx.example.com\n  password_env: CALLPROOF_TEST_AGENT_PASSWORD\n"
    )
    (tmp_path / "x.yaml").write_text(text)
    with pytest.raises(BadInput) as caught:
        load_scenario("x.yaml")
    assert str(caught.value) == (
        "x.yaml, line 14: agents.password_env names the environment variable CALLPROOF_TEST_AGENT_PASSWORD, "
        "which is not set"
    )


def test_target_override_to_embedded_with_registered_agents(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = edit("uri: embedded", "uri: sip:600@pbx.example.com") + "agents:\n  register_to: sip:pbx.example.com\n"
    (tmp_path / "x.yaml").write_text(text)
    with pytest.raises(BadInput) as caught:
        load_scenario("x.yaml", overrides=ScenarioOverrides(target_uri="embedded"))
    assert str(caught.value) == (
        "x.yaml, line 13: agents.register_to does not apply when --target is embedded (remove it)"
    )


def test_missing_prompt_names_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.yaml").write_text(add("  prompt: prompts/nope.wav\n"))
    with pytest.raises(BadInput) as caught:
        load_scenario("x.yaml")
    assert str(caught.value) == (
        f"x.yaml, line 12: call.prompt names prompts/nope.wav, which does not exist ({tmp_path}/prompts/nope.wav)"
    )


def test_prompt_must_be_mono_16_bit_wav(tmp_path, monkeypatch):
    import wave

    monkeypatch.chdir(tmp_path)
    with wave.open(str(tmp_path / "stereo.wav"), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(44100)
        wav.writeframes(b"\0\0\0\0" * 10)
    (tmp_path / "text.wav").write_text("not audio")
    (tmp_path / "x.yaml").write_text(add("  prompt: stereo.wav\n"))
    with pytest.raises(BadInput) as caught:
        load_scenario("x.yaml")
    assert str(caught.value) == (
        "x.yaml, line 12: call.prompt names stereo.wav, which is 2-channel 16-bit 44100 Hz with 10 frames; "
        "prompts must be mono 16-bit at 8000 or 16000 Hz"
    )
    (tmp_path / "x.yaml").write_text(add("  prompt: text.wav\n"))
    with pytest.raises(BadInput, match=r"^x.yaml, line 12: call.prompt names text.wav, which is not a WAV file"):
        load_scenario("x.yaml")


OVERRIDE_BASE = edit("  duration_s: 30", "  ramp_up_s: 10\n  duration_s: 30\n  ramp_down_s: 5")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ScenarioOverrides(target_uri="pbx"),
            '--target must be embedded or a SIP URI such as sip:600@pbx.example.com (got "pbx")',
        ),
        (ScenarioOverrides(target_uri="sip:600@pbx:99999"), "--target has port 99999, outside 1-65535"),
        (
            ScenarioOverrides(target_uri="sip:600:hunter2@pbx@x"),
            '--target must be embedded or a SIP URI such as sip:600@pbx.example.com (got "sip:600@x")',
        ),
        (
            ScenarioOverrides(target_uri="sip:600:hunter2@pbx"),
            "--target must not carry a password (user:password@, RFC 3261 19.1.1); use target.credentials",
        ),
        (ScenarioOverrides(duration_s=-1),
         "--duration must be a number of seconds greater than 0 and at most 604,800 (got -1)"),
        (ScenarioOverrides(duration_s=float("nan")),
         "--duration must be a number of seconds greater than 0 and at most 604,800 (got nan)"),
        (ScenarioOverrides(duration_s=float("inf")),
         "--duration must be a number of seconds greater than 0 and at most 604,800 (got inf)"),
        (
            ScenarioOverrides(duration_s=10),
            "x.yaml, line 8: --duration (10 s) is shorter than load.ramp_up_s + load.ramp_down_s (15 s)",
        ),
    ],
)
def test_bad_override(overrides, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.yaml").write_text(OVERRIDE_BASE)
    with pytest.raises(BadInput) as caught:
        load_scenario("x.yaml", overrides=overrides)
    assert str(caught.value) == expected


def test_fault_after_a_shortened_run_names_the_option(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.yaml").write_text(add("faults:\n  - {at_s: 20, action: command, command: 'true'}\n"))
    with pytest.raises(BadInput) as caught:
        load_scenario("x.yaml", overrides=ScenarioOverrides(duration_s=15))
    assert str(caught.value) == "x.yaml, line 13: faults[0].at_s (20) is not before the run ends at 15 s (--duration)"


def test_unknown_source(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BadInput) as caught:
        load_scenario("nope")
    names = ", ".join(name for name, _ in list_bundled())
    assert str(caught.value) == f"nope: no such scenario file, and no bundled scenario of that name (bundled: {names})"
    assert "smoke" in names
    with pytest.raises(BadInput, match="^missing.yaml: no such scenario file"):
        load_scenario("missing.yaml")
    (tmp_path / "folder").mkdir()
    with pytest.raises(BadInput, match="^folder is a folder, not a scenario file$"):
        load_scenario("folder")


def test_a_queue_wait_without_an_agent_marker_is_refused():
    from callproof.harness.errors import BadInput
    from callproof.harness.scenario.loader import bundled_dir, load_scenario

    smoke = (bundled_dir() / "smoke.yaml").read_text()
    wait = "  queue_wait: {distribution: fixed, value_s: 2}\n"
    text = smoke.replace("  ring_delay_s: 0.2\n", "  ring_delay_s: 0.2\n" + wait)
    assert text != smoke
    with pytest.raises(BadInput) as caught:
        load_scenario(bundled_dir() / "smoke.yaml", text=text, label="q.yaml")  # its prompts resolve there
    assert "agents.queue_wait delays the agent marker: set call.agent_marker" in str(caught.value)
