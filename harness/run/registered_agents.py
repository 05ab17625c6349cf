"""Agents that REGISTER to the PBX under test (scenario `agents.register_to`).

The embedded agents listen on 127.0.0.1 and the load calls them directly.
These instead sign in to the target's registrar as its own endpoints (agent1,
agent2, ... from `agents.username_pattern`, digest password from
`agents.password_env`), and the PBX routes its calls to them, a queue ringing
its members. Each agent is one SIP engine process with its own account and
answers like an embedded agent: ring delay, handle time, echo or prompt, and
`call.agent_marker` sent on pickup.

Every agent must hold a 2xx registration before any call is placed. A
registrar that answers with a refusal (wrong password or user name) is bad
input (exit 2); one that does not answer is a harness failure (exit 3). A
clean stop of an agent's process unregisters it (REGISTER with Expires: 0).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

from callproof.harness.errors import BadInput, HarnessError
from callproof.harness.run.engines import Fleet
from callproof.harness.scenario import plan
from callproof.harness.scenario.model import Agents, Scenario
from callproof.sip.errors import EngineError
from callproof.sip.pool import EnginePool
from callproof.sip.records import CallRecord
from callproof.sip.settings import AccountSpec, AgentSpec

# A person takes one call at a time, but the PBX may offer the next call while
# the last one's BYE is still in flight; past this pjsua answers 486 Busy Here.
CALLS_PER_AGENT = 4
# Handle times and queue waits drawn once and cycled by every agent, as for the embedded agents.
_HANDLE_DRAWS = 1000


def agent_spec(scenario: Scenario) -> AgentSpec:
    """How each of the scenario's agents answers (embedded or registered alike)."""
    agents = scenario.agents
    handle: tuple[float, ...] = ()
    if agents.handle_time is not None:
        gen = plan.rng(scenario.seed, "agent-handle-time")
        handle = tuple(float(x) for x in plan.sample_durations(agents.handle_time, _HANDLE_DRAWS, gen))
    queue: tuple[float, ...] = ()
    if agents.queue_wait is not None:
        gen = plan.rng(scenario.seed, "agent-queue-wait")
        queue = tuple(float(x) for x in plan.sample_durations(agents.queue_wait, _HANDLE_DRAWS, gen))
    return AgentSpec(ring_delay_s=agents.ring_delay_s, handle_s=handle, mode=agents.mode,
                     prompt=str(agents.prompt) if agents.prompt else None,
                     pickup_marker=scenario.call.agent_marker, queue_wait_s=queue)


@dataclasses.dataclass(frozen=True)
class Registration:
    """The registrar's answer to one agent's REGISTER, as the events log keeps it."""

    user: str
    process: str  # the engine process (its log is logs/PROCESS.log)
    code: int
    reason: str
    expires_s: int  # granted by the registrar


class RegisteredAgents:
    """The scenario's agents, registered: one engine process per agent, in order agent 1..count."""

    def __init__(self, pool: EnginePool, users: list[str], registrar: str) -> None:
        self.pool = pool
        self.users = users
        self.registrar = registrar
        self.registrations = []
        for user, process in zip(users, pool.processes, strict=True):
            assert process.registration is not None, "start() returns once every agent holds a registration"
            self.registrations.append(Registration(user, process.name, *process.registration))

    @classmethod
    def start(cls, fleet: Fleet, scenario: Scenario,
              on_inbound: Callable[[str, CallRecord], None]) -> "RegisteredAgents":
        """Start and register every agent; `on_inbound(user, record)` gets each call an agent took.

        Returns only when every agent holds a 2xx registration; otherwise stops them all and raises.
        """
        agents = scenario.agents
        assert agents.register_to is not None, "only agents that register to a registrar start here"
        spec = dataclasses.asdict(agent_spec(scenario))
        users = [agents.username(n) for n in range(1, agents.count + 1)]
        processes = []
        for user in users:
            account = AccountSpec(user=user, registrar=agents.register_to, username=user,
                                  password=agents.password, realm=agents.realm)
            processes.append(fleet.process("agent", CALLS_PER_AGENT, agent=spec, account=account.to_dict(),
                                           max_calls=CALLS_PER_AGENT,
                                           on_inbound=functools.partial(on_inbound, user)))
        pool = EnginePool(processes)
        try:
            pool.start()
        except EngineError as exc:
            raise HarnessError(f"could not start the agents that register to {agents.register_to}: {exc}") from None
        try:
            for before, (user, process) in enumerate(zip(users, processes, strict=True)):
                check_registration(user, process.registration, agents, registered_before=before)
        except (BadInput, HarnessError):
            pool.stop()
            raise
        return cls(pool, users, agents.register_to)

    @property
    def capacity(self) -> int:
        return self.pool.capacity


def check_registration(user: str, registration: tuple[int, str, int] | None, agents: Agents, *,
                       registered_before: int = 0) -> None:
    """Raise unless the registrar accepted `user`'s REGISTER with a 2xx (RFC 3261 10.3).

    A 4xx or 6xx is the registrar refusing what the scenario gave it (user name,
    password): bad input. No answer, or a 5xx, is the registrar failing: a harness failure.
    `registered_before`: how many agents before this one registered with the same password;
    a challenge refused after them most likely means the PBX defines fewer agents than the
    scenario registers (Asterisk challenges an unknown user as it does a known one).
    """
    registrar = agents.register_to
    # pjsip answers 408 by itself when the REGISTER's transaction times out (RFC 3261 17.1.2.2).
    if registration is None or registration[0] == 408:
        raise HarnessError(f"the registrar {registrar} did not answer agent {user}'s REGISTER; "
                           "check that it is reachable from this machine")
    code, reason, _ = registration
    if 200 <= code < 300:
        return
    if 500 <= code < 600:
        raise HarnessError(f"the registrar {registrar} failed agent {user}'s REGISTER with {code} {reason}")
    if code in (401, 407) and registered_before > 0 and agents.password:
        first, last = agents.username(1), agents.username(registered_before)
        registered = first if registered_before == 1 else f"{first} to {last}"
        raise BadInput(f"the registrar {registrar} refused agent {user} with {code} {reason} while {registered} "
                       f"registered with the same password: the PBX most likely defines only {registered_before} "
                       f"of the {agents.count} agents the scenario registers (agents.count); with callproof's "
                       f"compose recipe, set CALLPROOF_AGENT_COUNT to {agents.count} or more "
                       "(docs/ci-against-asterisk.md)")
    where = f"the password in {agents.password_env} (agents.password_env)" if agents.password_env else (
        "agents.password_env (no password was sent)")
    raise BadInput(f"the registrar {registrar} refused agent {user} with {code} {reason}; "
                   f"check agents.username_pattern and {where}")
