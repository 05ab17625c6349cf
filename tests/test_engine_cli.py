"""`callproof engine build|info|uninstall` as a user runs them, in a scratch Python environment.

Each test gets a fresh virtualenv that sees this environment's packages (the
pjsua2 wheel among them) and this checkout, but not this environment's .pth
files: whatever engine the test environment has installed, the scratch one
starts with the wheel, and installing or removing the built engine there
touches nothing else. Builds come from the machine's cache (`make test` fills
it first); a cold cache costs one full build (about 2 minutes).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from callproof.sip.engine import build as engine_build
from callproof.sip.engine import patches, selfcheck
from callproof.sip.engine import source as engine_source
from callproof.sip.engine.build import BuildConfig
from callproof.sip.engine.install import ENGINE_ENV
from callproof.sip.errors import SipError

# Every engine command loads pjsua2 (in a scratch environment that picks its own engine).
pytestmark = pytest.mark.sip_engine

CHECKOUT = Path(__file__).resolve().parents[1]


def package_dirs() -> dict[str, str]:
    """pyproject.toml's package-dir mapping: callproof.harness -> harness, ..."""
    with open(CHECKOUT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["tool"]["setuptools"]["package-dir"]


class Scratch:
    def __init__(self, root: Path) -> None:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
        self.python = root / "bin" / "python"
        site = Path(
            subprocess.run(
                [str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
        # A plain path line: that directory's own .pth files (a built engine's, the editable
        # install's import hook) are not run. callproof comes from a link tree of the checkout
        # laid out as pyproject.toml maps it (callproof.harness -> harness/, ...).
        (site / "callproof-test-parent.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n")
        namespace = site / "callproof"
        namespace.mkdir()
        for package, folder in package_dirs().items():
            (namespace / package.removeprefix("callproof.")).symlink_to(CHECKOUT / folder)
        self.site = site
        self.env = {k: v for k, v in os.environ.items() if k not in (ENGINE_ENV, "PYTHONPATH")}

    def callproof(
        self, *args: str, env: dict[str, str] | None = None, timeout_s: float = 120
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.python), "-P", "-m", "callproof.harness.cli", *args],
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )

    def info(self, env: dict[str, str] | None = None) -> dict:
        result = self.callproof("engine", "info", "--json", env=env)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def scratch(tmp_path: Path) -> Scratch:
    return Scratch(tmp_path / "venv")


def wheel_version() -> str | None:
    """pjsua2-python's version here; None on a Python it has no wheel for (3.13)."""
    try:
        return metadata.version("pjsua2-python")
    except metadata.PackageNotFoundError:
        return None


NO_PJSUA2 = "callproof: no pjsua2 is installed in this environment"


def assert_wheel(info: dict) -> None:
    # FIELD-NOTES: the wheel is pjproject 2.15.1, capped at 4 calls, select() I/O queue.
    assert (info["engine"], info["pjproject_version"], info["max_calls_per_process"], info["io_queue"]) == (
        "wheel",
        "2.15.1",
        4,
        "select",
    )


def assert_fallback(scratch: Scratch, env: dict[str, str] | None = None) -> None:
    """Without the built engine: the wheel loads, or, where there is no wheel, nothing and a sentence saying so."""
    if wheel_version() is not None:
        assert_wheel(scratch.info(env))
        return
    result = scratch.callproof("engine", "info", "--json", env=env)
    assert result.returncode == 3
    assert result.stderr.startswith(NO_PJSUA2) and result.stderr.count("\n") == 1


def test_a_fresh_environment_loads_the_wheel(scratch: Scratch) -> None:
    assert_fallback(scratch)


def path_without(tmp_path: Path, *removed: str) -> str:
    """A PATH holding only what the build calls, minus `removed`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("cc", "c++", "make", "swig", "patch", "tar", "apt-get"):
        found = shutil.which(tool)
        if found and tool not in removed:
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


@pytest.mark.parametrize(
    ("removed", "sentence"),
    [
        (("swig",), "engine build needs swig: install the Debian packages swig (apt-get install swig)"),
        (
            ("cc", "c++"),
            "engine build needs cc, c++: install the Debian packages build-essential (apt-get install build-essential)",
        ),
    ],
    ids=["no-swig", "no-compiler"],
)
def test_a_missing_tool_is_named_and_the_wheel_keeps_working(
    scratch: Scratch, tmp_path: Path, removed: tuple[str, ...], sentence: str
) -> None:
    result = scratch.callproof("engine", "build", env={**scratch.env, "PATH": path_without(tmp_path, *removed)})
    assert (result.returncode, result.stderr) == (2, f"callproof: {sentence}\n")
    assert_fallback(scratch)


def test_a_bogus_source_is_bad_input(scratch: Scratch, tmp_path: Path) -> None:
    bogus = tmp_path / "no-pjproject-here"
    bogus.mkdir()
    result = scratch.callproof("engine", "build", "--source", str(bogus))
    assert result.returncode == 2
    assert result.stderr == (
        f"callproof: --source {bogus} is not a pjproject tree (it needs pjlib/include/pj/config.h and aconfigure)\n"
    )
    assert_fallback(scratch)


def test_max_calls_out_of_range_is_bad_input(scratch: Scratch) -> None:
    result = scratch.callproof("engine", "build", "--max-calls", "0")
    assert (result.returncode, result.stderr) == (2, "callproof: --max-calls 0 is not between 1 and 8192\n")


def debian_source_or_skip() -> engine_source.Source:
    """The default source as the machine's cache knows it; tests never fetch bookworm's index themselves."""
    cache = engine_build.cache_root()
    if not engine_source.PrivateApt(cache / "apt").has_lists():
        pytest.skip("no engine build has fetched bookworm's source index on this machine yet")
    try:
        return engine_source.debian_source(cache)
    except SipError as exc:
        pytest.skip(f"Debian's ring source package is not reachable here: {exc}")


def cached_default_engine_or_skip() -> None:
    if engine_build.cached_engine(engine_build.cache_key(debian_source_or_skip(), BuildConfig())) is None:
        pytest.skip("the default engine is not in this machine's cache (`make engine` builds it, ~3 minutes)")


@pytest.mark.heavy  # the build ends with the self-check, whose limits are a few tens of ms
def test_build_installs_over_the_wheel_and_uninstall_brings_it_back(scratch: Scratch) -> None:
    source = debian_source_or_skip()
    cached = engine_build.cached_engine(engine_build.cache_key(source, BuildConfig())) is not None

    built = scratch.callproof("engine", "build", timeout_s=90 if cached else 900)
    assert built.returncode == 0, built.stderr
    assert "capacity: 1024 calls per process (pjproject 2.12.1, epoll-exclusive I/O queue)" in built.stdout
    assert "checked and installed in" in built.stdout
    (check_line,) = [line for line in built.stdout.splitlines() if line.strip().startswith("self-check")]
    assert f"over {selfcheck.CALLS} calls" in check_line

    info = scratch.info()
    assert (info["engine"], info["pjproject_version"], info["max_calls_per_process"], info["io_queue_kind"]) == (
        "built",
        "2.12.1",
        BuildConfig().max_calls,
        "epoll",
    )
    assert info["module_path"] == str(scratch.site / "callproof-engine" / "pjsua2.py")
    assert info["build"]["patches"] == [
        "CVE-2023-27585_ring.patch (Debian)",
        *patches.PATCH_SETS[("jami", "2.12.1")],  # pinned in test_engine_patches.py
    ]
    assert (info["build"]["pjproject_fork"], info["build"]["pjproject_version"]) == ("jami", "2.12.1")
    assert info["build"]["limits"] == BuildConfig().limits()
    assert selfcheck.problems(selfcheck.Figures(**{
        key: info["build"]["self_check"][key] for key in ("calls", "setup_delay_ms", "media_start_ms",
                                                          "pump_latency_max_ms", "failures")
    })) == []
    described = scratch.callproof("engine", "info")
    assert described.returncode == 0, described.stderr
    assert described.stdout.splitlines()[-1].startswith("self-check     setup delay p50 ")
    # Debian removed iLBC's sources from the tree; speex and GSM come from the system.
    assert {"PCMU/8000/1", "PCMA/8000/1", "G722/16000/1", "GSM/8000/1", "speex/8000/1"} <= set(info["codecs"])
    assert "iLBC/8000/1" not in info["codecs"]

    assert_fallback(scratch, env={**scratch.env, ENGINE_ENV: "wheel"})

    removed = scratch.callproof("engine", "uninstall")
    assert removed.returncode == 0, removed.stderr
    after = ("pjsua2 wheel 2.15.1.post1 (pjproject 2.15.1): 4 calls per process, select I/O queue, bridge 8000 Hz"
             if wheel_version() is not None else f"now {NO_PJSUA2.removeprefix('callproof: ')}")
    assert removed.stdout.splitlines()[0] == f"removed {scratch.site / 'callproof-engine'}"
    assert removed.stdout.splitlines()[1].startswith(after)
    assert_fallback(scratch)
    assert sorted(p.name for p in scratch.site.iterdir()) == ["callproof", "callproof-test-parent.pth"]


def test_the_default_source_needs_no_apt_source_of_the_systems(scratch: Scratch, tmp_path: Path) -> None:
    # Debian 13 has no ring source at all: the build must not need the system's apt sources.
    cached_default_engine_or_skip()
    (tmp_path / "parts").mkdir()
    apt_config = tmp_path / "apt.conf"
    apt_config.write_text(f'Dir::Etc::SourceList "/dev/null";\nDir::Etc::SourceParts "{tmp_path / "parts"}";\n')
    built = scratch.callproof("engine", "build", env={**scratch.env, "APT_CONFIG": str(apt_config)}, timeout_s=90)
    assert built.returncode == 0, built.stderr
    assert "Debian source package ring " in built.stdout
    assert scratch.info()["engine"] == "built"
