"""docker/asterisk/: rendered as the container renders it, parsed, and cross-checked.

No Asterisk runs here, so each file is parsed in Asterisk's dialect and every
reference between files is followed: endpoints to their auth and AOR, the
dialplan's Gotos to their targets, applications to the modules that provide
them, prompts to the shipped WAV files, the queue's members to endpoints, and
the scenarios' extensions, queue, agents and credentials to all of these.
"""

from __future__ import annotations

import re
import wave
from pathlib import Path

import pytest

from callproof.harness.run.probes import options_request
from tests.docker.asterisk_config import Section, dialplan, parse, resolve_goto
from tests.docker.conftest import (
    ASTERISK_DIR,
    ASTERISK_MOUNT,
    load_scenario,
    render_asterisk,
)

TEMPLATES = sorted(ASTERISK_DIR.glob("*.conf"))
# Written by render.sh and #included by pjsip.conf and queues.conf, where they parse.
GENERATED = ["pjsip_agents.conf", "queue_members.conf"]
# Dialplan applications built into Asterisk's core, and the modules of the others.
CORE_APPS = {"Answer", "Background", "Goto", "Hangup", "Set", "WaitExten"}
APP_MODULES = {"Echo": "app_echo", "Playback": "app_playback", "Queue": "app_queue"}
# What res_pjsip endpoints of a load tool need (FIELD-NOTES, Asterisk 22).
LOAD_TOOL_ENDPOINT = {
    "direct_media": "no",
    "rtp_symmetric": "yes",
    "force_rport": "yes",
    "rewrite_contact": "yes",
    "dtmf_mode": "rfc4733",
}
# Modules that must be named with autoload = no (FIELD-NOTES).
REQUIRED_MODULES = {
    "res_pjsip", "res_pjsip_pubsub", "res_pjsip_session", "res_pjsip_authenticator_digest",
    "res_pjsip_endpoint_identifier_user", "res_pjsip_registrar", "res_pjsip_sdp_rtp", "res_pjsip_nat",
    "chan_pjsip", "res_rtp_asterisk", "codec_ulaw", "codec_alaw", "format_wav", "format_pcm",
    "format_sln", "pbx_config", "app_echo", "app_playback", "app_queue", "bridge_simple",
    "bridge_native_rtp", "res_musiconhold",
    # res_pjsip's optional modules: a source-built Asterisk 22.9.0 with autoload = no refused
    # res_pjsip ("missing dependencies: res_geolocation, res_statsd") until both were named.
    "res_geolocation", "res_statsd",
}  # fmt: skip
# Every module modules.conf may name: each is a source file of Asterisk 22 (res/, channels/,
# codecs/, formats/, bridges/, pbx/, apps/ at 22.9.0). A name outside it fails to load with an
# ERROR at every start, as res_pjsip_options.so did (its code has been inside res_pjsip since 13).
ASTERISK_22_MODULES = REQUIRED_MODULES | {
    "res_pjproject", "res_sorcery_config", "res_sorcery_memory", "res_sorcery_astdb", "res_timing_timerfd",
}  # fmt: skip


def conf(rendered: Path, name: str) -> list[Section]:
    return parse(rendered / name)


def instances(sections: list[Section], type_: str) -> dict[str, Section]:
    return {s.name: s for s in sections if not s.template and s.get("type") == type_}


def host_path(asterisk_path: str) -> Path:
    """A path inside the container, mapped back to docker/asterisk/ in this checkout."""
    assert asterisk_path.startswith(ASTERISK_MOUNT + "/"), asterisk_path
    return ASTERISK_DIR / asterisk_path.removeprefix(ASTERISK_MOUNT + "/")


def assert_prompt(asterisk_path: str) -> None:
    """Asterisk adds the extension; format_wav reads 8 kHz mono 16-bit."""
    with wave.open(str(host_path(asterisk_path + ".wav"))) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert wav.getnframes() > 8000  # longer than a second


@pytest.fixture(scope="module")
def pjsip(rendered_asterisk):
    return conf(rendered_asterisk, "pjsip.conf")


@pytest.fixture(scope="module")
def contexts(rendered_asterisk):
    return dialplan(conf(rendered_asterisk, "extensions.conf"))


