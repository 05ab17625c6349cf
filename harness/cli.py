"""The `callproof` command.

Each subcommand lives in `callproof.harness.commands.<name>` and exposes
`configure(parser)` and `main(args) -> int`. Command modules keep their
top-level imports light (argparse only): `callproof analyze` must not import
Locust, which monkey-patches the process with gevent on import.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from callproof.harness import __version__
from callproof.harness.errors import ExitCode, exit_code_for

COMMANDS = {
    "run": "run a scenario (Locust drives SIP calls) and write a signed bundle",
    "scenarios": "list the scenarios shipped with callproof",
    "analyze": "measure RTP streams in a pcap/pcapng capture",
    "report": "rebuild a bundle's summary and reports from its records, and sign it",
    "verify": "check a bundle's signature and every file's hash",
    "keygen": "make an Ed25519 signing key",
    "engine": "build or inspect the pjsua2 engine",
}


class _Parser(argparse.ArgumentParser):
    """argparse that exits with the tool's bad-input code (2), in one sentence."""

    def error(self, message: str) -> NoReturn:  # pragma: no cover - exercised via CLI tests
        self.exit(ExitCode.BAD_INPUT, f"callproof: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="callproof", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"callproof {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"callproof.harness.commands.{name}")
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.configure(command_parser)
        command_parser.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._module.main(args))
    except KeyboardInterrupt:
        print("callproof: interrupted", file=sys.stderr)
        return ExitCode.HARNESS_ERROR
    except Exception as exc:  # noqa: BLE001 - deliberate errors become one sentence
        code = exit_code_for(exc)
        if code is None:
            raise
        from callproof.reports.terminal import escape  # a message may quote a hostile file's words

        print(f"callproof: {escape(str(exc), backslash=False)}", file=sys.stderr)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
