"""Which test layer a process belongs to, from its command line, and the check that holds tests to it.

`make unit` runs everything that is not `peers`, `sip_engine` or `e2e`, so a live test
without its marker slows the unit layer down or fails it on a machine without the
peers. Rather than trusting every author to remember, `tests/conftest.py` watches the
processes tests start (subprocess and gevent.subprocess):

- `peers`: SIPp, Kamailio, baresip, rtpengine, Prometheus, or a capture (dumpcap, tcpdump);
- `sip_engine`: a pjsua2 engine process, the engine probe, or `callproof engine ...`;
- `e2e`: the CLI in a child process, as a user runs it (`callproof run`, `report`, `verify`,
  `analyze`, ...): half a second of interpreter and imports each before any work, and a run
  or a report takes seconds. The unit layer calls the same code in its own process.

A test that starts one without the marker fails, naming the marker; so does a test
that uses a fixture that started a peer (a session fixture starts only once, for
its first user, and every later user must carry the marker too).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Sequence

LIVE_LAYERS = ("peers", "sip_engine", "e2e")  # what `make unit` leaves out
PEER_PROGRAMS = frozenset({"sipp", "kamailio", "baresip", "rtpengine", "dumpcap", "tcpdump", "prometheus"})
ENGINE_MODULES = frozenset({"callproof.sip.worker", "callproof.sip.engine.info"})
CLI_MODULE = "callproof.harness.cli"


def markers_needed(argv: str | bytes | Sequence[object]) -> set[str]:
    """The markers a test needs to start a process with this command line."""
    if isinstance(argv, bytes):
        argv = argv.decode(errors="replace")
    args = shlex.split(argv) if isinstance(argv, str) else [str(a) for a in argv]
    if not args:
        return set()
    needed = set()
    if Path(args[0]).name in PEER_PROGRAMS:
        needed.add("peers")
    if ENGINE_MODULES & set(args):
        needed.add("sip_engine")
    if CLI_MODULE in args:
        command = args[args.index(CLI_MODULE) + 1:][:1]
        if command == ["engine"]:
            needed.add("sip_engine")  # every engine command loads pjsua2 to say which engine is in use
        else:
            needed.add("e2e")
    return needed


def missing_markers(needed: set[str], carried: set[str]) -> list[str]:
    return sorted(needed - carried)
