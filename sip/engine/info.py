"""Which pjsua2 this environment loads, and what one process of it can hold.

A process that creates a pjsua2 Endpoint owns it for life (one per process,
never forked afterwards), so the CLI and the load engine never probe in their
own process: `probe_in_subprocess()` runs `python -m callproof.sip.engine.info --json`
and returns its dict (also what a run records as engine.json):

    engine                 "built" (callproof engine build), "wheel" (pjsua2-python) or "other"
    module_path            the pjsua2 module file that `import pjsua2` loaded
    wheel_version          pjsua2-python's version when engine == "wheel", else null
    pjproject_version      Endpoint.libVersion().full
    max_calls_per_process  pjsua_call_get_max_count() after libInit (callproof.sip.engine.capacity)
    io_queue               pj_ioqueue_name(): "select", "epoll", "epoll-exclusive"...
    io_queue_kind          "select" or "epoll" (or io_queue when neither)
    codecs                 codec ids the engine offers, in its priority order
    media                  callproof.sip.settings.MediaSettings() defaults, as applied to load
    build                  the built engine's manifest (source, limits, patches, times, self-check), else null

`without_local_paths(facts)` is what a run writes into its bundle (engine.json and
the `engine` event): the same facts with no absolute path of this machine.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from callproof.sip.engine import install as engine_install
from callproof.sip.errors import EngineError

# Larger than any engine's compile-time cap: pjsua clamps uaConfig.maxCalls to
# PJSUA_MAX_CALLS before anything is sized by it (pjsua_call_subsys_init).
PROBE_MAX_CALLS = 1 << 16


def probe() -> dict[str, Any]:
    """Probe in this process: creates and destroys a pjsua2 Endpoint (child processes only)."""
    import pjsua2

    from callproof.sip.engine import capacity
    from callproof.sip.settings import MediaSettings

    endpoint = pjsua2.Endpoint()
    endpoint.libCreate()
    try:
        config = pjsua2.EpConfig()
        config.uaConfig.maxCalls = PROBE_MAX_CALLS
        config.uaConfig.threadCnt = 0
        config.uaConfig.mainThreadOnly = True
        config.logConfig.level = 0
        config.logConfig.consoleLevel = 0
        endpoint.libInit(config)
        max_calls = capacity.max_calls_in_this_process()
        facts = loaded_engine()
        version = endpoint.libVersion().full
        codecs = [codec.codecId for codec in endpoint.codecEnum2()]
    finally:
        endpoint.libDestroy()
    return {**facts, "pjproject_version": version, "max_calls_per_process": max_calls, "codecs": codecs,
            "media": MediaSettings().to_dict()}


def loaded_engine() -> dict[str, Any]:
    """Which pjsua2 this process loaded and its I/O queue (once an Endpoint is initialised)."""
    import pjsua2

    from callproof.sip.engine import capacity

    module = Path(pjsua2.__file__).resolve()
    kind, wheel_version, manifest = _engine_kind(module)
    io_queue = _io_queue_name(capacity.native_library())
    return {
        "engine": kind,
        "module_path": str(module),
        "wheel_version": wheel_version,
        "io_queue": io_queue,
        "io_queue_kind": next((k for k in ("epoll", "select") if io_queue.startswith(k)), io_queue),
        "build": manifest,
    }


def without_local_paths(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The facts as a bundle may carry them: module_path as its last two parts
    ("callproof-engine/pjsua2.py"), a built engine's source tree by its folder name.
    A bundle goes to another party; the user's home and folders stay here."""
    out = dict(facts)
    if isinstance(out.get("module_path"), str):
        out["module_path"] = "/".join(Path(out["module_path"]).parts[-2:])
    build = out.get("build")
    if isinstance(build, dict) and isinstance(build.get("source"), str) and build["source"].startswith(_TREE):
        out["build"] = {**build, "source": _TREE + Path(build["source"][len(_TREE):]).name}
    return out


_TREE = "pjproject tree "  # source.tree_source's description, followed by the tree's absolute path