@pytest.fixture(scope="module")
def dialplan_globals(rendered_asterisk):
    (section,) = [s for s in conf(rendered_asterisk, "extensions.conf") if s.name == "globals"]
    return dict(section.options)


@pytest.fixture(scope="module")
def queues(rendered_asterisk):
    return {s.name: s for s in conf(rendered_asterisk, "queues.conf") if s.name != "general"}


@pytest.mark.parametrize("name", [p.name for p in TEMPLATES])
def test_every_file_parses_as_rendered(rendered_asterisk, name):
    assert parse(rendered_asterisk / name)


def test_rendering_fills_every_placeholder_and_writes_the_agent_files(rendered_asterisk):
    names = {path.name for path in rendered_asterisk.iterdir()}
    assert names == {p.name for p in TEMPLATES} | set(GENERATED)
    for path in rendered_asterisk.iterdir():
        assert "${CALLPROOF_" not in path.read_text(), path.name


def test_rendering_takes_credentials_and_agent_count_from_the_environment(tmp_path):
    completed = render_asterisk(
        tmp_path,
        CALLPROOF_SIP_USER="ci-caller",
        CALLPROOF_SIP_PASSWORD=r"p&ss\word",
        CALLPROOF_AGENT_PASSWORD="agent-secret",
        CALLPROOF_AGENT_COUNT="2",
    )
    assert completed.returncode == 0, completed.stderr
    sections = parse(tmp_path / "pjsip.conf")
    assert instances(sections, "auth")["ci-caller-auth"].get("password") == r"p&ss\word"
    assert instances(sections, "endpoint").keys() == {"ci-caller", "agent1", "agent2", "probe"}
    assert instances(sections, "auth")["agent2-auth"].get("password") == "agent-secret"
    members = next(s for s in parse(tmp_path / "queues.conf") if s.name == "support").get_all("member")
    assert members == ["PJSIP/agent1", "PJSIP/agent2"]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"CALLPROOF_SIP_PASSWORD": "a;b"}, "CALLPROOF_SIP_PASSWORD may not contain ';' or a newline"),
        ({"CALLPROOF_AGENT_PASSWORD": "a\nb"}, "CALLPROOF_AGENT_PASSWORD may not contain ';' or a newline"),
        ({"CALLPROOF_SIP_USER": "a b"}, "CALLPROOF_SIP_USER may hold only letters, digits, '_', '.' and '-'"),
        ({"CALLPROOF_SIP_USER": "probe"}, "CALLPROOF_SIP_USER may not be probe (the probes' endpoint)"),
        ({"CALLPROOF_AGENT_COUNT": "0"}, "CALLPROOF_AGENT_COUNT must be a whole number from 1 to 200"),
        ({"CALLPROOF_AGENT_COUNT": "four"}, "CALLPROOF_AGENT_COUNT must be a whole number from 1 to 200"),
    ],
)
def test_rendering_refuses_values_asterisk_would_misread(tmp_path, variables, message):
    completed = render_asterisk(tmp_path, **variables)
    assert completed.returncode == 2
    assert completed.stderr.strip() == f"render.sh: {message}"


def test_asterisk_conf_directories_are_a_plain_section(rendered_asterisk):
    (directories,) = [s for s in conf(rendered_asterisk, "asterisk.conf") if s.name == "directories"]
    assert not directories.template  # a template's paths are ignored
    assert directories.get("astmoddir") == "/usr/lib/asterisk/modules"


def test_modules_are_loaded_explicitly(rendered_asterisk):
    (modules,) = conf(rendered_asterisk, "modules.conf")
    assert modules.get("autoload") == "no"
    loaded = {name.removesuffix(".so") for name in modules.get_all("load")}
    assert REQUIRED_MODULES <= loaded
    assert len(loaded) == len(modules.get_all("load")), "a module is loaded twice"
    assert loaded <= ASTERISK_22_MODULES, f"no Asterisk 22 module: {sorted(loaded - ASTERISK_22_MODULES)}"


def test_the_console_log_is_plain_text(rendered_asterisk):
    """The console is the container's log (printed by a failing CI job): no ANSI colour codes."""
    (options,) = [s for s in conf(rendered_asterisk, "asterisk.conf") if s.name == "options"]
    assert options.get("nocolor") == "yes"


