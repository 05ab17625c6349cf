"""Fixtures shared by every test layer, which pjsua2 the tests exercise, and the layers' markers.

`make test` runs the live layers with `CALLPROOF_ENGINE=wheel` (the PyPI wheel, even
if a built engine is installed) and, side by side, the `sip_engine` tests again (and
the live tests whose outcome no engine changes, `any_engine`) with `CALLPROOF_ENGINE=built`; on a
Python the wheel does not exist for (3.13), the live layers once with
`CALLPROOF_ENGINE=built`. The variable is read by the built engine's .pth at interpreter
start (callproof.sip.engine.install), so it must be set before pytest starts; it also
reaches every SIP worker a test spawns. A "built" pass without a built engine installed
would silently test the wheel twice, so it stops here.

Markers (`peers`, `sip_engine`, `e2e`) are held to what a test really starts
(tests/markers.py): a process that needs a marker the test lacks fails the test.
"""

from __future__ import annotations

import fcntl
import functools
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import gevent.subprocess
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `tests.peers` is importable from any working directory
    sys.path.insert(0, str(ROOT))

from callproof.sip.engine.install import ENGINE_ENV, install_dir  # noqa: E402 - needs ROOT on sys.path
from tests import markers  # noqa: E402
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
    if os.environ.get(ENGINE_ENV) == "wheel" and _pjsua2_origin() == "nothing":
        pytest.exit(
            f"{ENGINE_ENV}=wheel but no pjsua2 wheel is installed (pjsua2-python has none for Python "
            f"{sys.version_info.major}.{sys.version_info.minor}): test the built engine ({ENGINE_ENV}=built)",
            returncode=3,
        )
    for popen in (subprocess.Popen, gevent.subprocess.Popen):
        popen.__init__ = _checking_markers(popen.__init__)


def pytest_unconfigure(config: pytest.Config) -> None:
    for popen in (subprocess.Popen, gevent.subprocess.Popen):
        popen.__init__ = getattr(popen.__init__, "__wrapped__", popen.__init__)


# -- the layers' markers, held to the processes a test starts (tests/markers.py) --------

_running: list[pytest.Item] = []  # the test being run (its setup, call and teardown)
_fixtures: list[str] = []  # the fixtures being set up, innermost last
_fixture_needs: dict[str, set[str]] = {}  # fixture -> the markers of the processes it started


def _checking_markers(init):
    @functools.wraps(init)
    def init_checked(self, args, *rest, **options):
        needed = markers.markers_needed(args)
        if needed and _running:
            for fixture in _fixtures:
                _fixture_needs.setdefault(fixture, set()).update(needed)
            _require(_running[-1], needed, f"starts {args if isinstance(args, str) else ' '.join(map(str, args))}")
        return init(self, args, *rest, **options)

    return init_checked


def _require(item: pytest.Item, needed: set[str], what: str) -> None:
    missing = markers.missing_markers(needed, {mark.name for mark in item.iter_markers()})
    if missing:
        pytest.fail(f"{item.nodeid} {what[:200]}: mark it {', '.join(missing)} (tests/markers.py)", pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    _running.append(item)
    try:
        yield
    finally:
        _running.pop()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for fixture in item.fixturenames:
        if fixture in _fixture_needs:
            _require(item, _fixture_needs[fixture], f"uses the fixture {fixture}, which started a process")


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    _fixtures.append(fixturedef.argname)
    try:
        yield
    finally:
        _fixtures.pop()


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    """A folder for peers' logs and files of this test session."""
    return tmp_path_factory.mktemp("peers")


@pytest.fixture
def media_ports():
    """RTP port ranges for the engine processes a test starts itself, claimed like a run's
    (callproof.harness.run.ports): never another run's, another test session's or another program's.
    Given back when the test ends: a session's engines (402 ports each) would otherwise use up the
    16,384-port span before the built-engine pass reaches its 800-call test."""
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


@pytest.fixture(scope="session")
def sipp_reject_503(run_dir):
    """SIPp answering every INVITE with 503 Service Unavailable (tests/sipp/uas_reject.xml)."""
    peer = sipp.scripted_uas(run_dir, "uas_reject", code="503")
    yield peer
    peer.stop()


def pytest_report_header(config: pytest.Config) -> str:
    return f"pjsua2 from {_pjsua2_origin()} ({ENGINE_ENV}={os.environ.get(ENGINE_ENV, 'unset')})"


# Two test sessions on one machine (the wheel's and the built engine's live passes of `make
# test` side by side, or two checkouts) hold beside each other, except the heavy tests: two at
# once starved each other past what they assert (200 calls under busy processes at a higher
# priority beside 800 calls in one process: engine processes not ready in 30 s, 1,489 of 1,490
# packets, PESQ out of order), and so did a heavy test beside the other session's light ones
# (PESQ of Opus, time to prompt to a few ms). So a heavy test has the machine to itself: a
# readers-writer lock over every session on the machine, where a heavy test is the writer and
# every other live test a reader. A waiting writer holds the turnstile, so the readers that come
# after it wait behind it rather than keep it out for the rest of the other session.
MACHINE_LOCK = Path("/tmp/callproof-tests-machine.lock")
TURNSTILE_LOCK = Path("/tmp/callproof-tests-turnstile.lock")


@pytest.fixture(autouse=True)
def _heavy_tests_have_the_machine_to_themselves(request):
    if not any(request.node.get_closest_marker(layer) for layer in markers.LIVE_LAYERS):
        yield  # the unit layer measures no time and starts nothing: it never waits
        return
    heavy = request.node.get_closest_marker("heavy") is not None
    # Both locks are released when their file closes, or when the session dies.
    with open(MACHINE_LOCK, "a") as machine:
        with open(TURNSTILE_LOCK, "a") as turnstile:
            fcntl.flock(turnstile, fcntl.LOCK_EX)
            fcntl.flock(machine, fcntl.LOCK_EX if heavy else fcntl.LOCK_SH)
        yield
