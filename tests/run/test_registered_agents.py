"""Agents that REGISTER to a real registrar and take the calls it routes to them.

Kamailio runs docker/kamailio/kamailio.cfg (the compose file's registrar):
digest auth with one shared agent password, and an INVITE to
sip:agent1@<proxy> goes to agent1's registered contact. Its location table,
read with kamcmd, is the oracle for who registered and unregistered.
"""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from tests.cli import callproof, start_callproof
from tests.peers.kamailio import DEFAULT_REALM, kamailio_factory  # noqa: F401
from tests.peers.net import free_port
from tests.run.helpers import assert_verdict, read_calls, sla_yaml, write_scenario

pytestmark = [pytest.mark.peers, pytest.mark.e2e]  # Kamailio and `callproof run` (tests/markers.py)

AGENTS = 3
PASSWORD_ENV = "CALLPROOF_TEST_AGENT_PASSWORD"
PASSWORD = "Zr8-agent-secret-17"  # distinctive: the bundle is searched for it

SCENARIO = """\
name: registered
description: "Agents registered to Kamailio answer the calls it routes to agent1."
seed: 5
target:
  uri: sip:agent1@127.0.0.1:{port}
load:
  mode: concurrency
  peak_concurrent: 2
  duration_s: 6
  max_cps: 20
  max_concurrent: 4
  breaker: {{min_answer_rate: 0}}
call:
  codecs: [PCMU]
  ring_timeout_s: 5
  talk_time: {{distribution: fixed, value_s: 1}}
  agent_marker: "*9"
agents:
  count: {agents}
  register_to: sip:127.0.0.1:{registrar_port}
  username_pattern: "agent{{n}}"
  password_env: {password_env}
  realm: {realm}
  ring_delay_s: 0.1
  handle_time: null
probes: {{call_interval_s: null, options_interval_s: null}}
{sla}"""


@pytest.fixture(scope="module")
def registrar(kamailio_factory):  # noqa: F811
    return kamailio_factory(agent_password=PASSWORD)


def scenario_file(tmp_path, port: int, registrar_port: int | None = None):
    text = SCENARIO.format(port=port, registrar_port=registrar_port or port, agents=AGENTS,
                           password_env=PASSWORD_ENV, realm=DEFAULT_REALM,
                           sla=sla_yaml(answer_rate_min=0.5))  # decidable by ~10 calls
    return write_scenario(tmp_path / "registered.yaml", text)


def registered_users(registrar) -> set[str]:
    """The AoRs in Kamailio's location table (usrloc), by user."""
    dump = subprocess.run(["kamcmd", "-s", registrar.ctl_socket, "ul.dump"], capture_output=True, text=True,
                          timeout=10, check=True).stdout
    return set(re.findall(r"AoR: (\S+)", dump))


def test_agents_register_answer_the_routed_calls_and_unregister(tmp_path, registrar):
    out = tmp_path / "out"
    run = start_callproof("run", str(scenario_file(tmp_path, registrar.port)), "--out", str(out), "--quiet",
                          env={PASSWORD_ENV: PASSWORD})
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    while run.poll() is None and time.monotonic() < deadline and len(seen) < AGENTS:
        seen = registered_users(registrar)
        time.sleep(0.2)
    stdout, stderr = run.communicate(timeout=60)
    assert_verdict(json.loads((out / "summary.json").read_text()), run.returncode, "PASS")

    users = {f"agent{n}" for n in range(1, AGENTS + 1)}
    assert seen == users  # the registrar's own table, during the run
    assert registered_users(registrar) == set()  # a clean stop unregistered every agent
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    (agents_event,) = [e for e in events if e["kind"] == "agents"]
    assert agents_event["registrar"] == f"sip:127.0.0.1:{registrar.port}"
    assert [(r["user"], r["code"], r["reason"]) for r in agents_event["registrations"]] == [
        (f"agent{n}", 200, "OK") for n in range(1, AGENTS + 1)
    ]
    assert all(r["expires_s"] > 0 for r in agents_event["registrations"])
    assert all((out / "logs" / f"{r['process']}.log").is_file() for r in agents_event["registrations"])

    calls = read_calls(out)
    taken = [json.loads(line) for line in (out / "agents.jsonl").read_text().splitlines()]
    assert len(calls) >= 4
    assert all(c["failure"] is None and c["answer_ms"] is not None for c in calls)
    assert all(c["agent_ms"] is not None and c["dtmf_received"] == "*9" for c in calls)
    # Every call reached the registered agent1 through the proxy, and nothing else did.
    assert sorted(c["call_id"] for c in calls) == sorted(t["call_id"] for t in taken)
    assert {t["agent"] for t in taken} == {"agent1"}
    assert all(t["direction"] == "inbound" and t["dtmf_sent"] == "*9" for t in taken)
    files = [path for path in out.rglob("*") if path.is_file()]
    assert len(files) >= 10 and not [path for path in files if PASSWORD.encode() in path.read_bytes()]


def test_a_wrong_agent_password_is_bad_input_naming_the_agent_and_the_answer(tmp_path, registrar):
    result = callproof("run", str(scenario_file(tmp_path, registrar.port)), "--out", str(tmp_path / "out"),
                       env={PASSWORD_ENV: "not-the-password"}, timeout=60)
    assert result.returncode == 2
    assert result.stderr == (
        f"callproof: the registrar sip:127.0.0.1:{registrar.port} refused agent agent1 with 403 Forbidden; "
        f"check agents.username_pattern and the password in {PASSWORD_ENV} (agents.password_env)\n"
    )
    assert registered_users(registrar) == set()


def test_a_silent_registrar_is_a_harness_failure(tmp_path, registrar):
    silent = free_port()  # nothing listens there: no answer, ever
    result = callproof("run", str(scenario_file(tmp_path, registrar.port, silent)), "--out", str(tmp_path / "out"),
                       env={PASSWORD_ENV: PASSWORD}, timeout=60)
    assert result.returncode == 3
    assert result.stderr == (
        f"callproof: the registrar sip:127.0.0.1:{silent} did not answer agent agent1's REGISTER; "
        "check that it is reachable from this machine\n"
    )
