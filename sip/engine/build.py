"""Build pjsua2 from pjproject source with per-process limits raised, check it, cache it, install it.

`callproof engine build` runs these steps, timing each one:

    prerequisites  compiler, make, swig, patch, headers (one sentence naming what to install)
    source         --source DIR, or Debian's `ring` source package (Jami's pjproject 2.12.1 fork)
                   through callproof's own apt lists (callproof.sip.engine.source)
    cache          key = source digest + configuration; a hit skips to the self-check
    fetch          download if needed; a private copy of the tree to build in
    prepare        Debian's pjproject patches, then ours for this tree (callproof.sip.engine.patches);
                   write config_site.h
    configure      epoll I/O queue, no sound device, no video, external speex/gsm
    libraries      `make lib`
    swig           the Python wrapper, with -threads (2.12.1's Makefile has it commented out)
    module         compile _pjsua2 against the running Python
    self-check     short calls through the new module on 127.0.0.1 (callproof.sip.engine.selfcheck);
                   an engine not fit for load is not installed (EngineError, exit 3)
    install        copy into site-packages in front of the wheel (callproof.sip.engine.install)
    probe          a child process reports the engine now loaded and its capacity

Results live in ~/.cache/callproof/engine/KEY/ ($XDG_CACHE_HOME honoured), so a
second build, or a build in another virtualenv of the same Python, only checks and installs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import hashlib
import importlib.resources
import json
import os
import shutil
import string
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from callproof.sip.engine import install as engine_install
from callproof.sip.engine import patches, selfcheck
from callproof.sip.engine import source as sources
from callproof.sip.engine.info import probe_in_subprocess
from callproof.sip.engine.source import Source
from callproof.sip.errors import EngineError, SipConfigError

# Bump when the steps below change in a way the other key inputs do not show.
RECIPE_VERSION = 3  # 2: patches chosen per tree (patches.PATCH_SETS), apt lists of our own; 3: Opus (libopus)

MAX_CALLS_LIMIT = 8192  # static memory: about 39 KB per call slot even when idle

CONFIGURE_ARGS = (
    "--enable-epoll",
    "--disable-sound",
    "--disable-video",
    "--disable-v4l2",
    "--disable-sdl",
    "--disable-ffmpeg",
    "--disable-openh264",
    "--disable-vpx",
    "--disable-libyuv",
    "--disable-libwebrtc",
    # Debian removed these codecs' sources from the ring tree; speex, GSM and
    # Opus come from the system instead (their headers are prerequisites, so
    # configure always finds them). The rest would be autodetected, which
    # would make the build depend on what else the machine has installed.
    "--disable-ilbc-codec",
    "--disable-g7221-codec",
    "--disable-opencore-amr",
    "--disable-silk",
    "--disable-bcg729",
    "--disable-android-mediacodec",
    "--with-external-speex",
    "--with-external-gsm",
)
# Static libraries end up inside a shared object (_pjsua2.so). NDEBUG: a failed
# pj_assert aborts the process with every call it holds (2.12.1 asserts when a
# call's stream stats are asked for after its media is gone); without it,
# PJ_ASSERT_RETURN returns PJ_EINVAL and pjsua2 raises an Error we handle.
COMPILE_FLAGS = "-O2 -fPIC -DNDEBUG"
# -threads: calls into pjsua2 release the GIL and callbacks take it, so
# callbacks from pjmedia's own threads (AudioMediaPort frames) run safely.
SWIG_FLAGS = ("-c++", "-w312", "-threads", "-DSWIG_NO_EXPORT_ITERATOR_METHODS", "-python")



@dataclasses.dataclass(frozen=True, kw_only=True)
class BuildConfig:
    """The compile-time limits of one engine; everything scales with `max_calls`."""

    max_calls: int = 1024

    def __post_init__(self) -> None:
        if not 1 <= self.max_calls <= MAX_CALLS_LIMIT:
            raise SipConfigError(f"--max-calls {self.max_calls} is not between 1 and {MAX_CALLS_LIMIT}")

    def limits(self) -> dict[str, int]:
        """config_site.h's values, never below pjproject's defaults (pjsua.h, sip_config.h: 8 accounts,
        32 players and recorders, 254 bridge ports, 1023 transactions, 511 dialogs); I/O handles at least 8192."""
        calls = self.max_calls
        return {
            "max_calls": calls,
            "max_accounts": max(8, calls),
            "max_players": max(32, calls),
            "max_recorders": max(32, calls),
            "max_conf_ports": max(254, 3 * calls + 16),
            "max_io_handles": max(8192, 8 * calls),
            "max_transactions": max(1024, 8 * calls) - 1,
            "max_dialogs": max(512, 2 * calls) - 1,
            "max_sdp_media": 4,
        }

    def config_site_h(self) -> str:
        template = importlib.resources.files("callproof.sip.engine").joinpath("pjproject/config_site.h.in").read_text()
        return string.Template(template).substitute(self.limits())


@dataclasses.dataclass(frozen=True)
class Prerequisite:
    name: str  # what the user reads: "swig", "openssl/ssl.h"
    package: str  # the Debian package that provides it
    kind: str  # "program" (on PATH), "header" (the C preprocessor finds it) or "file" (this path exists)


PREREQUISITES = (
    Prerequisite("cc", "build-essential", "program"),
    Prerequisite("c++", "build-essential", "program"),
    Prerequisite("make", "build-essential", "program"),
    Prerequisite("swig", "swig", "program"),
    Prerequisite("patch", "patch", "program"),
    Prerequisite("tar", "tar", "program"),
    Prerequisite("openssl/ssl.h", "libssl-dev", "header"),
    Prerequisite("uuid/uuid.h", "uuid-dev", "header"),
    Prerequisite("speex/speex.h", "libspeex-dev", "header"),
    Prerequisite("speex/speex_echo.h", "libspeexdsp-dev", "header"),
    Prerequisite("gsm/gsm.h", "libgsm1-dev", "header"),
    Prerequisite("opus/opus.h", "libopus-dev", "header"),
)


# The default source only: apt fetches Debian's ring package, verified with Debian's archive keyring.
DEFAULT_SOURCE_PREREQUISITES = (
    Prerequisite("apt-get", "apt", "program"),
    Prerequisite(str(sources.DEBIAN_KEYRING), "debian-archive-keyring", "file"),
)


def prerequisites_for(source_dir: Path | None) -> tuple[Prerequisite, ...]:
    return PREREQUISITES + (DEFAULT_SOURCE_PREREQUISITES if source_dir is None else ())


def python_headers() -> Prerequisite:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Prerequisite(str(Path(sysconfig.get_paths()["include"]) / "Python.h"), f"python{version}-dev", "file")


def missing_prerequisites(required: tuple[Prerequisite, ...] = PREREQUISITES) -> list[Prerequisite]:
    """What this machine lacks to build; headers are checked with the C preprocessor."""
    missing = [p for p in required if p.kind == "program" and shutil.which(p.name) is None]
    missing += [p for p in required if p.kind == "file" and not Path(p.name).exists()]
    if not Path(python_headers().name).exists():
        missing.append(python_headers())
    if shutil.which("cc") is None:
        return missing  # headers cannot be checked without a compiler; named on the next run
    for header in (p for p in required if p.kind == "header"):
        probe = subprocess.run(
            ["cc", "-E", "-x", "c", "-o", os.devnull, "-"],
            input=f"#include <{header.name}>\n",
            capture_output=True,
            text=True,
        )
        if probe.returncode != 0:
            missing.append(header)
    return missing


def require_prerequisites(required: tuple[Prerequisite, ...] = PREREQUISITES) -> None:
    missing = missing_prerequisites(required)
    if missing:
        names = ", ".join(p.name for p in missing)
        packages = " ".join(dict.fromkeys(p.package for p in missing))
        raise SipConfigError(
            f"engine build needs {names}: install the Debian packages {packages} (apt-get install {packages})"
        )


def cache_key(source: Source, config: BuildConfig) -> str:
    """Everything that decides the built module's bytes, hashed."""
    inputs = {
        "recipe": RECIPE_VERSION,
        "source": source.digest,
        "config_site": config.config_site_h(),
        "configure": CONFIGURE_ARGS,
        "cflags": COMPILE_FLAGS,
        "swig": SWIG_FLAGS,
        "patches": {name: hashlib.sha256(text.encode()).hexdigest() for name, text in patches.our_patches().items()},
        "patch_sets": {f"{fork} {version}": names for (fork, version), names in patches.PATCH_SETS.items()},
        "python": sysconfig.get_config_var("EXT_SUFFIX"),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:20]


