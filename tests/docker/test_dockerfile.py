"""docker/Dockerfile builds the engine as `make engine` does and hands it to the image it ships.

No Docker engine runs here: the Dockerfile is read (tests/docker/dockerfile.py) and
checked against the Makefile, the engine build's own prerequisites, Debian's archive
(the pinned package versions) and the module this machine built (the libraries it links).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from callproof.sip.engine import build as engine_build
from callproof.sip.engine import install as engine_install
from tests.docker.conftest import DOCKER_DIR
from tests.docker.dockerfile import parse

DOCKERFILE = parse(DOCKER_DIR / "Dockerfile")
MAKEFILE = DOCKER_DIR.parent / "Makefile"
VENV = "/opt/callproof"
# Packages every python:3.11-slim-bookworm image holds: Debian's essential set (libc6,
# libgcc-s1, libstdc++6 for apt) and what CPython itself links (libssl3, libuuid1).
IN_THE_BASE_IMAGE = {"libc6", "libgcc-s1", "libstdc++6", "libssl3", "libuuid1"}


def test_both_stages_start_from_one_pinned_python_image() -> None:
    # The engine is compiled for the build stage's Python: the runtime must be the same one.
    assert [s.name for s in DOCKERFILE.stages] == ["engine", "runtime"]
    assert {s.base for s in DOCKERFILE.stages} == {"${PYTHON_IMAGE}"}
    image = DOCKERFILE.global_args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", image), image


def makefile_engine_command() -> list[str]:
    text = MAKEFILE.read_text()
    recipe = re.search(r"^engine:.*\n\t(.+)$", text, flags=re.M).group(1)
    words = shlex.split(recipe)
    assert words[0] == "$(BIN)/callproof"
    return words[1:]


def test_the_engine_stage_runs_the_same_build_command_as_make_engine() -> None:
    (build_run,) = [run for run in DOCKERFILE.stage("engine").runs() if "callproof engine" in run]
    command = build_run[build_run.index("callproof engine"):]
    words = shlex.split(command)
    assert words[0] == "callproof"
    release = ["${PJPROJECT_VERSION:+--source", "/usr/src/pjproject-${PJPROJECT_VERSION}}"]
    assert words[1:] == makefile_engine_command() + release
    # The engine cache survives code changes between image builds.
    assert build_run.startswith("--mount=type=cache,target=/root/.cache/callproof ")


def test_the_engine_stage_installs_every_build_prerequisite() -> None:
    packages = DOCKERFILE.stage("engine").apt_packages()
    # apt and tar are essential in Debian; Python's headers come with the image (python:*-slim keeps include/).
    needed = {p.package for p in engine_build.prerequisites_for(None) if p.package not in ("apt", "tar")}
    assert needed <= set(packages), needed - set(packages)


def test_a_release_is_checked_against_its_sha256_before_it_is_unpacked() -> None:
    (download,) = [run for run in DOCKERFILE.stage("engine").runs() if "curl -fsSL" in run]
    order = [download.index(step) for step in ("curl ", "sha256sum -c", "tar -xzf")]
    assert order == sorted(order)
    assert "https://github.com/pjsip/pjproject/archive/refs/tags/${PJPROJECT_VERSION}.tar.gz" in download
    assert "${PJPROJECT_TAR_SHA256}" in download
    assert "-C /usr/src" in download  # where the build command's --source points


def test_callproof_and_its_engine_live_in_one_virtualenv_the_runtime_copies() -> None:
    engine, runtime = DOCKERFILE.stage("engine"), DOCKERFILE.stage("runtime")
    assert f"python -m venv {VENV}" in engine.runs()
    assert engine.env()["PATH"].startswith(f"{VENV}/bin:")
    runs = engine.runs()
    assert runs.index("pip install --no-cache-dir .") < next(i for i, r in enumerate(runs) if "engine build" in r)
    assert f"--from=engine {VENV} {VENV}" in runtime.copies()
    assert runtime.env()["PATH"].startswith(f"{VENV}/bin:")
    # The image build fails unless the built engine is what loads in the runtime stage.
    check = runtime.runs()[-1]
    assert check.startswith("callproof engine info") and '"^pjsua2 *built engine"' in check


def test_the_runtime_check_matches_what_engine_info_prints() -> None:
    from callproof.sip.engine.info import describe

    info = {"engine": "built", "module_path": f"{VENV}/lib/python3.11/site-packages/callproof-engine/pjsua2.py",
            "pjproject_version": "2.12.1", "max_calls_per_process": 1024, "io_queue": "epoll", "io_queue_kind": "epoll",
            "codecs": [], "media": {}, "build": None, "wheel_version": None}
    assert re.match(r"^pjsua2 *built engine", describe(info)[0])


@pytest.mark.skipif(shutil.which("apt-cache") is None, reason="needs apt (Debian)")
def test_pinned_package_versions_exist_in_debian_bookworm() -> None:
    if "bookworm" not in Path("/etc/os-release").read_text():
        pytest.skip("the image is Debian 12 (bookworm); this machine's apt knows another release")
    pinned = {name: version for stage in DOCKERFILE.stages for name, version in stage.apt_packages().items() if version}
    assert pinned
    madison = subprocess.run(["apt-cache", "madison", *pinned], capture_output=True, text=True, check=True).stdout
    known = {(name.strip(), version.strip()) for name, version, _ in (line.split("|") for line in madison.splitlines())}
    for name, version in pinned.items():
        assert (name, version) in known, (name, version)


def linked_libraries(module: Path) -> list[str]:
    dynamic = subprocess.run(["readelf", "-d", str(module)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]", dynamic)


def debian_package_of(library: str) -> str:
    found = subprocess.run(["dpkg", "-S", f"*/{library}"], capture_output=True, text=True, check=True).stdout
    packages = {line.split(":")[0] for line in found.splitlines() if not line.startswith("diversion")}
    # Debian 13's 64-bit time_t transition renamed libraries (libssl3 -> libssl3t64); the image is
    # Debian 12's, where they keep their names.
    return re.sub(r"t64$", "", sorted(packages)[0])


@pytest.mark.skipif(shutil.which("dpkg") is None or shutil.which("readelf") is None, reason="needs dpkg and readelf")
def test_the_runtime_stage_has_every_library_the_built_engine_links() -> None:
    modules = sorted(engine_install.install_dir().glob("_pjsua2*.so"))
    if not modules:
        pytest.skip("no built engine is installed here to read its links from (`callproof engine build`)")
    needed = {debian_package_of(library) for library in linked_libraries(modules[0])}
    assert {"libspeex1", "libspeexdsp1", "libgsm1", "libssl3", "libuuid1"} <= needed  # the reading works
    installed = set(DOCKERFILE.stage("runtime").apt_packages())
    assert needed - IN_THE_BASE_IMAGE <= installed, needed - IN_THE_BASE_IMAGE - installed
