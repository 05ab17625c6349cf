"""One import namespace: `callproof.*`, never a top-level `sip`, `harness`, `reports` or `rtp_analysis`.

`sip` is SIP v4's import name (Debian's python3-sip, PyQt5 before 5.11), PyPI has
`reports` and `harness`; and `python -m PKG.MOD` puts the working directory first
on sys.path. Child interpreters start with -P, so a user's own `sip.py` beside their
scenario is never what an engine process imports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from callproof.sip.settings import EngineSettings

ROOT = Path(__file__).resolve().parent.parent
SHADOWS = ("sip", "harness", "reports", "rtp_analysis", "callproof")


def test_no_top_level_package_of_ours(tmp_path):
    # In a fresh interpreter: pytest itself puts the checkout on sys.path for `tests.*`.
    probe = ("import importlib.util, json; print(json.dumps({n: getattr(importlib.util.find_spec(n), 'origin', None) "
             "for n in ('sip', 'harness', 'reports', 'rtp_analysis', 'callproof.sip.worker')}))")
    done = subprocess.run([sys.executable, "-P", "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    found = json.loads(done.stdout)
    for name in ("sip", "harness", "reports", "rtp_analysis"):
        assert not str(found[name] or "").startswith(str(ROOT)), f"import {name} finds our {found[name]}"
    assert found["callproof.sip.worker"] == str(ROOT / "sip" / "worker.py")


@pytest.fixture
def hostile_cwd(tmp_path: Path) -> Path:
    """A working directory whose own sip.py (and friends) stop any interpreter that imports them."""
    for name in SHADOWS:
        (tmp_path / f"{name}.py").write_text(f"raise SystemExit('the user\\'s {name}.py was imported')\n")
    return tmp_path


@pytest.mark.sip_engine  # `engine info` loads pjsua2
def test_the_cli_and_its_probe_ignore_the_working_directory(hostile_cwd):
    done = subprocess.run([sys.executable, "-P", "-m", "callproof.harness.cli", "engine", "info", "--json"],
                          cwd=hostile_cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["max_calls_per_process"] >= 4


@pytest.mark.sip_engine
def test_an_engine_process_starts_beside_a_users_sip_py(hostile_cwd, media_ports):
    """What every run does: `python -P -m callproof.sip.worker`, started from the user's folder."""
    worker = subprocess.Popen([sys.executable, "-P", "-m", "callproof.sip.worker"], cwd=hostile_cwd,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**os.environ})
    try:
        ports = media_ports.claim(40)
        settings = EngineSettings(name="namespace-test", rtp_port=ports.start, rtp_port_range=len(ports) - 2,
                                  max_calls=4)
        worker.stdin.write(json.dumps({"op": "start", "settings": settings.to_dict()}).encode() + b"\n")
        worker.stdin.flush()
        ready = json.loads(worker.stdout.readline())
        assert ready["ev"] == "ready", ready
        assert ready["capacity"] >= 1
    finally:
        worker.stdin.close()  # end of input: the worker shuts pjsua2 down and exits
        assert worker.wait(timeout=30) == 0, worker.stderr.read().decode()[-2000:]
