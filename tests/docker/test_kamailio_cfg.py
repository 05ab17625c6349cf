"""docker/kamailio/kamailio.cfg, started natively: registrar, lookup, dispatcher failover.

The compose `failover` profile runs this file in a container; no Docker
engine runs here, so these tests are what proves it. Peers are real: SIPp
backends and callers on 127.0.0.1, and a REGISTER client with its own digest
arithmetic (sip_register.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docker.sip_register import register
from tests.docker.sipp import run_uac, start_backend
from tests.peers.kamailio import (
    DEFAULT_AGENT_PASSWORD,
    DEFAULT_REALM,
    HOST,
    KAMAILIO_CFG,
    KamailioSettings,
    kamailio_factory,  # noqa: F401 (fixture)
    sip_options,
)
from tests.peers.net import free_port
from tests.waiting import wait_until

pytestmark = [pytest.mark.peers, pytest.mark.any_engine]  # SIPp and Kamailio only


@pytest.fixture(scope="module")
def registrar(kamailio_factory):  # noqa: F811
    """A Kamailio with no backends: only the registrar and lookup are in play."""
    return kamailio_factory()


@pytest.fixture
def backend_factory(tmp_path):
    started = []

    def start(name: str):
        backend = start_backend(tmp_path, name)
        started.append(backend)
        return backend

    yield start
    for backend in started:
        backend.stop()


def test_the_fixtures_defaults_are_the_configs_own(tmp_path):
    # Tests and the compose profile then differ only in what they override.
    in_config = dict(re.findall(r"^#!define (\w+) (.+)$", KAMAILIO_CFG.read_text(), flags=re.MULTILINE))
    settings = KamailioSettings(port=5060)
    in_fixture = dict(define.split("=", 1) for define in settings.defines(Path("/etc/kamailio/dispatcher.list")))
    assert in_fixture.pop("LISTEN") == "udp:127.0.0.1:5060" == in_config.pop("LISTEN")
    assert in_fixture == in_config


def test_it_answers_options_addressed_to_itself(registrar):
    assert sip_options(HOST, registrar.port) == 200


def test_register_without_credentials_is_challenged(registrar):
    outcome = register(
        HOST, registrar.port, user="agent1", password=DEFAULT_AGENT_PASSWORD, contact="sip:agent1@127.0.0.1:9"
    )
    challenge = outcome.challenge.header("WWW-Authenticate")
    assert outcome.challenge.status == 401
    assert challenge.startswith("Digest ")
    assert f'realm="{DEFAULT_REALM}"' in challenge
    assert 'qop="auth"' in challenge


def test_register_with_a_wrong_password_is_forbidden(registrar):
    outcome = register(HOST, registrar.port, user="agent1", password="not-it", contact="sip:agent1@127.0.0.1:9")
    assert outcome.final is not None
    assert outcome.final.status == 403


def test_register_for_another_user_is_forbidden(registrar):
    # agent2's credentials may not bind agent1's address.
    outcome = register(
        HOST,
        registrar.port,
        user="agent1",
        auth_user="agent2",
        password=DEFAULT_AGENT_PASSWORD,
        contact="sip:agent1@127.0.0.1:9",
    )
    assert outcome.final is not None
    assert outcome.final.status == 403


def test_register_with_the_right_password_binds_the_contact(registrar):
    outcome = register(
        HOST, registrar.port, user="agent7", password=DEFAULT_AGENT_PASSWORD, contact="sip:agent7@127.0.0.1:9"
    )
    assert outcome.final is not None
    assert outcome.final.status == 200
    contact = outcome.final.header("Contact")
    assert contact.startswith("<sip:agent7@127.0.0.1:9>")
    assert "expires=300" in contact


def test_a_call_to_a_registered_user_reaches_its_contact(registrar, backend_factory, tmp_path):
    agent = backend_factory("agent3")
    contact = f"sip:agent3@{HOST}:{agent.port}"
    outcome = register(HOST, registrar.port, user="agent3", password=DEFAULT_AGENT_PASSWORD, contact=contact)
    assert outcome.final is not None and outcome.final.status == 200

    assert run_uac(proxy_port=registrar.port, service="agent3", calls=2, workdir=tmp_path) == 0
    invites = agent.invites()
    assert len(invites) == 2
    # lookup("location") rewrote the Request-URI to the registered contact.
    assert {invite.request_uri for invite in invites} == {contact}


def test_failover_to_the_survivor_when_a_backend_dies(kamailio_factory, backend_factory, tmp_path):  # noqa: F811
    backend_a, backend_b = backend_factory("backend-a"), backend_factory("backend-b")
    proxy = kamailio_factory(backends=(backend_a.uri, backend_b.uri), probing_mode=0, algorithm=4)

    # Both alive: round-robin gives each backend every other call.
    assert run_uac(proxy_port=proxy.port, service="600", calls=10, workdir=tmp_path) == 0
    calls_a, calls_b = {i.call_id for i in backend_a.invites()}, {i.call_id for i in backend_b.invites()}
    assert len(calls_a) == 5 and len(calls_b) == 5
    assert not calls_a & calls_b

    # Backend B dies. Calls that still pick it wait out fr_timer (2 s), B is
    # marked down, and every call is answered by A.
    backend_b.kill()
    assert run_uac(proxy_port=proxy.port, service="600", calls=6, workdir=tmp_path) == 0
    after_a = {i.call_id for i in backend_a.invites()}
    assert len(after_a - calls_a) == 6
    assert {i.call_id for i in backend_b.invites()} == calls_b
    flags = proxy.dispatcher_flags()
    assert flags[backend_a.uri] == "AX"
    assert flags[backend_b.uri] == "IP"  # inactive, probed until it answers again


def _wait_for_flags(proxy, uri: str, wanted: str, timeout_s: float) -> None:
    wait_until(lambda: proxy.dispatcher_flags()[uri] == wanted, timeout_s, what=f"{uri} flagged {wanted}",
               poll_s=0.2)


def test_probing_mode_1_marks_a_silent_backend_down_and_revives_it(kamailio_factory):  # noqa: F811
    # Backends that answer OPTIONS, as Asterisk does: Kamailio itself is one.
    alive = kamailio_factory()
    silent_port = free_port()
    silent_uri = f"sip:{HOST}:{silent_port}"
    proxy = kamailio_factory(backends=(alive.uri, silent_uri), probing_mode=1, ping_interval_s=1)

    # Probes go out every ping interval; allow a few intervals before calling it.
    _wait_for_flags(proxy, silent_uri, "IP", timeout_s=10)
    assert proxy.dispatcher_flags()[alive.uri] == "AP"

    # The silent backend comes up: its OPTIONS answer makes it active again.
    kamailio_factory(port=silent_port)
    _wait_for_flags(proxy, silent_uri, "AP", timeout_s=10)
