"""`callproof report`."""

from __future__ import annotations

import argparse

from harness.errors import ExitCode


def configure(parser: argparse.ArgumentParser) -> None:
    pass


def main(args: argparse.Namespace) -> int:
    print("callproof report: not built yet")
    return ExitCode.HARNESS_ERROR
