"""`callproof engine`: build, inspect or remove the uncapped pjsua2 engine.

    callproof engine build [--source DIR] [--max-calls N]
    callproof engine info [--json]
    callproof engine uninstall
"""

from __future__ import annotations

import argparse
from pathlib import Path

from callproof.harness.errors import ExitCode


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    build = actions.add_parser(
        "build",
        help="compile pjsua2 from pjproject source with per-process limits raised, and install it over the wheel",
        description="Compile pjproject (epoll, no sound device, no video) and its SWIG module, cache the "
        "result per machine, check it with short calls on 127.0.0.1, and install it so `import pjsua2` loads "
        "it instead of the wheel. An engine that fails the check is not installed (exit 3).",
    )
    build.add_argument(
        "--source",
        type=Path,
        metavar="DIR",
        help="a pjproject tree: an upstream release 2.12.1, 2.15, 2.15.1, 2.16 or 2.17 (docs/engine.md); default: "
        "Jami's 2.12.1 from Debian 12's `ring` source package, fetched with callproof's own apt lists",
    )
    build.add_argument(
        "--max-calls", type=int, default=1024, metavar="N", help="calls one process can hold (default 1024)"
    )
    info = actions.add_parser("info", help="which pjsua2 loads, its version, calls per process, I/O queue, media")
    info.add_argument("--json", action="store_true", help="print the probe as one JSON object")
    actions.add_parser("uninstall", help="remove the built engine; the pjsua2 wheel loads again")


def main(args: argparse.Namespace) -> int:
    return {"build": _build, "info": _info, "uninstall": _uninstall}[args.action](args)


def _build(args: argparse.Namespace) -> int:
    from callproof.sip.engine.build import BuildConfig, build

    config = BuildConfig(max_calls=args.max_calls)
    source = args.source or "Debian's ring source package (bookworm)"
    print(f"callproof engine build: pjsua2 for {config.max_calls} calls per process, from {source}")
    result = build(args.source, config)
    total_s = sum(result.step_seconds.values())
    how = "taken from the cache" if result.from_cache else "built"
    print(
        f"capacity: {result.probe['max_calls_per_process']} calls per process "
        f"(pjproject {result.probe['pjproject_version']}, {result.probe['io_queue']} I/O queue); "
        f"{how}, checked and installed in {total_s:.1f} s"
    )
    return ExitCode.PASS


def _info(args: argparse.Namespace) -> int:
    import json

    from callproof.sip.engine.info import describe, probe_in_subprocess

    info = probe_in_subprocess()
    print(json.dumps(info, indent=2) if args.json else "\n".join(describe(info)))
    return ExitCode.PASS


def _uninstall(args: argparse.Namespace) -> int:
    from callproof.sip.engine.info import probe_in_subprocess, summary_line
    from callproof.sip.engine.install import install_dir, uninstall
    from callproof.sip.errors import EngineError

    removed = uninstall()
    print(f"removed {install_dir()}" if removed else "no built engine is installed")
    try:
        print(summary_line(probe_in_subprocess()))
    except EngineError as exc:  # no wheel for this Python (3.13): nothing loads now, which is what was asked
        print(f"now {exc}")
    return ExitCode.PASS