def test_the_probes_options_have_an_endpoint_that_answers_them(pjsip, contexts):
    """callproof's OPTIONS come From <sip:probe@...>: identified by that user, without a challenge
    (no auth, so Asterisk answers 200 and logs no "No matching endpoint found"), and unable to call."""
    request, _ = options_request("sip:asterisk:5060", ("192.0.2.7", 5062), "udp")
    (from_user,) = re.findall(rb"^From: <sip:([^@>]+)@", request, re.M)
    probe = instances(pjsip, "endpoint")[from_user.decode()]
    assert "username" in probe.get("identify_by").split(",")
    assert probe.get("auth") is None
    assert [(s.app, s.args) for steps in contexts[probe.get("context")].values() for s in steps] == [("Hangup", "21")]


def test_every_endpoint_is_set_up_for_a_load_tool(pjsip, contexts):
    endpoints = {name: e for name, e in instances(pjsip, "endpoint").items() if name != "probe"}
    auths, aors = instances(pjsip, "auth"), instances(pjsip, "aor")
    assert endpoints.keys() == {"caller", "agent1", "agent2", "agent3", "agent4"}
    for name, endpoint in endpoints.items():
        assert {key: endpoint.get(key) for key in LOAD_TOOL_ENDPOINT} == LOAD_TOOL_ENDPOINT, name
        assert endpoint.get("allow") == "ulaw,alaw" and endpoint.get("disallow") == "all", name
        assert endpoint.get("identify_by") == "username,auth_username", name
        assert endpoint.get("context") in contexts, name
        assert auths[endpoint.get("auth")].get("auth_type") == "userpass", name
        for aor in filter(None, (endpoint.get("aors") or "").split(",")):
            assert aor in aors, name


def test_caller_and_agents_authenticate_with_the_default_credentials(pjsip):
    auths = instances(pjsip, "auth")
    assert (auths["caller-auth"].get("username"), auths["caller-auth"].get("password")) == (
        "caller",
        "callproof-caller",
    )
    for n in range(1, 5):
        auth = auths[f"agent{n}-auth"]
        assert (auth.get("username"), auth.get("password")) == (f"agent{n}", "callproof-agent")


def test_agents_are_told_who_calls(pjsip):
    """An anonymised From still names the caller to our agents, in P-Asserted-Identity (their records)."""
    for n in range(1, 5):
        agent = instances(pjsip, "endpoint")[f"agent{n}"]
        assert (agent.get("send_pai"), agent.get("trust_id_outbound")) == ("yes", "yes")


def test_agents_hold_one_registration_each_and_may_replace_it(pjsip):
    aors = instances(pjsip, "aor")
    assert aors.keys() == {"agent1", "agent2", "agent3", "agent4"}
    for aor in aors.values():
        assert (aor.get("max_contacts"), aor.get("remove_existing")) == ("1", "yes")


def test_the_transport_is_udp_5060_as_compose_publishes_it(pjsip, compose):
    (transport,) = instances(pjsip, "transport").values()
    assert (transport.get("protocol"), transport.get("bind")) == ("udp", "0.0.0.0:5060")
    assert "5060:5060/udp" in compose["services"]["asterisk"]["ports"]


def test_rtp_ports_are_the_range_compose_publishes(rendered_asterisk, compose):
    (general,) = conf(rendered_asterisk, "rtp.conf")
    published = f"{general.get('rtpstart')}-{general.get('rtpend')}"
    assert f"{published}:{published}/udp" in compose["services"]["asterisk"]["ports"]


def test_asterisks_service_level_is_the_ci_scenarios_window(queues):
    """Asterisk's own service level (queue show, queue_log) and the scenario's SLA line count the same calls."""
    within_s = load_scenario("asterisk-ci")["sla"]["service_level"]["within_s"]
    assert queues["support"].get("servicelevel") == str(within_s)


def test_the_queue_rings_free_agents_round_robin(queues, pjsip):
    support = queues["support"]
    assert (support.get("strategy"), support.get("ringinuse")) == ("rrmemory", "no")
    endpoints = instances(pjsip, "endpoint")
    members = support.get_all("member")
    assert members == [f"PJSIP/agent{n}" for n in range(1, 5)]
    for member in members:
        assert endpoints[member.removeprefix("PJSIP/")].get("aors")


