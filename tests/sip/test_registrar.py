"""REGISTER with digest auth through Kamailio (registrar + usrloc), and calls to the registered agent."""

from __future__ import annotations

import pytest

from callproof.sip.errors import SipConfigError
from callproof.sip.records import Failure
from callproof.sip.settings import AccountSpec, AgentSpec, CallSpec, EngineSettings
from tests.peers.kamailio import DEFAULT_AGENT_PASSWORD, DEFAULT_REALM, kamailio_factory  # noqa: F401
from tests.waiting import wait_until

pytestmark = pytest.mark.sip_engine  # on both engines (make test)


@pytest.fixture(scope="module")
def registrar(kamailio_factory):  # noqa: F811
    return kamailio_factory(min_expires_s=5)  # so a refresh comes within seconds


def agent_settings(registrar, *, password=DEFAULT_AGENT_PASSWORD, expires_s=300, user="agent7") -> EngineSettings:
    account = AccountSpec(user=user, registrar=registrar.uri, password=password, realm=DEFAULT_REALM,
                          expires_s=expires_s)
    return EngineSettings(name="agent", agent=AgentSpec(), account=account)


@pytest.mark.peers
def test_agent_registers_with_digest_auth_and_takes_a_call_routed_by_the_registrar(engines, registrar):
    agent = engines.start(agent_settings(registrar))
    assert agent.processes[0].registration[0] == 200
    caller = engines.start(EngineSettings(name="caller"))
    record = caller.place(CallSpec(uri=f"sip:agent7@127.0.0.1:{registrar.port}", talk_s=1.0)).wait_record(30)

    assert record.failure is None, record.final_reason
    assert record.media.rx_packets > 40 and record.media.rx_lost == 0
    wait_until(lambda: agent.processes[0].inbound, 10, what="the agent's record of the call")
    assert [r.call_id for r in agent.processes[0].inbound] == [record.call_id]


@pytest.mark.peers
def test_wrong_password_is_refused_by_the_registrar(engines, registrar):
    agent = engines.start(agent_settings(registrar, password="not-the-password", user="agent8"))
    code, reason, _ = agent.processes[0].registration
    assert code == 403 and reason == "Forbidden"
    caller = engines.start(EngineSettings(name="caller"))
    record = caller.place(CallSpec(uri=f"sip:agent8@127.0.0.1:{registrar.port}")).wait_record(30)
    # Nobody registered as agent8: the proxy sends it to its (empty) backend set.
    assert record.failure is Failure.REJECTED and record.final_code == 503
    assert record.final_reason == "No Backend Available"


@pytest.mark.peers
def test_registration_refreshes_itself_and_unregisters(engines, registrar):
    agent = engines.start(agent_settings(registrar, expires_s=8, user="agent9"))
    process = agent.processes[0]
    assert process.registration[0] == 200
    granted = process.registration[2]
    assert granted == 8
    # pjsua refreshes 5 s before expiry: a new 200 must come without us asking.
    wait_until(lambda: process.registrations, granted + 5, what="a refreshed registration", poll_s=0.2)
    assert process.registrations[0][0] == 200
    code, _, expires = process.register(on=False)
    assert code == 200 and expires == 0
    caller = engines.start(EngineSettings(name="caller"))
    record = caller.place(CallSpec(uri=f"sip:agent9@127.0.0.1:{registrar.port}")).wait_record(30)
    assert record.final_code == 503  # gone from the location table: not routed to the agent


def test_a_malformed_registrar_is_one_sentence():
    with pytest.raises(SipConfigError, match=r'^registrar URI must be a SIP URI such as .* \(got "sip:bad host"\)$'):
        AccountSpec(registrar="sip:bad host")
