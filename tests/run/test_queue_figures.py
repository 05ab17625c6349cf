"""The queue as a call center reads it, through a real proxy, against ground truth the test controls.

Kamailio (docker/kamailio/kamailio.cfg, the compose file's registrar) routes every call to
agent1, one of callproof's own agents registered to it. That agent plays a queue
(`agents.queue_wait`): it answers at once, as an IVR or a queue does, and sends the
agent marker only after a wait drawn from the scenario's seed. So the 200 OK arrives in
milliseconds while the caller waits seconds for the agent, as through Asterisk's IVR and
queue (issue 12). The caller's patience is shorter than the longest waits: those callers
abandon.

Ground truth: the waits are the seeded draws (callproof.harness.run.registered_agents), and
the seed is chosen so no draw lies near the service level window or the patience
(checked below): every call's outcome is known from its draw, whatever the machine's
load adds to the timing. The agent's own records (agents.jsonl) say which draw each call
got and whether its caller hung up while queued.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from callproof.harness.scenario import plan
from callproof.harness.scenario.model import TalkTime
from tests.cli import callproof
from tests.peers.kamailio import DEFAULT_REALM, kamailio_factory  # noqa: F401
from tests.run.helpers import read_calls, sla_lines, write_scenario

# Kamailio and `callproof run` (tests/markers.py); queue figures do not depend on the engine.
pytestmark = [pytest.mark.peers, pytest.mark.e2e, pytest.mark.any_engine]

SEED = 1757
WAITS = TalkTime("exponential", mean_s=1.5, max_s=8.0)
WITHIN_S = 2.4  # the service level window: waits up to 1.58 s reach an agent within it
PATIENCE_S = 4.2  # waits from 4.4 s abandon; those up to 3.5 s reach an agent first
REACHED_WITHIN, REACHED_LATE, ABANDONS = (0.0, 1.58), (2.5, 3.5), 4.4
CHECKED_DRAWS = 40  # more than a 15 s run with 3 calls of at least 1 s at a time can take
LATE_BY_S = 0.4  # how late the agent's own timer may fire on a busy machine and still tell the classes apart
PASSWORD_ENV = "CALLPROOF_TEST_AGENT_PASSWORD"
PASSWORD = "queue-agent-pw-4"

SCENARIO = {
    "name": "queue", "description": "callproof's agent plays a queue behind Kamailio.", "seed": SEED,
    "load": {"mode": "concurrency", "peak_concurrent": 3, "ramp_up_s": 0, "duration_s": 15, "ramp_down_s": 0,
             "max_cps": 20, "max_concurrent": 4, "breaker": {"min_answer_rate": 0}},
    "call": {"codecs": ["PCMU"], "ring_timeout_s": 5, "patience_s": PATIENCE_S, "agent_marker": "*9",
             "talk_time": {"distribution": "fixed", "value_s": 1}},
    "agents": {"count": 1, "username_pattern": "agent{n}", "password_env": PASSWORD_ENV, "realm": DEFAULT_REALM,
               "ring_delay_s": 0, "handle_time": None,
               "queue_wait": {"distribution": "exponential", "mean_s": WAITS.mean_s, "max_s": WAITS.max_s}},
    "probes": {"call_interval_s": None, "options_interval_s": None},
}


def draws(count: int) -> np.ndarray:
    """The waits the agent takes in turn: the same draws as callproof.harness.run.registered_agents."""
    return plan.sample_durations(WAITS, 1000, plan.rng(SEED, "agent-queue-wait"))[:count]


def test_the_seed_keeps_every_wait_away_from_the_window_and_the_patience():
    waits = draws(CHECKED_DRAWS)
    within, late = REACHED_WITHIN, REACHED_LATE
    assert all(w <= within[1] or late[0] <= w <= late[1] or w >= ABANDONS for w in waits)
    assert within[1] + 0.8 <= WITHIN_S <= late[0] - 0.1  # up to 0.8 s of setup, ACK and DTMF on top of a wait
    assert late[1] + 0.7 <= PATIENCE_S <= ABANDONS - 0.2
    first = waits[:15]  # every class occurs among the calls a run surely makes
    assert (first <= within[1]).sum() >= 8 and (first >= ABANDONS).sum() >= 3
    assert ((first > within[1]) & (first < ABANDONS)).sum() >= 2


@pytest.fixture(scope="module")
def queue_run(kamailio_factory, tmp_path_factory):  # noqa: F811
    registrar = kamailio_factory(agent_password=PASSWORD)
    folder = tmp_path_factory.mktemp("queue")
    data = dict(SCENARIO, target={"uri": f"sip:agent1@127.0.0.1:{registrar.port}"})
    data["agents"] = dict(SCENARIO["agents"], register_to=f"sip:127.0.0.1:{registrar.port}")
    data["sla"] = sla_lines(answer_rate_min=0.5, first_answer_s_max=10.0, abandonment_max=0.5,
                            service_level={"within_s": WITHIN_S, "min": 0.3})
    path = write_scenario(folder / "queue.yaml", json.dumps(data))  # JSON is YAML
    out = folder / "out"
    result = callproof("run", str(path), "--out", str(out), "--quiet", env={PASSWORD_ENV: PASSWORD}, timeout=120)
    assert result.returncode in (0, 1, 4, 5), result.stderr  # a verdict; the figures are checked below
    summary = json.loads((out / "summary.json").read_text())
    calls = read_calls(out)
    agent_side = {r["call_id"]: r for r in map(json.loads, (out / "agents.jsonl").read_text().splitlines())}
    return summary, calls, agent_side


def outcomes(calls, agent_side):
    """Each offered call (not cut by the run's end while queued) with its truth from the agent's side."""
    rows = []
    for call in calls:
        if call["failure"] == "stopped" and call["agent_ms"] is None:
            continue  # queued when the run ended: no outcome, not offered
        agent = agent_side[call["call_id"]]  # the same Call-ID through the proxy
        if agent["agent_ms"] is None:
            truth = "abandoned"
        else:
            wait_s = (agent["agent_ms"] - agent["ack_ms"]) / 1000.0  # the draw, on the agent's own clock
            assert wait_s <= REACHED_WITHIN[1] + LATE_BY_S or REACHED_LATE[0] <= wait_s <= REACHED_LATE[1] + LATE_BY_S
            truth = "within" if wait_s <= REACHED_WITHIN[1] + LATE_BY_S else "late"
        rows.append((call, agent, truth))
    return rows


def test_abandoned_calls_and_the_service_level_are_counted_exactly(queue_run):
    summary, calls, agent_side = queue_run
    assert len(agent_side) <= CHECKED_DRAWS  # every wait taken is one the seed's check covers
    rows = outcomes(calls, agent_side)
    truth = [t for _, _, t in rows]
    centre, level = summary["call_center"], summary["service_level"]
    assert centre["by_agent_marker"] is True
    assert centre["offered"] == len(rows) >= 10
    assert centre["abandonment_count"] == truth.count("abandoned") >= 1
    assert centre["answer_rate_count"] == truth.count("within") + truth.count("late")
    assert (level["within_s"], level["answered_within_count"], level["answered_within_of"]) == (
        WITHIN_S, truth.count("within"), len(rows))
    # The caller and the agent agree on who hung up in the queue: the caller, after its patience.
    for call, agent, outcome in rows:
        assert (call["failure"] == "abandoned") == (outcome == "abandoned")
        if outcome == "abandoned":
            assert agent["failure"] == "abandoned" and agent["hangup_by"] == "caller"
            assert PATIENCE_S * 1000 <= call["bye_ms"] - call["answer_ms"] < (PATIENCE_S + 1.0) * 1000
    # Each wait the agent kept is one of the seeded draws it took in turn (its timer a little late at most).
    taken = draws(len(agent_side))
    for _, agent, outcome in rows:
        if outcome != "abandoned":
            wait_s = (agent["agent_ms"] - agent["ack_ms"]) / 1000.0
            assert np.min(np.abs(taken - wait_s + LATE_BY_S / 2)) <= LATE_BY_S / 2 + 0.05
    # The 200 OK is the SIP dialog's: every offered call got one, at once.
    assert summary["calls"]["answered"] >= len(rows)
    assert centre["system_answer_ms"]["p95"] < 1000.0


def test_the_first_answer_is_the_time_to_agent(queue_run):
    summary, calls, agent_side = queue_run
    rows = outcomes(calls, agent_side)
    # When the agent sent its marker, on the caller's clock: the caller's 200 OK plus the agent's
    # own time from its 200 OK to the marker (the proxy's hops are a few milliseconds).
    sent = {c["call_id"]: c["answer_ms"] + a["agent_ms"] - a["answer_ms"] for c, a, t in rows if t != "abandoned"}
    measured = {c["call_id"]: c["agent_ms"] for c, _, t in rows if t != "abandoned"}
    for call_id, at in sent.items():
        assert 0.0 <= measured[call_id] - at <= 800.0  # the two DTMF digits of "*9" take their time
    # The first_answer line judges the time to agent, never the IVR-like 200 OK.
    (first,) = [line for line in summary["sla"] if line["name"] == "first_answer"]
    assert first["metric"] == "time_to_agent_s_p95"
    abandoned = sum(t == "abandoned" for _, _, t in rows)
    values = sorted(v / 1000.0 for v in sent.values()) + [float("inf")] * abandoned
    p95 = values[max(1, int(np.ceil(0.95 * len(values) - 1e-9))) - 1]
    if np.isinf(p95):  # more than 5% abandoned: the p95 is known only to exceed the shortest patience shown
        assert first["observed"] >= PATIENCE_S
    else:
        assert first["observed"] == pytest.approx(p95, abs=0.8)
    tta = summary["call_center"]["time_to_agent_ms"]
    assert tta["p50"] == pytest.approx(float(np.percentile(list(sent.values()), 50, method="inverted_cdf")),
                                       abs=800.0)
    assert tta["p50"] > 10 * summary["answer_ms"]["p50"]  # the queue, not the 200 OK