def locate_source(source_dir: Path | None) -> Source:
    """The tree the user gave (refused early when no patch set fits it), or Debian's ring package."""
    if source_dir is None:
        return sources.debian_source(cache_root())
    source = sources.tree_source(source_dir)
    assert source.tree is not None, "tree_source names its tree"
    patches.select(patches.identify(source.tree))
    return source


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "callproof" / "engine"


def cached_engine(key: str) -> Path | None:
    entry = cache_root() / key
    return entry if (entry / engine_install.MANIFEST_NAME).is_file() else None


@dataclasses.dataclass(frozen=True)
class BuildResult:
    engine_dir: Path  # the cache entry
    installed_dir: Path
    from_cache: bool
    probe: dict
    self_check: selfcheck.Figures
    step_seconds: dict[str, float]


class _Steps:
    """Prints each step's name, then its time and a detail once it ends."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        self.out.write(f"  {name:<14}")
        self.out.flush()
        detail: list[str] = []
        start = time.monotonic()
        try:
            yield detail
        finally:
            elapsed = time.monotonic() - start
            self.seconds[name] = round(elapsed, 1)
            self.out.write(f"{elapsed:6.1f} s  {' '.join(detail)}\n")
            self.out.flush()


def build(source_dir: Path | None, config: BuildConfig, out: TextIO = sys.stdout) -> BuildResult:
    """Build (or take from the cache), check and install the engine; SipConfigError/EngineError with one sentence."""
    steps = _Steps(out)
    with steps.step("prerequisites") as detail:
        require_prerequisites(prerequisites_for(source_dir))
        detail.append("compiler, make, swig, patch, headers found")
    with steps.step("source") as detail:
        source = locate_source(source_dir)
        key = cache_key(source, config)
        detail.append(source.description)
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"{key}.lock"):
        entry = cached_engine(key)
        from_cache = entry is not None
        if entry is None:
            entry = _compile(source, config, key, steps)
        else:
            with steps.step("cache") as detail:
                detail.append(f"hit: {entry}")
        with steps.step("self-check") as detail:
            figures = selfcheck.run_in_subprocess(entry)
            unfit = selfcheck.problems(figures)
            if unfit:  # a burst of other work can stall one check; the defects it exists for fail every time
                figures = selfcheck.run_in_subprocess(entry)
                unfit = selfcheck.problems(figures)
            detail.append(selfcheck.describe(figures))
            if unfit:
                raise EngineError(
                    f"the engine built from {source.description} is not fit for load ({'; '.join(unfit)}, "
                    "twice), so it was not installed (docs/engine.md, \"Self-check\")"
                )
        with steps.step("install") as detail:
            installed = engine_install.install(entry)
            detail.append(str(installed))
        with steps.step("probe") as detail:
            # The probe must see the built engine even if this shell asks for the wheel.
            env = {k: v for k, v in os.environ.items() if k != engine_install.ENGINE_ENV}
            try:
                probe = probe_in_subprocess(env=env)
            except EngineError:
                engine_install.uninstall()
                shutil.rmtree(entry, ignore_errors=True)
                raise
            if probe["engine"] != "built":
                engine_install.uninstall()
                raise EngineError(f"the built engine is installed but `import pjsua2` loads {probe['module_path']}")
            engine_install.record_self_check(installed, figures.to_dict())
            detail.append(f"pjproject {probe['pjproject_version']}, {probe['io_queue']} I/O queue")
    return BuildResult(entry, installed, from_cache, probe, figures, dict(steps.seconds))


def _compile(source: Source, config: BuildConfig, key: str, steps: _Steps) -> Path:
    """Build into a scratch tree under the cache; the cache entry appears only when complete."""
    root = cache_root()
    work = root / f"work-{key}"
    staging = root / f"{key}.new"
    log_path = root / f"build-{key}.log"
    for leftover in (work, staging):
        shutil.rmtree(leftover, ignore_errors=True)
    work.mkdir(parents=True)
    staging.mkdir()
    try:
        with open(log_path, "w") as log:
            manifest = _compile_into(staging, work, source, config, key, steps, _Runner(log, log_path))
        (staging / engine_install.MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        entry = root / key
        shutil.rmtree(entry, ignore_errors=True)
        staging.rename(entry)
        log_path.unlink()
        return entry
    finally:
        # A configured tree records its absolute path and is about 300 MB: never kept.
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)


def _compile_into(
    staging: Path, work: Path, source: Source, config: BuildConfig, key: str, steps: _Steps, runner: _Runner
) -> dict:
    with steps.step("fetch") as detail:
        tree, debian_patches = _fetch(source, work, runner)
        kind = patches.identify(tree)
        detail.append(str(kind))
    with steps.step("prepare") as detail:
        applied = _apply_debian_patches(tree, debian_patches, runner)
        ours = patches.select(kind)
        patches.apply(tree, ours, lambda name, text: runner.patch(name, text, tree))
        applied += list(ours)
        (tree / "pjlib" / "include" / "pj" / "config_site.h").write_text(config.config_site_h())
        detail.append(f"config_site.h for {config.max_calls} calls; patches: {', '.join(applied) or 'none'}")
    build_env = {**os.environ, "CFLAGS": COMPILE_FLAGS, "CXXFLAGS": COMPILE_FLAGS}
    with steps.step("configure") as detail:
        runner.run(["./configure", *CONFIGURE_ARGS], tree, "configure", env=build_env)
        detail.append(" ".join(CONFIGURE_ARGS[:3]) + " ...")
    with steps.step("libraries") as detail:
        jobs = str(os.cpu_count() or 1)
        runner.run(["make", "-j", jobs, "lib"], tree, "make lib", env=build_env)
        detail.append(f"make -j {jobs} lib")
    swig_dir = tree / "pjsip-apps" / "src" / "swig" / "python"
    with steps.step("swig") as detail:
        includes = [f"-I{tree / lib / 'include'}" for lib in ("pjlib", "pjlib-util", "pjmedia", "pjsip", "pjnath")]
        runner.run(["swig", *includes, *SWIG_FLAGS, "-o", "pjsua2_wrap.cpp", "../pjsua2.i"], swig_dir, "swig")
        detail.append(" ".join(SWIG_FLAGS))
    with steps.step("module") as detail:
        module = _compile_module(swig_dir, staging, runner)
        shutil.copy2(swig_dir / "pjsua2.py", staging / "pjsua2.py")
        detail.append(module.name)
    return {
        "key": key,
        "source": source.description,
        "source_digest": source.digest,
        "pjproject_version": kind.version,
        "pjproject_fork": kind.fork,
        "limits": config.limits(),
        "configure_args": list(CONFIGURE_ARGS),
        "compile_flags": COMPILE_FLAGS,
        "swig_flags": list(SWIG_FLAGS),
        "patches": applied,
        "python_ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
        "built_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "step_seconds": dict(steps.seconds),
    }


class _Runner:
    """Runs build commands with their output in the build log; a failure is one sentence naming the log."""

    def __init__(self, log: TextIO, log_path: Path) -> None:
        self.log = log
        self.log_path = log_path

    def run(self, command: list[str], cwd: Path, what: str, env: dict[str, str] | None = None) -> str:
        self.log.write(f"\n$ (cd {cwd} && {' '.join(command)})\n")
        self.log.flush()
        try:
            result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
        except OSError as exc:
            raise EngineError(f"{what} could not start: {exc}") from exc
        self.log.write(result.stdout + result.stderr)
        self.log.flush()
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            last = lines[-1] if lines else f"exit {result.returncode}"
            raise EngineError(f"{what} failed ({last}); the full output is in {self.log_path}")
        return result.stdout

    def patch(self, name: str, text: str, tree: Path) -> subprocess.CompletedProcess:
        """`patch -N -p1` with `text` on stdin, logged; the caller judges the result."""
        self.log.write(f"\n$ (cd {tree} && patch -N -p1 < {name})\n")
        result = subprocess.run(["patch", "-N", "-p1"], input=text, cwd=tree, capture_output=True, text=True)
        self.log.write(result.stdout + result.stderr)
        self.log.flush()
        return result


def _fetch(source: Source, work: Path, runner: _Runner) -> tuple[Path, list[Path]]:
    """A private copy of the pjproject tree to build in, and Debian's patches for it (if any)."""
    tree = work / "pjproject"
    if source.tree is not None:
        shutil.copytree(source.tree, tree, symlinks=True, ignore=shutil.ignore_patterns(*sources.TREE_IGNORE))
        return tree, []
    downloads = sources.download_debian_source(source, cache_root())
    orig = next(name for name, _ in source.debian_files if ".orig.tar" in name)
    debian = next(name for name, _ in source.debian_files if ".debian.tar" in name)
    unpacked = work / "unpacked"
    unpacked.mkdir()
    runner.run(
        ["tar", "xf", str(downloads / orig), "--wildcards", f"*/{sources.DEBIAN_PJPROJECT_DIR}/pjproject-*"],
        unpacked, "tar",
    )
    runner.run(["tar", "xf", str(downloads / debian), "debian/patches"], unpacked, "tar")
    pattern = f"*/daemon/contrib/{sources.DEBIAN_PJPROJECT_DIR}/pjproject-*/pjproject-*"
    trees = [p for p in unpacked.glob(pattern) if p.is_dir()]
    if len(trees) != 1:
        raise EngineError(f"expected one pjproject tree in {orig}, found {len(trees)}")
    trees[0].rename(tree)
    patches_dir = unpacked / "debian" / "patches"
    series = (patches_dir / "series").read_text().splitlines()
    named = [patches_dir / line.split()[0] for line in series if line.strip() and not line.startswith("#")]
    return tree, [p for p in named if sources.pjproject_strip_level(p.read_text()) is not None]


