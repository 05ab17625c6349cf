"""Engine processes are numbered per kind from 1: registered agent n runs as process agentN and
logs to logs/agentN.log; callers are caller1, caller2... whatever else the fleet started before."""

from __future__ import annotations

from callproof.harness.run.engines import Fleet
from callproof.harness.run.ports import PortRegistry
from callproof.sip.settings import EngineSettings


def test_processes_are_numbered_per_kind_from_one(tmp_path):
    fleet = Fleet(EngineSettings(name="caller", bind_ip="127.0.0.1"), log_dir=tmp_path,
                  ports=PortRegistry("127.0.0.1", lock_path=None, span=range(47000, 47400)))
    try:
        probe = fleet.process("probe", 1)
        agents = [fleet.process("agent", 1) for _ in range(3)]
        callers = [fleet.process("caller", 4) for _ in range(2)]
    finally:
        fleet.close()
    assert probe.name == "probe1"
    assert [p.name for p in agents] == ["agent1", "agent2", "agent3"]
    assert [p.name for p in callers] == ["caller1", "caller2"]
    assert [p.log_path.name for p in callers] == ["caller1.log", "caller2.log"]
