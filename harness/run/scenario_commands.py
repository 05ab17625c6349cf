"""The programs a scenario would start: refused unless the person running it allows them, listed before the run.

A scenario may come from the other party (a buyer's scenario on a vendor's machine).
Its `processes` and its faults (`command`, `signal`, `stop`) run with the rights of
whoever runs callproof, so they run only with `callproof run --allow-scenario-commands`,
and that run prints each of them, exactly, before it starts anything. With that flag the
default per-user signing key is refused: those programs could read any file the user
can, that key included, so the run must sign with a key kept for such runs (`--key`).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from callproof.harness.errors import BadInput
from callproof.harness.scenario.model import Permits, Scenario
from callproof.reports.keys import default_key_path
from callproof.reports.terminal import escape

FLAG = "--allow-scenario-commands"


def starts_programs(scenario: Scenario) -> bool:
    return bool(scenario.processes or scenario.faults)


def check_allowed(scenario: Scenario, permits: Permits, *, key_path: Path | None) -> None:
    """One sentence (exit 2) when the scenario would start programs the command line did not allow."""
    if not starts_programs(scenario):
        return
    what = ", ".join([f"processes ({len(scenario.processes)})"] * bool(scenario.processes)
                     + [f"faults ({len(scenario.faults)})"] * bool(scenario.faults))
    if not permits.commands:
        raise BadInput(f"{scenario.path} starts programs of its own ({what}), which would run with your rights; "
                       f"read them, and run it with {FLAG} if you trust them")
    if key_path is None or Path(key_path).resolve() == default_key_path().resolve():
        raise BadInput(f"{FLAG} lets the scenario's programs read any file you can, your per-user signing key "
                       "included; sign such a run with a key kept for it: --key PATH (callproof keygen --out PATH)")
    for index, fault in enumerate(scenario.faults):
        if fault.action == "signal" and not scenario.processes and fault.pid_file not in permits.pid_files:
            raise BadInput(f"faults[{index}] signals the PID in {fault.pid_file}, and a signal goes only to a "
                           f"process this run starts (processes) or to the PID in a file you name with "
                           f"--allow-pid-file {fault.pid_file}")


def listing(scenario: Scenario) -> list[str]:
    """What the run will start, one line each, as it will run it (words as the program gets them)."""
    lines = [f"process {spec.name}: {_argv(spec.command)}" for spec in scenario.processes]
    for fault in sorted(scenario.faults, key=lambda f: f.at_s):
        at = f"at {fault.at_s:g} s"
        if fault.action == "command":
            lines.append(f"fault {at}: {_argv(fault.command or ())}")
        elif fault.action == "stop":
            lines.append(f"fault {at}: {fault.signal.name} to process {fault.process}")
        else:
            lines.append(f"fault {at}: {fault.signal.name} to the PID in {escape(str(fault.pid_file))}")
    return lines


def _argv(argv: tuple[str, ...]) -> str:
    return escape(shlex.join(argv))
