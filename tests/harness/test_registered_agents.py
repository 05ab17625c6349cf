"""How the registrar's answer to an agent's REGISTER decides the run: go, bad input (2) or harness failure (3)."""

from __future__ import annotations

import dataclasses

import pytest

from callproof.harness.errors import BadInput, ExitCode, HarnessError
from callproof.harness.run.registered_agents import check_registration
from callproof.harness.scenario.model import Agents

AGENTS = Agents(count=2, ring_delay_s=0.0, handle_time=None, mode="echo", prompt=None,
                register_to="sip:pbx.example.com:5060", username_pattern="agent{n}", password_env="CP_AGENT_PW",
                realm="*", password="pw")


@pytest.mark.parametrize("registration", [(200, "OK", 300), (202, "Accepted", 60)])
def test_a_2xx_lets_the_run_go(registration):
    check_registration("agent1", registration, AGENTS)


@pytest.mark.parametrize(
    ("registration", "error", "sentence"),
    [
        (None, HarnessError, "the registrar sip:pbx.example.com:5060 did not answer agent agent2's REGISTER; "
                             "check that it is reachable from this machine"),
        ((408, "Request Timeout", 0), HarnessError, "the registrar sip:pbx.example.com:5060 did not answer agent "
                                                    "agent2's REGISTER; check that it is reachable from this machine"),
        ((503, "Service Unavailable", 0), HarnessError,
         "the registrar sip:pbx.example.com:5060 failed agent agent2's REGISTER with 503 Service Unavailable"),
        ((403, "Forbidden", 0), BadInput, "the registrar sip:pbx.example.com:5060 refused agent agent2 with 403 "
                                          "Forbidden; check agents.username_pattern and the password in CP_AGENT_PW "
                                          "(agents.password_env)"),
        ((404, "Not Found", 0), BadInput, "the registrar sip:pbx.example.com:5060 refused agent agent2 with 404 Not "
                                          "Found; check agents.username_pattern and the password in CP_AGENT_PW "
                                          "(agents.password_env)"),
        ((603, "Decline", 0), BadInput, "the registrar sip:pbx.example.com:5060 refused agent agent2 with 603 "
                                        "Decline; check agents.username_pattern and the password in CP_AGENT_PW "
                                        "(agents.password_env)"),
    ],
)
def test_anything_else_is_one_sentence_with_its_exit_code(registration, error, sentence):
    with pytest.raises(error) as caught:
        check_registration("agent2", registration, AGENTS)
    assert type(caught.value) is error and str(caught.value) == sentence
    assert caught.value.exit_code == (ExitCode.BAD_INPUT if error is BadInput else ExitCode.HARNESS_ERROR)


def test_a_challenge_without_a_password_points_at_password_env():
    no_password = dataclasses.replace(AGENTS, password_env=None, password=None)
    with pytest.raises(BadInput) as caught:
        check_registration("agent1", (401, "Unauthorized", 0), no_password)
    assert str(caught.value) == (
        "the registrar sip:pbx.example.com:5060 refused agent agent1 with 401 Unauthorized; "
        "check agents.username_pattern and agents.password_env (no password was sent)"
    )


def test_a_challenge_after_agents_that_registered_names_the_pbxs_agent_count():
    """Asterisk challenges an agent it does not define as one with a wrong password: when agents 1..4
    registered with the same password, agent 5's 401 most likely means the PBX defines only 4."""
    eight = dataclasses.replace(AGENTS, count=8)
    with pytest.raises(BadInput) as caught:
        check_registration("agent5", (401, "Unauthorized", 0), eight, registered_before=4)
    assert str(caught.value) == (
        "the registrar sip:pbx.example.com:5060 refused agent agent5 with 401 Unauthorized while agent1 to agent4 "
        "registered with the same password: the PBX most likely defines only 4 of the 8 agents the scenario "
        "registers (agents.count); with callproof's compose recipe, set CALLPROOF_AGENT_COUNT to 8 or more "
        "(docs/ci-against-asterisk.md)"
    )
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    # The first agent refused: the credentials, as before.
    with pytest.raises(BadInput, match="check agents.username_pattern and the password in CP_AGENT_PW"):
        check_registration("agent1", (401, "Unauthorized", 0), eight, registered_before=0)
