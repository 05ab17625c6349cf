"""Fixtures shared by every test layer, and which pjsua2 the tests exercise.

`make test` runs the suite with `CALLPROOF_ENGINE=wheel` (the PyPI wheel, even
if a built engine is installed), then the `sip_engine` tests again with
`CALLPROOF_ENGINE=built`. The variable is read by the built engine's .pth at
interpreter start (callproof.sip.engine.install), so it must be set before pytest starts;
it also reaches every SIP worker a test spawns. A "built" pass without a built
engine installed would silently test the wheel twice, so it stops here.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `tests.peers` is importable from any working directory
    sys.path.insert(0, str(ROOT))

from callproof.sip.engine.install import ENGINE_ENV, install_dir  # noqa: E402 - needs ROOT on sys.path
from tests.peers import sipp  # noqa: E402


def _pjsua2_origin() -> str:
    spec = importlib.util.find_spec("pjsua2")  # locates without importing: no Endpoint in pytest's process
    return spec.origin if spec and spec.origin else "nothing"


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(ENGINE_ENV) == "built" and not _pjsua2_origin().startswith(str(install_dir())):
        pytest.exit(
            f"{ENGINE_ENV}=built but `import pjsua2` finds {_pjsua2_origin()}: run `callproof engine build` first",
            returncode=3,
        )


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    """A folder for peers' logs and files of this test session."""
    return tmp_path_factory.mktemp("peers")


@pytest.fixture(scope="session")
def media_ports():
    """RTP port ranges for the engine processes a test starts itself, claimed like a run's
    (callproof.harness.run.ports): never another run's, another test session's or another program's."""
    from callproof.harness.run.ports import PortRegistry

    registry = PortRegistry("127.0.0.1")
    yield registry
    registry.close()


@pytest.fixture(scope="session")
def sipp_echo(run_dir):
    """`sipp -sn uas -rtp_echo` on 127.0.0.1, shared by the tests whose calls it echoes."""
    peer = sipp.echo_uas(run_dir)
    yield peer
    peer.stop()


def pytest_report_header(config: pytest.Config) -> str:
    return f"pjsua2 from {_pjsua2_origin()} ({ENGINE_ENV}={os.environ.get(ENGINE_ENV, 'unset')})"