def _apply_debian_patches(tree: Path, debian_patches: list[Path], runner: _Runner) -> list[str]:
    """Debian's own patches for the pjproject tree (its CVE fixes), every one of them; returns their names."""
    applied = []
    for patch in debian_patches:
        level = sources.pjproject_strip_level(patch.read_text())
        runner.run(["patch", "-N", f"-p{level}", "-i", str(patch)], tree, f"Debian's {patch.name}")
        applied.append(f"{patch.name} (Debian)")
    return applied


def _compile_module(swig_dir: Path, staging: Path, runner: _Runner) -> Path:
    """Compile the SWIG wrapper into _pjsua2 for the running Python, with pjproject's own flags."""

    def helper(target: str) -> list[str]:
        return runner.run(["make", "--no-print-directory", "-f", "helper.mak", target], swig_dir, "helper.mak").split()

    module = staging / f"_pjsua2{sysconfig.get_config_var('EXT_SUFFIX')}"
    command = [
        "c++",
        *helper("cflags"),
        f"-I{sysconfig.get_paths()['include']}",
        "-shared",
        "-o",
        str(module),
        "pjsua2_wrap.cpp",
        *helper("ldflags"),
        *(f"-l{lib}" for lib in helper("libs")),
    ]
    runner.run(command, swig_dir, "compiling _pjsua2")
    return module


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One build per cache key at a time (CI and a developer may share a machine)."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
