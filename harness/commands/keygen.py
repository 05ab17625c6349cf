"""`callproof keygen --out PATH`: make an Ed25519 signing key in OpenSSH's formats.

PATH gets the private key (mode 0600), PATH.pub the public key line that
buyers put in their allowed_signers file. Existing files are never overwritten.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from callproof.harness.errors import ExitCode


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="PATH",
        help="where to write the private key; the public key goes to PATH.pub",
    )


def main(args: argparse.Namespace) -> int:
    from callproof.reports import keys, sign

    public_key = keys.generate(args.out)
    print(f"wrote {args.out} (private key, mode 0600) and {keys.public_path(args.out)} (public key)")
    print(f"fingerprint: {sign.fingerprint(public_key)}")
    return ExitCode.PASS