def _io_queue_name(library: ctypes.CDLL) -> str:
    # pjlib is linked into the _pjsua2 extension; pjsua2 does not wrap this call.
    name = library.pj_ioqueue_name
    name.restype = ctypes.c_char_p
    return name().decode()


def _engine_kind(module_file: Path) -> tuple[str, str | None, dict | None]:
    if module_file.parent == engine_install.install_dir().resolve():
        manifest_path = module_file.parent / engine_install.MANIFEST_NAME
        return "built", None, json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    from importlib import metadata

    try:
        wheel = metadata.distribution("pjsua2-python")
    except metadata.PackageNotFoundError:
        return "other", None, None
    # str(): typeshed's SimplePath has no __fspath__; a wheel's distribution gives a pathlib.Path
    if Path(str(wheel.locate_file("pjsua2/__init__.py"))).resolve() == module_file:
        return "wheel", wheel.version, None
    return "other", None, None


def probe_in_subprocess(*, env: Mapping[str, str] | None = None, timeout_s: float = 60.0) -> dict[str, Any]:
    """`probe()` in a short-lived child of this interpreter (same environment, same engine)."""
    command = [sys.executable, "-P", "-m", "callproof.sip.engine.info", "--json"]
    try:
        child = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise EngineError(f"the pjsua2 probe ({' '.join(command)}) did not finish within {timeout_s:.0f} s") from exc
    if child.returncode != 0:
        lines = child.stderr.strip().splitlines()
        reason = lines[-1] if lines else f"exit code {child.returncode}"
        if reason == "ModuleNotFoundError: No module named 'pjsua2'":
            raise EngineError(
                f"no pjsua2 is installed in this environment (pjsua2-python has no wheel for Python "
                f"{sys.version_info.major}.{sys.version_info.minor}): `callproof engine build` builds one"
            )
        raise EngineError(f"pjsua2 does not load or start in this environment: {reason}")
    return json.loads(child.stdout)


def summary_line(info: Mapping[str, Any]) -> str:
    """One line for the start of a run."""
    engine = "built engine" if info["engine"] == "built" else f"{info['engine']} {info['wheel_version'] or ''}".strip()
    return (
        f"pjsua2 {engine} (pjproject {info['pjproject_version']}): "
        f"{info['max_calls_per_process']} calls per process, {info['io_queue']} I/O queue, "
        f"bridge {info['media']['clock_rate']} Hz"
    )


def describe(info: Mapping[str, Any]) -> list[str]:
    """The lines `callproof engine info` prints."""
    kinds = {"built": "built engine", "wheel": f"wheel pjsua2-python {info['wheel_version']}",
             "other": "not callproof's"}
    lines = [
        f"pjsua2         {kinds[info['engine']]}: {info['module_path']}",
        f"pjproject      {info['pjproject_version']}",
        f"calls/process  {info['max_calls_per_process']}",
        f"I/O queue      {info['io_queue_kind']} ({info['io_queue']})",
        f"codecs         {' '.join(info['codecs'])}",
        "media          " + ", ".join(f"{k} {v}" for k, v in info["media"].items()),
    ]
    build = info["build"]
    if build:
        lines.append(f"built from     {build['source']}, patches: {', '.join(build['patches']) or 'none'}")
        lines.append(f"built          {build['built_utc']}, cache key {build['key']}")
        check = build.get("self_check")
        if check:
            lines.append(
                f"self-check     setup delay p50 {check['setup_delay_p50_ms']} ms, media start p50 "
                f"{check['media_start_p50_ms']} ms, pump latency max {check['pump_latency_max_ms']} ms "
                f"({check['calls']} calls on 127.0.0.1 when installed)"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m callproof.sip.engine.info", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the probe as JSON (what probe_in_subprocess reads)")
    args = parser.parse_args(argv)
    # pjlib logs to stdout before any log level applies: keep stdout for the result.
    result_fd = os.dup(1)
    os.dup2(2, 1)
    info = probe()
    text = json.dumps(info) if args.json else "\n".join(describe(info))
    with os.fdopen(result_fd, "w") as result:
        result.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