def test_music_on_hold_is_the_shipped_hold_prompt(rendered_asterisk, queues):
    (default,) = conf(rendered_asterisk, "musiconhold.conf")
    assert queues["support"].get("musicclass") == default.name
    assert default.get("mode") == "playlist"
    assert_prompt(default.get("entry"))


def test_every_application_is_loaded_and_every_goto_lands(rendered_asterisk, contexts, dialplan_globals):
    (modules,) = conf(rendered_asterisk, "modules.conf")
    loaded = {name.removesuffix(".so") for name in modules.get_all("load")}
    for extensions in contexts.values():
        for steps in extensions.values():
            for step in steps:
                assert step.app in CORE_APPS or APP_MODULES.get(step.app) in loaded, step
                if step.app == "Goto":
                    resolve_goto(contexts, step, step.args)
                if step.app in ("Playback", "Background"):
                    assert_prompt(re.sub(r"\$\{(\w+)\}", lambda m: dialplan_globals[m[1]], step.args))


def test_the_extensions_do_what_the_ci_page_says(contexts):
    inbound = contexts["callproof-in"]
    assert [s.app for s in inbound["500"]] == ["Answer", "Echo", "Hangup"]
    prompt = inbound["501"]
    assert [s.app for s in prompt] == ["Answer", "Playback", "Goto"]
    assert resolve_goto(contexts, prompt[2], prompt[2].args) == prompt[1]  # plays until hang-up
    assert [(s.app, s.args) for s in inbound["700"]] == [("Answer", ""), ("Queue", "support"), ("Hangup", "")]

    menu = resolve_goto(contexts, inbound["600"][0], inbound["600"][0].args)
    ivr = contexts[menu.context]
    assert [s.app for s in ivr["s"]] == ["Answer", "Background", "WaitExten"]
    assert (ivr["1"][0].app, ivr["1"][0].args) == ("Queue", "support")
    assert ivr["2"][0].app == "Echo"
    for no_input in ("t", "i"):  # timeout and invalid digit: the menu again
        assert resolve_goto(contexts, ivr[no_input][0], ivr[no_input][0].args) == ivr["s"][1]


def _extension(uri: str) -> str:
    return re.fullmatch(r"sip:(\w+)@[\w.-]+:\d+", uri)[1]


def test_the_ci_scenario_reaches_the_queue_through_the_ivr(contexts, queues, pjsip, compose):
    scenario = load_scenario("asterisk-ci")
    caller = instances(pjsip, "endpoint")[scenario["target"]["from_user"]]
    entry = contexts[caller.get("context")][_extension(scenario["target"]["uri"])][0]
    menu = resolve_goto(contexts, entry, entry.args)
    (first_choice,) = [step["digits"] for step in scenario["call"]["dtmf"]]
    queue_step = contexts[menu.context][first_choice][0]
    assert queue_step.app == "Queue" and queue_step.args in queues
    # Probes call the echo test, not the queue, so they never take an agent.
    probe = contexts[caller.get("context")][_extension(scenario["probes"]["uri"])]
    assert [s.app for s in probe][:2] == ["Answer", "Echo"]


def test_the_ci_scenarios_agents_are_the_queue_members(queues, pjsip, compose):
    agents = load_scenario("asterisk-ci")["agents"]
    usernames = [agents["username_pattern"].format(n=n) for n in range(1, agents["count"] + 1)]
    assert [f"PJSIP/{u}" for u in usernames] == queues["support"].get_all("member")
    assert set(usernames) <= instances(pjsip, "aor").keys()
    assert agents["register_to"] == "sip:asterisk:5060"
    assert agents["password_env"] in compose["services"]["callproof"]["environment"]


def test_the_failover_scenario_calls_the_echo_test_on_either_node(contexts, pjsip):
    scenario = load_scenario("asterisk-failover")
    caller = instances(pjsip, "endpoint")[scenario["target"]["from_user"]]
    steps = contexts[caller.get("context")][_extension(scenario["target"]["uri"])]
    assert [s.app for s in steps][:2] == ["Answer", "Echo"]


@pytest.mark.parametrize("name", ["asterisk-ci", "asterisk-failover"])
def test_scenario_credentials_are_the_ones_compose_hands_to_callproof(name, compose):
    credentials = load_scenario(name)["target"]["credentials"]
    environment = compose["services"]["callproof"]["environment"]
    assert credentials["username_env"] in environment and credentials["password_env"] in environment
