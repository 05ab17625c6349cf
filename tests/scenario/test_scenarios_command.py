"""`callproof scenarios` lists the bundled scenarios, and its module imports lightly."""

from __future__ import annotations

import subprocess
import sys

from callproof.harness.cli import main
from callproof.harness.scenario.loader import bundled_dir, list_bundled


def test_lists_every_bundled_scenario_with_its_description(capsys):
    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    bundled = list_bundled()
    width = max(len(name) for name, _ in bundled)
    assert lines[: len(bundled)] == [f"{name:<{width}}  {description}" for name, description in bundled]
    assert "smoke" in [line.split()[0] for line in lines[: len(bundled)]]
    assert lines[-1] == f"{len(bundled)} scenarios in {bundled_dir()}; run one with: callproof run NAME"


def test_command_module_imports_no_heavy_package():
    probe = (
        "import sys, callproof.harness.commands.scenarios; "
        "print(sorted(m for m in ('yaml', 'jsonschema', 'numpy', 'locust', 'gevent') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
