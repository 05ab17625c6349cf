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
from pathlib import Path

import pytest

from callproof.sip.engine import build as engine_build
from callproof.sip.engine.build import BuildConfig
from callproof.sip.engine.install import ENGINE_ENV
from callproof.sip.errors import SipConfigError

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


def assert_wheel(info: dict) -> None:
    # FIELD-NOTES: the wheel is pjproject 2.15.1, capped at 4 calls, select() I/O queue.
    assert (info["engine"], info["pjproject_version"], info["max_calls_per_process"], info["io_queue"]) == (
        "wheel",
        "2.15.1",
        4,
        "select",
    )


def test_a_fresh_environment_loads_the_wheel(scratch: Scratch) -> None:
    assert_wheel(scratch.info())


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
    assert_wheel(scratch.info())


def test_a_bogus_source_is_bad_input(scratch: Scratch, tmp_path: Path) -> None:
    bogus = tmp_path / "no-pjproject-here"
    bogus.mkdir()
    result = scratch.callproof("engine", "build", "--source", str(bogus))
    assert result.returncode == 2
    assert result.stderr == (
        f"callproof: --source {bogus} is not a pjproject tree (it needs pjlib/include/pj/config.h and aconfigure)\n"
    )
    assert_wheel(scratch.info())


def test_max_calls_out_of_range_is_bad_input(scratch: Scratch) -> None:
    result = scratch.callproof("engine", "build", "--max-calls", "0")
    assert (result.returncode, result.stderr) == (2, "callproof: --max-calls 0 is not between 1 and 8192\n")


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="Debian's source package needs apt")
def test_without_a_deb_src_entry_the_build_says_how_to_add_one(scratch: Scratch, tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    apt_config = tmp_path / "apt.conf"
    apt_config.write_text(f'Dir::Etc::SourceList "/dev/null";\nDir::Etc::SourceParts "{tmp_path / "parts"}";\n')
    result = scratch.callproof("engine", "build", env={**scratch.env, "APT_CONFIG": str(apt_config)})
    assert result.returncode == 2
    assert result.stderr.startswith("callproof: apt has no deb-src entry, which `apt-get source ring` needs: ")
    assert result.stderr.count("\n") == 1
    assert_wheel(scratch.info())


def debian_source_or_skip() -> engine_build.Source:
    try:
        return engine_build.debian_source()
    except SipConfigError as exc:
        pytest.skip(f"Debian's ring source package is not reachable here: {exc}")


def test_build_installs_over_the_wheel_and_uninstall_brings_it_back(scratch: Scratch) -> None:
    source = debian_source_or_skip()
    cached = engine_build.cached_engine(engine_build.cache_key(source, BuildConfig())) is not None

    built = scratch.callproof("engine", "build", timeout_s=60 if cached else 900)
    assert built.returncode == 0, built.stderr
    assert "capacity: 1024 calls per process (pjproject 2.12.1, epoll-exclusive I/O queue)" in built.stdout

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
        *(name for name, _ in engine_build.our_patches()),  # pinned in test_engine_build.py
    ]
    assert info["build"]["limits"] == BuildConfig().limits()
    # Debian removed iLBC's sources from the tree; speex and GSM come from the system.
    assert {"PCMU/8000/1", "PCMA/8000/1", "G722/16000/1", "GSM/8000/1", "speex/8000/1"} <= set(info["codecs"])
    assert "iLBC/8000/1" not in info["codecs"]

    assert_wheel(scratch.info(env={**scratch.env, ENGINE_ENV: "wheel"}))

    removed = scratch.callproof("engine", "uninstall")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines() == [
        f"removed {scratch.site / 'callproof-engine'}",
        "pjsua2 wheel 2.15.1.post1 (pjproject 2.15.1): 4 calls per process, select I/O queue, bridge 8000 Hz",
    ]
    assert_wheel(scratch.info())
    assert sorted(p.name for p in scratch.site.iterdir()) == ["callproof", "callproof-test-parent.pth"]
