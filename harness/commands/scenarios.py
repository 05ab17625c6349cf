"""`callproof scenarios`: the scenarios shipped with callproof, by name."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "Run one with `callproof run NAME`; copy its file from the folder shown to start your own."


def main(args: argparse.Namespace) -> int:
    from callproof.harness.scenario.loader import bundled_dir, list_bundled

    bundled = list_bundled()
    width = max((len(name) for name, _ in bundled), default=0)
    for name, description in bundled:
        print(f"{name:<{width}}  {description}")
    print(f"\n{len(bundled)} scenarios in {bundled_dir()}; run one with: callproof run NAME")
    return 0
